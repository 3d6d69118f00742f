#include "run/run_executor.hpp"

#include "plugin/registry.hpp"
#include "prune/evaluator.hpp"
#include "prune/latency.hpp"
#include "prune/physical.hpp"
#include "prune/pruner.hpp"
#include "prune/stats.hpp"
#include "run/dense_cache.hpp"
#include "run/first_step_cache.hpp"
#include "run/model_file.hpp"
#include "run/plan.hpp"
#include "run/progress.hpp"
#include "run/search_store.hpp"
#include "store/result_store.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <stdexcept>

namespace prunelab {

namespace {

// How far a step's achieved sparsity may be from its target (rounding per layer, N:M layers
// that must stay dense).
constexpr double kSparsityTolerance = 0.01;

// Pruned weights must stay exactly zero; anything else is a framework bug, not a result.
void check_masks_hold(MaskSet& masks) {
  for (size_t i = 0; i < masks.size(); ++i) {
    const auto& w = masks.layers()[i].weight;
    // Only pruned positions are looked at, so inf/NaN in kept weights cannot hide or fake a leak.
    const bool leaked = w.detach().masked_select(masks.masks()[i].eq(0)).ne(0).any().item<bool>();
    if (leaked)
      throw std::logic_error(fmt::format("pruned weights of '{}' are no longer zero", masks.layers()[i].name));
  }
}

// Physical removal must compute what the masked model computes (kPhysicalTolerance, relative
// to the outputs' size when they exceed 1).

// Per layer, the ratio the policy chose for the unit the layer produces for (NaN if none).
std::vector<double> layer_ratios(const UnitLayout& layout, size_t layers, const std::vector<double>& unit_ratios) {
  std::vector<double> out(layers, std::nan(""));
  for (size_t u = 0; u < layout.units().size() && u < unit_ratios.size(); ++u)
    for (size_t l : layout.units()[u].layers) out[l] = unit_ratios[u];
  return out;
}

// Builds the physically pruned model, checks it against the masked one, and fills the step's
// physical and latency figures.
std::unique_ptr<Model> measure_physical(Model& net, Model& dense, const RunSpec& run, const DataSplits& data,
                                        const at::Tensor& probe, const at::Tensor& check_batch, RunContext& ctx,
                                        StepRecord& rec, bool time_it) {
  auto physical = physical_copy(net);
  rec.physical = measure(*physical, probe);
  const auto check = compare_outputs(net, *physical, check_batch);
  rec.physical_max_diff = check.max_diff;
  const double scale = check.max_abs_a;
  if (!(rec.physical_max_diff <= kPhysicalTolerance * std::max(1.0, scale)))
    throw std::runtime_error(fmt::format(
        "the physically pruned model differs from the masked one by {:.3g} (outputs up to {:.3g})",
        rec.physical_max_diff, scale));
  if (time_it && run.eval.latency_repeats > 0) {
    ctx.progress.phase("latency");
    const int reps = static_cast<int>(run.eval.latency_repeats);
    const auto b1 = compare_latency(dense, *physical, data.shape, 1, reps * 5, 10, ctx.device);
    const auto b64 = compare_latency(dense, *physical, data.shape, 64, reps, 3, ctx.device);
    rec.dense_latency_b1_ms = b1.a_ms;
    rec.latency_b1_ms = b1.b_ms;
    rec.dense_latency_b64_ms = b64.a_ms;
    rec.latency_b64_ms = b64.b_ms;
    rec.sparse_layers_b1 = static_cast<int64_t>(b1.b_sparse_layers);
    rec.sparse_layers_b64 = static_cast<int64_t>(b64.b_sparse_layers);
    if (b1.b_sparse_layers + b64.b_sparse_layers > 0)
      rec.kernel_max_diff = std::max(b1.max_kernel_diff, b64.max_kernel_diff);
  }
  return physical;
}

}  // namespace

void execute_run(const RunSpec& run, const DataSplits& data, int64_t run_id, RunContext& ctx) {
  const DenseModel& dense = ctx.dense.get(run, data, ctx.device, ctx.progress);
  auto probe = data.val.inputs(0, 1).to(ctx.device);

  auto net = initial_model(run, data.shape, ctx.device, run.seed);
  copy_state(*dense.net, *net);
  const ModelStats dense_stats = measure(*net, probe);
  ctx.store.set_dense(run_id, {dense.hash, dense.top1, dense.top1_val, dense_stats.params, dense_stats.macs, dense.top5});

  auto criterion = ctx.registry.make_criterion(run.criterion.type, run.criterion.params);
  auto policy = ctx.registry.make_ratio_policy(run.ratio_policy.type, run.ratio_policy.params);
  const RunPlan run_plan = plan_run(run, ctx.registry, data.train.size());
  const auto& plan = run_plan.steps;
  ctx.store.set_plan(run_id, plan_json(plan));

  MaskSet masks(*net);
  const UnitLayout layout(masks, run.granularity);
  StepEvaluator evaluator(*net, masks, layout, data.val, run.eval.batch_size, ctx.device);
  // The batch on which masked and physically pruned outputs must agree.
  const auto check_batch = to_model_layout(data.test.inputs(0, std::min<int64_t>(64, data.test.size())).to(ctx.device));
  std::unique_ptr<Model> physical;
  DataCalibration calibration(*net, masks, data.train, run.finetune.optim.batch_size,
                              static_cast<uint64_t>(run.seed), ctx.device);
  // Cached first steps and search curves are keyed by the framework's and the plugins' code too.
  const std::string plugin_code = framework_code_fingerprint() + "|" +
                                  ctx.registry.code_fingerprint(ComponentKind::Criterion, run.criterion.type) + "|" +
                                  ctx.registry.code_fingerprint(ComponentKind::RatioPolicy, run.ratio_policy.type);
  RunSearchStore search_store(ctx.store, run, run_id, plugin_code);
  // For searching policies: NetAdapt's latency table (batch 64, like measured_speedup_b64) and
  // short fine-tuning of a proposal (the same batches for every proposal of a run).
  LatencyTable latency_table(&search_store, 64, ctx.device);
  evaluator.set_latency_table(&latency_table);
  evaluator.set_finetuner([&](int64_t steps) {
    train_steps(*net, data.train, run.finetune.optim, steps, static_cast<uint64_t>(run.seed) * 7919ULL + 999ULL,
                &masks, {}, ctx.device);
  });
  // A fine-tuning session spans a step and every following step that continues it (AGP).
  std::unique_ptr<TrainSession> session;

  for (size_t i = 0; i < plan.size(); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto& step = plan[i];
    const bool continues = i > 0 && step.continue_training && session;
    const bool next_continues = i + 1 < plan.size() && plan[i + 1].continue_training;
    ctx.progress.phase(fmt::format("step {}/{} prune to {:.3f}", i + 1, plan.size(), step.target_sparsity));
    search_store.begin_step(i);
    PruneStepResult pruned;
    std::optional<CachedFirstStep> cached;
    const std::string first_key = i == 0 && ctx.first_steps ? FirstStepCache::key(search_store.state_key(), run, step.target_sparsity) : "";
    if (!first_key.empty()) cached = ctx.first_steps->load(first_key, *net, masks, ctx.device);
    if (cached) {
      pruned.ratios = cached->ratios;
      search_store.log("first_step_reused", fmt::format(R"({{"from_run": "{}", "key": "{}"}})", cached->source_run, first_key));
    } else {
      pruned = prune_step(masks, layout, *criterion, *policy, step.target_sparsity, &calibration, &evaluator,
                          static_cast<uint64_t>(run.seed), &search_store);
      if (!first_key.empty()) ctx.first_steps->save(first_key, *net, masks, {pruned.ratios, run.hash()});
    }
    if (step.rewind_to_step >= 0) {
      // Lottery ticket: survivors restart from the dense run's early state (or a fresh draw).
      std::shared_ptr<Model> start;
      if (step.random_reinit) {
        RunSpec fresh = run;
        fresh.model.init = "seed";  // a TorchScript model too gets new values, not its file's
        start = initial_model(fresh, data.shape, ctx.device, run.seed * 2654435761LL + 17LL);
      } else {
        start = ctx.dense.snapshot(run, data, ctx.device, ctx.progress, step.rewind_to_step);
      }
      copy_state(*start, *net);
      masks.apply();
    }
    if (run.finetune.recalibrate_bn > 0) {
      ctx.progress.phase(fmt::format("step {}/{} recalibrate BatchNorm", i + 1, plan.size()));
      recalibrate_batchnorm(*net, data.train, run.finetune.recalibrate_bn, run.finetune.optim.batch_size,
                            static_cast<uint64_t>(run.seed) * 7919ULL + 500ULL + i, ctx.device);
    }
    if (!continues) {
      // The session's LR schedule spans this step and the steps that continue it.
      int64_t chain = step.finetune_steps;
      for (size_t j = i + 1; j < plan.size() && plan[j].continue_training; ++j) chain += plan[j].finetune_steps;
      session.reset();
      if (chain > 0) {
        OptimSpec optim = run.finetune.optim;
        if (step.finetune_lr >= 0) optim.lr = step.finetune_lr;
        const uint64_t seed = static_cast<uint64_t>(run.seed) * 7919ULL + 1000ULL * (i + 1);
        session = std::make_unique<TrainSession>(*net, data.train, optim, chain, seed, ctx.device);
        session->set_teacher(dense.net.get(), run.finetune.distill);
      }
    }
    double train_loss = std::nan("");
    int64_t trained = 0;  // optimizer steps actually taken: what the budget accounting logs
    if (step.finetune_steps > 0 && session) {
      ctx.progress.phase(fmt::format("step {}/{} fine-tune", i + 1, plan.size()));
      const auto result = session->run(step.finetune_steps, &masks,
                                       [&](const TrainProgress& p) { ctx.progress.train(p.step, p.total, p.loss); });
      train_loss = result.mean_loss;
      trained = result.steps;
    }
    check_masks_hold(masks);
    ctx.progress.phase(fmt::format("step {}/{} evaluate", i + 1, plan.size()));
    StepRecord rec;
    rec.step = static_cast<int>(i + 1);
    rec.target_sparsity = step.target_sparsity;
    rec.finetune_steps = trained;
    rec.pruned_from_cache = cached.has_value();
    rec.train_loss = train_loss;
    const auto val = evaluate(*net, data.val, run.eval.batch_size, ctx.device);
    rec.top1_val = val.top1;
    rec.top5_val = val.top5;
    const auto test = evaluate(*net, data.test, run.eval.batch_size, ctx.device);
    rec.top1 = test.top1;
    rec.top5 = test.top5;
    rec.loss = test.loss;
    if (!std::isfinite(rec.loss)) throw std::runtime_error("test loss is not finite after pruning");
    rec.stats = measure(*net, probe);
    // In the granularity's units (for channels: the share of the groups' channels removed).
    rec.achieved_sparsity = layout.measured_sparsity();
    // A run labelled with a sparsity it never reached would be a wrong row in every table.
    if (std::abs(rec.achieved_sparsity - step.target_sparsity) > kSparsityTolerance)
      throw std::runtime_error(fmt::format(
          "step {} reached sparsity {:.4f}, the target is {:.4f} (ratio policy '{}' cannot reach it: "
          "are layers it keeps dense too large?)",
          i + 1, rec.achieved_sparsity, step.target_sparsity, run.ratio_policy.label()));
    rec.ratios = layer_ratios(layout, masks.size(), pruned.ratios);
    // The step's own cost: pruning, fine-tuning, evaluation (not the physical check and timing).
    rec.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Latency is timed where a model is finished, not between the prunings of a gradual run.
    physical = measure_physical(*net, *dense.net, run, data, probe, check_batch, ctx, rec, !next_continues);
    ctx.store.add_step(run_id, rec);
    ctx.progress.metric(fmt::format("sparsity {:.3f} top1 {:.2f}%", rec.achieved_sparsity, 100 * rec.top1));
    if (i + 1 == plan.size() && run.eval.save_models && !ctx.models_dir.empty()) {
      ModelFileInfo info{run.model.label(), data.shape, run.data, "masked", run.hash(), run.granularity.name(), rec.top1};
      const auto base = std::filesystem::path(ctx.models_dir) / run.experiment / run.hash();
      save_model_file(base.string() + "-masked.pt", *net, info);
      info.kind = "pruned";
      save_model_file(base.string() + "-pruned.pt", *physical, info);
      ctx.store.set_model_path(run_id, base.string() + "-pruned.pt");
    }
  }
}

}  // namespace prunelab
