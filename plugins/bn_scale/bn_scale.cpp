/// Criterion `bn_scale` (network slimming, Liu et al. 2017): a channel scores |gamma| of the
/// BatchNorm right after its conv. Layers with no BatchNorm (the classifier, LeNets) fall back to
/// the L1 norm of their slices, so they can still be pruned by ratio.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

namespace {

class BnScale final : public prunelab::Criterion {
 public:
  explicit BnScale(const prunelab::Params&) {}

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    if (ctx.granularity.kind != prunelab::GranularityKind::Channel)
      throw std::runtime_error("bn_scale scores output channels: use granularity: channel");
    std::vector<at::Tensor> out;
    for (const auto& layer : ctx.layers) {
      if (layer.bn_gamma.defined())
        out.push_back(layer.bn_gamma.detach().abs().to(at::kFloat));
      else
        out.push_back(layer.weight.detach().abs().reshape({layer.weight.size(0), -1}).sum(1).to(at::kFloat));
    }
    return out;
  }
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"bn_scale", "1.0.0", "|gamma| of the BatchNorm after each conv (network slimming; channel granularity)", {}},
      [](const prunelab::Params& p) { return std::make_unique<BnScale>(p); });
}
