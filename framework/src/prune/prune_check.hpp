#pragma once
/// One prune-only step on a copy of a model, checked the way every run checks it: the masked and
/// the physically pruned copies compute the same outputs, and what the pruning saved is counted.
/// The model zoo test (tests/test_zoo.cpp) and its table (bench/zoo_main.cpp) share this.

#include "models/model.hpp"
#include "prune/physical.hpp"
#include "prune/stats.hpp"

#include <prunelab/granularity.hpp>
#include <prunelab/plugin_api.hpp>

#include <memory>

namespace prunelab {

struct PruneCheck {
  double target = 0, achieved = 0;  // sparsity asked for and reached (in the granularity's units)
  ModelStats dense, masked, physical;
  OutputComparison diff;            // masked vs physical on the check batch
  std::unique_ptr<Model> pruned;    // the masked copy
  std::unique_ptr<Model> smaller;   // its physical copy
  /// max_diff / max_abs_a (0 when both are 0).
  double relative_diff() const { return diff.max_diff == 0 ? 0.0 : diff.max_diff / diff.max_abs_a; }
};

/// Draws every BatchNorm's scale, shift and running statistics at random (global generator), so a
/// check cannot pass because fresh statistics (0 / 1) hide a misplaced channel.
void randomize_batchnorms(Model& model);

/// Prunes a clone of `model` (left untouched) once to `target` with `criterion` and `policy` at
/// granularity `g`, without calibration data or an evaluator (criteria and policies that need
/// them throw), builds the physical copy and compares both on `batch`. `probe` (one sample)
/// counts MACs.
PruneCheck prune_and_check(Model& model, const Granularity& g, Criterion& criterion, RatioPolicy& policy,
                           double target, const at::Tensor& batch, const at::Tensor& probe);

}  // namespace prunelab
