#include "run/run_executor.hpp"

#include "plugin/registry.hpp"
#include "prune/evaluator.hpp"
#include "prune/pruner.hpp"
#include "prune/stats.hpp"
#include "run/dense_cache.hpp"
#include "run/progress.hpp"
#include "store/result_store.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <stdexcept>

namespace prunelab {

namespace {

// How far a step's achieved sparsity may be from its target (rounding per layer, N:M layers
// that must stay dense).
constexpr double kSparsityTolerance = 0.01;

void check_plan(const std::vector<PruneStep>& plan, const RunSpec& run) {
  if (plan.empty()) throw std::runtime_error(fmt::format("schedule '{}' planned no steps", run.schedule.label()));
  double last = 0.0;
  for (const auto& s : plan) {
    if (!(s.target_sparsity >= last - 1e-12 && s.target_sparsity < 1.0))
      throw std::runtime_error(fmt::format("schedule '{}' planned targets that decrease or reach 1: {}",
                                           run.schedule.label(), s.target_sparsity));
    if (s.finetune_steps < 0) throw std::runtime_error("schedule planned negative fine-tuning steps");
    last = s.target_sparsity;
  }
  if (std::abs(last - run.sparsity) > 1e-9)
    throw std::runtime_error(fmt::format("schedule '{}' ends at sparsity {}, the run's target is {}",
                                         run.schedule.label(), last, run.sparsity));
}

// Pruned weights must stay exactly zero; anything else is a framework bug, not a result.
void check_masks_hold(MaskSet& masks) {
  for (size_t i = 0; i < masks.size(); ++i) {
    const auto& w = masks.layers()[i].layer->weight;
    // Only pruned positions are looked at, so inf/NaN in kept weights cannot hide or fake a leak.
    const bool leaked = w.detach().masked_select(masks.masks()[i].eq(0)).ne(0).any().item<bool>();
    if (leaked)
      throw std::logic_error(fmt::format("pruned weights of '{}' are no longer zero", masks.layers()[i].name));
  }
}

}  // namespace

void execute_run(const RunSpec& run, const DataSplits& data, int64_t run_id, RunContext& ctx) {
  const DenseModel& dense = ctx.dense.get(run, data, ctx.device, ctx.progress);
  auto probe = data.val.images.narrow(0, 0, 1).to(ctx.device);

  torch::manual_seed(static_cast<uint64_t>(run.seed));
  auto net = make_network(run.model, data.shape);
  net->to(ctx.device);
  copy_state(*dense.net, *net);
  const ModelStats dense_stats = measure(*net, probe);
  ctx.store.set_dense(run_id, {dense.hash, dense.top1, dense.top1_val, dense_stats.params, dense_stats.macs});

  auto criterion = ctx.registry.make_criterion(run.criterion.type, run.criterion.params);
  auto policy = ctx.registry.make_ratio_policy(run.ratio_policy.type, run.ratio_policy.params);
  auto schedule = ctx.registry.make_schedule(run.schedule.type, run.schedule.params);

  const int64_t steps_per_epoch = batches_per_epoch(data.train, run.finetune.optim.batch_size);
  const auto budget = static_cast<int64_t>(std::llround(run.finetune.epochs * double(steps_per_epoch)));
  const auto plan = schedule->plan({run.sparsity, budget, steps_per_epoch});
  check_plan(plan, run);

  MaskSet masks(*net);
  StepEvaluator evaluator(*net, masks, data.val, run.granularity, run.eval.batch_size, ctx.device);
  DataCalibration calibration(*net, masks, data.train, run.finetune.optim.batch_size,
                              static_cast<uint64_t>(run.seed), ctx.device);

  for (size_t i = 0; i < plan.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto& step = plan[i];
    ctx.progress.phase(fmt::format("step {}/{} prune to {:.3f}", i + 1, plan.size(), step.target_sparsity));
    auto pruned = prune_step(masks, *criterion, *policy, run.granularity, step.target_sparsity, &calibration,
                             &evaluator, static_cast<uint64_t>(run.seed));
    double train_loss = std::nan("");
    if (step.finetune_steps > 0) {
      ctx.progress.phase(fmt::format("step {}/{} fine-tune", i + 1, plan.size()));
      const uint64_t seed = static_cast<uint64_t>(run.seed) * 7919ULL + 1000ULL * (i + 1);
      train_loss = train_steps(*net, data.train, run.finetune.optim, step.finetune_steps, seed, &masks,
                               [&](const TrainProgress& p) { ctx.progress.train(p.step, p.total, p.loss); },
                               ctx.device)
                       .mean_loss;
    }
    check_masks_hold(masks);
    ctx.progress.phase(fmt::format("step {}/{} evaluate", i + 1, plan.size()));
    StepRecord rec;
    rec.step = static_cast<int>(i + 1);
    rec.target_sparsity = step.target_sparsity;
    rec.finetune_steps = step.finetune_steps;
    rec.train_loss = train_loss;
    rec.top1_val = evaluate(*net, data.val, run.eval.batch_size, ctx.device).top1;
    const auto test = evaluate(*net, data.test, run.eval.batch_size, ctx.device);
    rec.top1 = test.top1;
    rec.loss = test.loss;
    if (!std::isfinite(rec.loss)) throw std::runtime_error("test loss is not finite after pruning");
    rec.stats = measure(*net, probe);
    rec.achieved_sparsity = rec.stats.sparsity();
    // A run labelled with a sparsity it never reached would be a wrong row in every table.
    if (std::abs(rec.achieved_sparsity - step.target_sparsity) > kSparsityTolerance)
      throw std::runtime_error(fmt::format(
          "step {} reached sparsity {:.4f}, the target is {:.4f} (ratio policy '{}' cannot reach it: "
          "are layers it keeps dense too large?)",
          i + 1, rec.achieved_sparsity, step.target_sparsity, run.ratio_policy.label()));
    rec.ratios = pruned.ratios;
    rec.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ctx.store.add_step(run_id, rec);
    ctx.progress.metric(fmt::format("sparsity {:.3f} top1 {:.2f}%", rec.achieved_sparsity, 100 * rec.top1));
  }
}

}  // namespace prunelab
