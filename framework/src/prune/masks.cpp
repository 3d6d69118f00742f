#include "prune/masks.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace prunelab {

MaskSet::MaskSet(Network& net) : layers_(net.prunable_layers()), groups_(net.channel_groups()) {
  for (auto& e : layers_) {
    masks_.push_back(at::ones_like(e.layer->weight));
    channel_masks_.push_back(at::ones({e.layer->weight.size(0)}, e.layer->weight.options()));
  }
}

namespace {
// The per-output-channel tensors a channel mask covers: bias, BatchNorm scale and shift.
template <typename F>
void for_channel_params(const PrunableEntry& e, F&& f) {
  if (e.layer->bias.defined()) f(e.layer->bias);
  if (e.bn) {
    f(e.bn->weight);
    f(e.bn->bias);
  }
}
}  // namespace

void MaskSet::apply() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i].layer->weight.mul_(masks_[i]);
    for_channel_params(layers_[i], [&](at::Tensor& t) { t.mul_(channel_masks_[i]); });
  }
}

void MaskSet::mask_gradients() {
  for (size_t i = 0; i < layers_.size(); ++i) {
    auto& g = layers_[i].layer->weight.mutable_grad();
    if (g.defined()) g.mul_(masks_[i]);
    for_channel_params(layers_[i], [&](at::Tensor& t) {
      auto& tg = t.mutable_grad();
      if (tg.defined()) tg.mul_(channel_masks_[i]);
    });
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
