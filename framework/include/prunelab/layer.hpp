#pragma once
/// What plugins see of one prunable layer (a conv or linear weight and its mask).

#include <torch/types.h>

#include <string>
#include <vector>

namespace prunelab {

enum class LayerKind { Conv2d, Linear };

/// A view onto one prunable layer. `weight` and `mask` share storage with the model and the
/// framework's mask: a criterion may change `weight` in after_masking() (OBS, refits), but
/// only the framework changes `mask`. Conv weights are stored channels-last: use reshape(), not view().
struct LayerView {
  std::string name;      // the module path, e.g. "stage2_block0.conv1" or "features.3"
  LayerKind kind = LayerKind::Conv2d;
  at::Tensor weight;     // [out, in, kh, kw] or [out, in]
  at::Tensor mask;       // same shape, 1 = kept, 0 = pruned
  at::Tensor bias;       // undefined if the layer has none
  at::Tensor bn_gamma;   // scale of the BatchNorm right after this layer, undefined if none
  std::vector<int64_t> output_hw;  // conv output height/width seen in the last probe forward
  int64_t stride = 1, padding = 0;  // conv only: how inputs map to outputs (im2col for OBS)
  int64_t dilation = 1, groups = 1;
  bool geometry_known = true;  // false: stride/padding could not be read or are not square
  bool prunable = true;        // false: the config keeps this layer dense (it has no prune unit)
  int64_t dense_macs = 0;          // multiply-accumulates per sample with a dense weight
};

}  // namespace prunelab
