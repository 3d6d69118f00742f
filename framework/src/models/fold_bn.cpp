#include "models/fold_bn.hpp"

#include <ATen/ATen.h>

#include <stdexcept>

namespace prunelab {

BatchNormFolding::BatchNormFolding(Network& net) : net_(net) {
  if (net.is_training()) throw std::logic_error("BatchNorm folding needs the model in eval mode");
  if (net.batchnorm_folded()) return;             // folded by someone else: folding twice would scale twice
  if (!net.set_batchnorm_folded(false)) return;  // the model cannot skip its BatchNorms
  at::NoGradGuard no_grad;
  try {
    for (const auto& entry : net.prunable_layers()) {
      if (!entry.bn) continue;
      auto& layer = *entry.layer;
      const auto& bn = *entry.bn;
      // y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta, computed in double so the folded
      // conv differs from conv + BatchNorm by float rounding only.
      const auto scale = bn.weight.to(at::kDouble) / (bn.running_var.to(at::kDouble) + bn.options.eps()).sqrt();
      const auto b = layer.bias.defined() ? layer.bias.to(at::kDouble) : at::zeros_like(scale);
      const auto shift = (b - bn.running_mean.to(at::kDouble)) * scale + bn.bias.to(at::kDouble);
      std::vector<int64_t> per_channel(layer.weight.dim(), 1);
      per_channel[0] = -1;
      // New tensors, not in-place updates: the registered parameters keep their values.
      auto weight = (layer.weight.to(at::kDouble) * scale.view(per_channel))
                        .to(layer.weight.scalar_type())
                        .contiguous(layer.weight.suggest_memory_format());
      auto bias = shift.to(layer.weight.scalar_type());
      saved_.push_back({entry.layer, layer.weight, layer.bias});
      layer.weight = std::move(weight);
      layer.bias = std::move(bias);
    }
  } catch (...) {
    restore();  // never leave a half-folded model behind
    throw;
  }
  // Only now, with every conv folded, does the forward skip the BatchNorms.
  net.set_batchnorm_folded(true);
  active_ = true;
}

void BatchNormFolding::restore() {
  for (auto& s : saved_) {
    s.layer->weight = s.weight;
    s.layer->bias = s.bias;
  }
  saved_.clear();
}

BatchNormFolding::~BatchNormFolding() {
  if (!active_) return;
  net_.set_batchnorm_folded(false);
  restore();
}

}  // namespace prunelab
