#pragma once
/// A run's schedule, planned and checked: what `runner validate` prints and every run logs.

#include "config/experiment.hpp"

#include <prunelab/plugin_api.hpp>

#include <string>
#include <vector>

namespace prunelab {

class PluginRegistry;

struct RunPlan {
  std::vector<PruneStep> steps;
  int64_t steps_per_epoch = 0;  // fine-tuning optimizer steps per epoch
  int64_t budget = 0;           // finetune.epochs in optimizer steps
  int64_t dense_steps = 0;      // optimizer steps of the dense training
  int64_t total_finetune_steps() const;
};

/// Dense-training optimizer steps of `run` on a training split of `train_size` samples.
int64_t dense_training_steps(const RunSpec& run, int64_t train_size);

/// Builds the run's schedule and plans it for a training split of `train_size` samples; throws
/// std::runtime_error naming the schedule if the plan is unusable (targets that decrease or
/// reach 1, a last target other than the run's, negative steps, a rewind beyond the dense run).
RunPlan plan_run(const RunSpec& run, const PluginRegistry& registry, int64_t train_size);

/// JSON array of the steps, as logged in runs.plan.
std::string plan_json(const std::vector<PruneStep>& steps);
/// One line: "0.3/585 0.5/585+ 0.7/585@0" (target/fine-tune steps; + continues the session,
/// @k rewinds to dense step k, @r re-initialises, (lr x) overrides the fine-tuning LR).
std::string plan_text(const std::vector<PruneStep>& steps);

}  // namespace prunelab
