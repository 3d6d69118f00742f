#include "prune/masks.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace prunelab {

MaskSet::MaskSet(Model& model) : model_(model), groups_(model.channel_groups()) {
  for (auto& l : model.layers()) {
    masks_.push_back(at::ones_like(l.weight));
    channel_masks_.push_back(at::ones({l.weight.size(0)}, l.weight.options()));
  }
}

namespace {
// The per-output-channel tensors a channel mask covers: bias, BatchNorm scale and shift.
template <typename F>
void for_channel_params(const ModelLayer& l, F&& f) {
  if (l.bias.defined()) f(l.bias);
  if (l.bn.defined()) {
    f(l.bn.weight);
    if (l.bn.bias.defined()) f(l.bn.bias);
  }
}
}  // namespace

void MaskSet::apply() {
  at::NoGradGuard no_grad;
  const auto& ls = layers();
  for (size_t i = 0; i < ls.size(); ++i) {
    at::Tensor(ls[i].weight).mul_(masks_[i]);
    for_channel_params(ls[i], [&](const at::Tensor& t) { at::Tensor(t).mul_(channel_masks_[i]); });
  }
}

void MaskSet::mask_gradients() {
  const auto& ls = layers();
  for (size_t i = 0; i < ls.size(); ++i) {
    at::Tensor w = ls[i].weight;
    auto& g = w.mutable_grad();
    if (g.defined()) g.mul_(masks_[i]);
    for_channel_params(ls[i], [&](const at::Tensor& t) {
      at::Tensor p = t;
      auto& tg = p.mutable_grad();
      if (tg.defined()) tg.mul_(channel_masks_[i]);
    });
  }
}

std::vector<LayerView> MaskSet::views() {
  std::vector<LayerView> out;
  const auto& ls = layers();
  for (size_t i = 0; i < ls.size(); ++i) {
    const auto& l = ls[i];
    LayerView v;
    v.name = l.name;
    v.kind = l.kind;
    v.weight = l.weight;
    v.mask = masks_[i];
    v.bias = l.bias;
    if (l.bn.defined()) v.bn_gamma = l.bn.weight;
    v.output_hw = l.out_hw;
    v.stride = l.conv.stride;
    v.padding = l.conv.padding;
    v.dilation = l.conv.dilation;
    v.groups = l.conv.groups;
    v.geometry_known = l.conv.known;
    v.prunable = l.prunable;
    v.dense_macs = l.weight.numel() * l.macs_per_weight;
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace prunelab
