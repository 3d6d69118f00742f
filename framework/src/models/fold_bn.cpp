#include "models/fold_bn.hpp"

#include <ATen/ATen.h>

#include <stdexcept>

namespace prunelab {

BatchNormFolding::BatchNormFolding(Network& net) : net_(net) {
  if (net.is_training()) throw std::logic_error("BatchNorm folding needs the model in eval mode");
  if (!net.set_batchnorm_folded(true)) return;
  at::NoGradGuard no_grad;
  for (const auto& entry : net.prunable_layers()) {
    if (!entry.bn) continue;
    auto& layer = *entry.layer;
    const auto& bn = *entry.bn;
    // y = gamma (conv(x) + b - mean) / sqrt(var + eps) + beta, computed in double so the folded
    // conv differs from conv + BatchNorm by float rounding only.
    const auto scale = bn.weight.to(at::kDouble) / (bn.running_var.to(at::kDouble) + bn.options.eps()).sqrt();
    const auto b = layer.bias.defined() ? layer.bias.to(at::kDouble) : at::zeros_like(scale);
    const auto shift = (b - bn.running_mean.to(at::kDouble)) * scale + bn.bias.to(at::kDouble);
    saved_.push_back({entry.layer, layer.weight, layer.bias});
    // New tensors, not in-place updates: the registered parameters keep their values.
    std::vector<int64_t> per_channel(layer.weight.dim(), 1);
    per_channel[0] = -1;
    layer.weight = (layer.weight.to(at::kDouble) * scale.view(per_channel))
                       .to(layer.weight.scalar_type())
                       .contiguous(layer.weight.suggest_memory_format());
    layer.bias = shift.to(layer.weight.scalar_type());
  }
}

BatchNormFolding::~BatchNormFolding() {
  for (auto& s : saved_) {
    s.layer->weight = s.weight;
    s.layer->bias = s.bias;
  }
  net_.set_batchnorm_folded(false);
}

}  // namespace prunelab
