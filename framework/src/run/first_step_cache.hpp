#pragma once
/// Shared prefixes of a grid: the first pruning step of a run prunes the dense model, and what
/// it produces depends on the dense model, the criterion, the ratio policy, the granularity,
/// the first target, and the settings its calibration and search read — not on the schedule or
/// the fine-tuning budget. A prune-only run, a one-shot run and an iterative run that share
/// those compute the step once; the others load the pruned state (weights, masks, the policy's
/// ratios) from disk and log which run computed it instead of searching again.

#include "config/experiment.hpp"
#include "models/model.hpp"
#include "prune/masks.hpp"
#include "run/file_lock.hpp"

#include <c10/core/Device.h>

#include <optional>
#include <string>
#include <vector>

namespace prunelab {

struct CachedFirstStep {
  std::vector<double> ratios;  // the policy's per-unit ratios
  std::string source_run;      // hash of the run that computed the step (its search log is there)
};

class FirstStepCache {
 public:
  explicit FirstStepCache(std::string dir) : dir_(std::move(dir)) {}

  /// What determines the first step of `run` when it prunes to `first_target`: the state the
  /// step starts from (`state_key`, RunSearchStore's key of the first step: dense model,
  /// criterion, granularity, fine-tuning optimiser, framework and plugin code) plus the policy.
  static std::string key(const std::string& state_key, const RunSpec& run, double first_target);

  /// Loads the pruned state into `net` and `masks` if the step was cached. A miss holds the
  /// key's file lock until save() (or the next load()): a process sharing the cache directory
  /// that wants the same step waits for it instead of computing it too.
  std::optional<CachedFirstStep> load(const std::string& key, Model& net, MaskSet& masks, const c10::Device& device) const;
  /// Stores the pruned state (write-then-rename: a killed runner never leaves half a file).
  void save(const std::string& key, Model& net, MaskSet& masks, const CachedFirstStep& step) const;

 private:
  std::string path(const std::string& key) const;
  std::string dir_;
  mutable FileLock held_;  // the lock of the key load() missed, until save()
  mutable std::string held_key_;
};

}  // namespace prunelab
