#include "prune/stats.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace prunelab {

ModelStats measure(Model& model, const at::Tensor& probe) {
  model.probe(probe);
  at::NoGradGuard no_grad;
  ModelStats s;
  for (const auto& p : model.parameters()) {
    s.params += p.numel();
    s.params_nonzero += p.ne(0).sum().item<int64_t>();
  }
  for (const auto& layer : model.layers()) {
    LayerStats l;
    l.name = layer.name;
    l.kind = layer.kind == LayerKind::Conv2d ? "conv2d" : "linear";
    l.params = layer.weight.numel();
    l.nonzero = layer.weight.ne(0).sum().item<int64_t>();
    l.macs = l.params * layer.macs_per_weight;
    l.macs_effective = l.nonzero * layer.macs_per_weight;
    if (layer.bn.defined()) {
      const auto g = layer.bn.weight.detach().abs();
      l.bn_gamma_abs_mean = g.mean().item<double>();
      l.bn_gamma_small = g.lt(1e-2).to(at::kFloat).mean().item<double>();
    }
    s.prunable += l.params;
    s.prunable_nonzero += l.nonzero;
    s.macs += l.macs;
    s.macs_effective += l.macs_effective;
    s.layers.push_back(std::move(l));
  }
  return s;
}

}  // namespace prunelab
