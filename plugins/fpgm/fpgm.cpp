/// Criterion `fpgm` (He et al. 2019): filters nearest the geometric median of their layer are the
/// most replaceable. A filter scores the sum of its Euclidean distances to the layer's other filters.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

namespace {

class Fpgm final : public prunelab::Criterion {
 public:
  explicit Fpgm(const prunelab::Params&) {}

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    if (ctx.granularity.kind != prunelab::GranularityKind::Channel)
      throw std::runtime_error("fpgm scores whole filters: use granularity: channel");
    std::vector<at::Tensor> out;
    for (const auto& layer : ctx.layers) {
      auto filters = layer.weight.detach().reshape({layer.weight.size(0), -1}).to(at::kDouble);
      // Sum of distances to all other filters; the smallest sums sit nearest the geometric median.
      auto dist = at::cdist(filters.unsqueeze(0), filters.unsqueeze(0)).squeeze(0);
      out.push_back(dist.sum(1).to(at::kFloat));
    }
    return out;
  }
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"fpgm", "1.0.0", "filter pruning via geometric median: sum of distances to the other filters (channel)", {}},
      [](const prunelab::Params& p) { return std::make_unique<Fpgm>(p); });
}
