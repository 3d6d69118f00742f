#pragma once
/// Executes one run: dense model -> plan -> (prune, fine-tune, evaluate, log) per step.

#include "config/experiment.hpp"
#include "data/dataset.hpp"

#include <c10/core/Device.h>

namespace prunelab {

class DenseCache;
class FirstStepCache;
class PluginRegistry;
class Progress;
class ResultStore;

struct RunContext {
  const PluginRegistry& registry;
  ResultStore& store;
  DenseCache& dense;
  Progress& progress;
  c10::Device device;
  std::string models_dir;  // where pruned models are saved (runs with eval.save_models)
  const FirstStepCache* first_steps = nullptr;  // null: every run computes its first step
};

/// Records everything into `run_id`'s rows; throws on failure (the caller marks the run failed).
void execute_run(const RunSpec& run, const DataSplits& data, int64_t run_id, RunContext& ctx);

}  // namespace prunelab
