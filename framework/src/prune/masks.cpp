#include "prune/masks.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace prunelab {

MaskSet::MaskSet(Network& net) : layers_(net.prunable_layers()) {
  for (auto& e : layers_) masks_.push_back(at::ones_like(e.layer->weight));
}

void MaskSet::apply() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i].layer->weight.mul_(masks_[i]);
}

void MaskSet::mask_gradients() {
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& g = layers_[i].layer->weight.mutable_grad();
    if (g.defined()) g.mul_(masks_[i]);
  }
}

std::vector<LayerView> MaskSet::views() {
  std::vector<LayerView> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& e = layers_[i];
    LayerView v;
    v.name = e.name;
    v.kind = e.layer->kind();
    v.weight = e.layer->weight;
    v.mask = masks_[i];
    v.bias = e.layer->bias;
    if (e.bn) v.bn_gamma = e.bn->weight;
    v.output_hw = e.layer->out_hw;
    if (auto conv = std::dynamic_pointer_cast<Conv2dLayerImpl>(e.layer)) {
      v.stride = conv->spec().stride;
      v.padding = conv->spec().padding;
    }
    v.dense_macs = e.layer->weight.numel() * e.layer->macs_per_weight();
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace prunelab
