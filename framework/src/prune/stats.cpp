#include "prune/stats.hpp"

#include <ATen/ATen.h>

namespace prunelab {

ModelStats measure(Network& net, const at::Tensor& probe) {
  {
    at::NoGradGuard no_grad;
    const bool was_training = net.is_training();
    net.eval();
    net.forward(probe);
    net.train(was_training);
  }
  ModelStats s;
  for (const auto& p : net.parameters()) {
    s.params += p.numel();
    s.params_nonzero += p.ne(0).sum().item<int64_t>();
  }
  for (const auto& e : net.prunable_layers()) {
    LayerStats l;
    l.name = e.name;
    l.kind = e.layer->kind() == LayerKind::Conv2d ? "conv2d" : "linear";
    l.params = e.layer->weight.numel();
    l.nonzero = e.layer->weight.ne(0).sum().item<int64_t>();
    l.macs = l.params * e.layer->macs_per_weight();
    l.macs_effective = l.nonzero * e.layer->macs_per_weight();
    if (e.bn) {
      const auto g = e.bn->weight.detach().abs();
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
