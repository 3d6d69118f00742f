#pragma once
/// One pruning step: score, reduce to unit slices, ask the ratio policy, select, mask.

#include "prune/units.hpp"

#include <prunelab/plugin_api.hpp>

#include <vector>

namespace prunelab {

class StepEvaluator;

/// Per layer, the criterion's slice scores for the current masks (see layer_slice_scores).
std::vector<at::Tensor> slice_scores(Criterion& criterion, CriterionContext& ctx);

/// Slice masks (flattened, 0/1) that prune round(ratios[i] * slices) lowest-scored slices of each
/// unit, never fewer than are already pruned; a channel unit keeps at least one channel. Pattern
/// granularity ignores ratios: it keeps the n highest of every m consecutive weights along the
/// input dimension.
std::vector<at::Tensor> select_slices(const std::vector<at::Tensor>& scores,
                                      const std::vector<double>& ratios,
                                      const std::vector<PruneUnit>& units,
                                      const std::vector<LayerView>& layers, const Granularity& g);
/// The same with one unit per layer.
std::vector<at::Tensor> select_slices(const std::vector<at::Tensor>& scores, const std::vector<double>& ratios,
                                      const std::vector<LayerView>& layers, const Granularity& g);

/// Writes the masks into `masks` and zeroes the pruned weights (and channel entries).
void write_masks(MaskSet& masks, const LayerMasks& layer_masks);

struct PruneStepResult {
  std::vector<double> ratios;  // what the policy asked for, per unit
};

/// Runs the whole step of the plugin contract (see plugin_api.hpp) on `masks`.
PruneStepResult prune_step(MaskSet& masks, const UnitLayout& layout, Criterion& criterion,
                           RatioPolicy& policy, double target_sparsity, Calibration* calibration,
                           StepEvaluator* evaluator, uint64_t seed, SearchStore* store = nullptr);

}  // namespace prunelab
