#pragma once
/// The framework's per-layer masks: the only place that decides which weights are zero.

#include "models/model.hpp"
#include "train/weight_constraint.hpp"

#include <prunelab/layer.hpp>

#include <vector>

namespace prunelab {

class MaskSet : public WeightConstraint {
 public:
  /// One all-ones mask per conv/linear layer of `model`, in the model's layer order.
  explicit MaskSet(Model& model);

  Model& model() { return model_; }
  const std::vector<ModelLayer>& layers() const { return model_.layers(); }
  /// Weight masks, one per layer, weight-shaped.
  std::vector<at::Tensor>& masks() { return masks_; }
  /// Output-channel masks, one [out] per layer: applied to the layer's bias and to the scale and
  /// shift of its BatchNorm, so a pruned channel outputs exactly zero (as if it were removed).
  /// All ones except under channel granularity.
  std::vector<at::Tensor>& channel_masks() { return channel_masks_; }
  const std::vector<ChannelGroup>& groups() const { return groups_; }
  size_t size() const { return masks_.size(); }

  /// Zero every masked weight, bias and BatchNorm entry (after each optimizer step, after
  /// loading, after pruning).
  void apply();
  /// Zero gradients of masked weights so momentum and weight decay never act on them.
  void mask_gradients();
  /// Plugin-facing views sharing storage with weights and masks.
  std::vector<LayerView> views();

  // WeightConstraint: what the trainer calls around every optimizer step.
  void before_step() override { mask_gradients(); }
  void after_step() override { apply(); }

 private:
  Model& model_;
  std::vector<ChannelGroup> groups_;
  std::vector<at::Tensor> masks_, channel_masks_;
};

}  // namespace prunelab
