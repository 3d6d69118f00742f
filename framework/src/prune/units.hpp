#pragma once
/// Prune units: what a ratio policy decides over, and how unit decisions become layer masks.
/// One unit per layer, except under channel granularity, where a unit is a channel group the
/// model declared (its producers share each decision; its consumers lose the matching inputs).

#include "prune/masks.hpp"

#include <prunelab/plugin_api.hpp>

#include <vector>

namespace prunelab {

/// Weight masks and output-channel masks for every layer (the shapes of MaskSet's).
struct LayerMasks {
  std::vector<at::Tensor> weight, channel;
};

/// One unit per layer (every granularity but channel).
std::vector<PruneUnit> layer_units(const std::vector<LayerView>& layers, const Granularity& g);

/// Per layer, flattened slice scores from a criterion's raw scores (each weight-shaped, reduced
/// with the Lp norm `p`, or already slice-grid shaped); slices whose weights are all masked are
/// -inf (masks only grow). Throws on a wrong shape or a non-finite score.
std::vector<at::Tensor> layer_slice_scores(const std::vector<at::Tensor>& raw, const std::vector<LayerView>& layers,
                                           const Granularity& g, double p);

class UnitLayout {
 public:
  /// Throws if channel granularity is asked of a model that declares no channel group in scope.
  UnitLayout(MaskSet& masks, const Granularity& g);

  const std::vector<PruneUnit>& units() const { return units_; }
  const Granularity& granularity() const { return g_; }

  /// Per unit, flattened slice scores from per-layer slice scores (see layer_slice_scores): a
  /// unit of several producers sums their channel scores, so a pruned channel stays -inf.
  std::vector<at::Tensor> unit_scores(const std::vector<at::Tensor>& layer_scores) const;

  /// The masks that unit slice masks (flattened 0/1, per unit) stand for, for every layer.
  LayerMasks expand(const std::vector<at::Tensor>& unit_masks) const;

  /// Sparsity in the units' terms, measured from the weights themselves: the pruned share of
  /// sum(slices x weights_per_slice). A channel counts as pruned when every producer row is zero.
  double measured_sparsity() const;

 private:
  MaskSet& masks_;
  Granularity g_;
  std::vector<PruneUnit> units_;
  std::vector<ChannelGroup> groups_;  // channel granularity: the group behind each unit
};

}  // namespace prunelab
