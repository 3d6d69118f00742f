#include "run/plan.hpp"

#include "core/json.hpp"
#include "data/dataset.hpp"
#include "plugin/registry.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace prunelab {

int64_t RunPlan::total_finetune_steps() const {
  int64_t n = 0;
  for (const auto& s : steps) n += s.finetune_steps;
  return n;
}

int64_t dense_training_steps(const RunSpec& run, int64_t train_size) {
  return static_cast<int64_t>(std::llround(run.train.epochs * double(batches_per_epoch(train_size, run.train.optim.batch_size))));
}

RunPlan plan_run(const RunSpec& run, const PluginRegistry& registry, int64_t train_size) {
  RunPlan p;
  p.steps_per_epoch = batches_per_epoch(train_size, run.finetune.optim.batch_size);
  p.budget = static_cast<int64_t>(std::llround(run.finetune.epochs * double(p.steps_per_epoch)));
  p.dense_steps = dense_training_steps(run, train_size);
  auto schedule = registry.make_schedule(run.schedule.type, run.schedule.params);
  p.steps = schedule->plan({run.sparsity, p.budget, p.steps_per_epoch, p.dense_steps});
  const auto label = run.schedule.label();
  if (p.steps.empty()) throw std::runtime_error(fmt::format("schedule '{}' planned no steps", label));
  double last = 0.0;
  for (const auto& s : p.steps) {
    if (!(s.target_sparsity >= last - 1e-12 && s.target_sparsity < 1.0))
      throw std::runtime_error(fmt::format("schedule '{}' planned targets that decrease or reach 1: {}", label,
                                           s.target_sparsity));
    if (s.finetune_steps < 0) throw std::runtime_error(fmt::format("schedule '{}' planned negative fine-tuning steps", label));
    if (run.granularity.kind == GranularityKind::Pattern) {
      const double fixed = 1.0 - double(run.granularity.n) / double(run.granularity.m);
      if (std::abs(s.target_sparsity - fixed) > 1e-9)
        throw std::runtime_error(fmt::format("schedule '{}' plans a step to sparsity {:g}, but pattern {}:{} prunes "
                                             "exactly {:g} at every step (use one_shot, or exclude the pair)",
                                             label, s.target_sparsity, run.granularity.n, run.granularity.m, fixed));
    }
    if (s.rewind_to_step >= 0 && s.continue_training && &s != &p.steps.front())
      throw std::runtime_error(fmt::format("schedule '{}' rewinds the weights in a step that continues the previous "
                                           "training session (its momentum belongs to the old weights)", label));
    if (s.rewind_to_step > p.dense_steps)
      throw std::runtime_error(fmt::format("schedule '{}' rewinds to dense step {}, the dense training has {}", label,
                                           s.rewind_to_step, p.dense_steps));
    last = s.target_sparsity;
  }
  if (std::abs(last - run.sparsity) > 1e-9)
    throw std::runtime_error(fmt::format("schedule '{}' ends at sparsity {}, the run's target is {}", label, last,
                                         run.sparsity));
  return p;
}

std::string plan_json(const std::vector<PruneStep>& steps) {
  std::string out = "[";
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    JsonObject o;
    o.set("target_sparsity", s.target_sparsity).set("finetune_steps", s.finetune_steps);
    if (s.continue_training) o.set("continue_training", true);
    if (s.rewind_to_step >= 0) o.set("rewind_to_step", s.rewind_to_step);
    if (s.random_reinit) o.set("random_reinit", true);
    if (s.finetune_lr >= 0) o.set("finetune_lr", s.finetune_lr);
    out += (i ? "," : "") + o.str();
  }
  return out + "]";
}

std::string plan_text(const std::vector<PruneStep>& steps) {
  std::string out;
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    out += fmt::format("{}{:g}/{}{}", i ? " " : "", s.target_sparsity, s.finetune_steps,
                       i > 0 && s.continue_training ? "+" : "");
    if (s.random_reinit) out += "@r";
    else if (s.rewind_to_step >= 0) out += fmt::format("@{}", s.rewind_to_step);
    if (s.finetune_lr >= 0) out += fmt::format("(lr {:g})", s.finetune_lr);
  }
  return out;
}

}  // namespace prunelab
