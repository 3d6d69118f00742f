#pragma once
/// One pruning step: score, reduce to slices, ask the ratio policy, select, mask.

#include "prune/masks.hpp"

namespace prunelab { class StepEvaluator; }

#include <prunelab/plugin_api.hpp>

#include <vector>

namespace prunelab {

/// Slice scores of every layer for the current masks: the criterion's scores reduced over the
/// granularity's slices, flattened, with already-pruned slices set to -inf (masks only grow).
std::vector<at::Tensor> slice_scores(Criterion& criterion, CriterionContext& ctx);

/// Slice masks (flattened, 0/1) that prune round(ratios[i] * slices) lowest-scored slices of each
/// layer, never fewer than are already pruned. Pattern granularity ignores ratios: it keeps the
/// n highest of every m consecutive weights along the input dimension.
std::vector<at::Tensor> select_slices(const std::vector<at::Tensor>& scores,
                                      const std::vector<double>& ratios,
                                      const std::vector<LayerView>& layers,
                                      const Granularity& g);

/// Writes weight-shaped masks from slice masks into `masks` and zeroes the pruned weights.
void write_masks(MaskSet& masks, const std::vector<at::Tensor>& slice_masks, const Granularity& g);

/// Weights per slice for each layer.
std::vector<int64_t> weights_per_slice(const std::vector<LayerView>& layers, const Granularity& g);

struct PruneStepResult {
  std::vector<double> ratios;  // what the policy asked for, per layer
};

/// Runs the whole step of the plugin contract (see plugin_api.hpp) on `masks`.
PruneStepResult prune_step(MaskSet& masks, Criterion& criterion, RatioPolicy& policy,
                           const Granularity& g, double target_sparsity, Calibration* calibration,
                           StepEvaluator* evaluator, uint64_t seed);

}  // namespace prunelab
