/// Ratio policy `global`: one score threshold over all layers (ShrinkBench's global magnitude).

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <cmath>

namespace {

class Global final : public prunelab::RatioPolicy {
 public:
  explicit Global(const prunelab::Params&) {}

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    const size_t n = ctx.slice_scores.size();
    // All slices, lowest score first; take them until the pruned weights reach the target.
    std::vector<at::Tensor> scores, owner, weight;
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto& s = ctx.slice_scores[i];
      scores.push_back(s.to(at::kDouble));
      owner.push_back(at::full({s.numel()}, static_cast<int64_t>(i), at::kLong));
      weight.push_back(at::full({s.numel()}, static_cast<double>(ctx.units[i].weights_per_slice), at::kDouble));
      total += double(s.numel()) * double(ctx.units[i].weights_per_slice);
    }
    auto all = at::cat(scores).cpu();
    auto order = std::get<1>(all.sort(/*stable=*/true, 0, /*descending=*/false));
    auto owners = at::cat(owner).cpu().index_select(0, order);
    auto cum = at::cat(weight).cpu().index_select(0, order).cumsum(0);
    const double want = ctx.target_sparsity * total;
    // k = the number of lowest slices whose cumulative weight comes closest to the target.
    const int64_t count = cum.numel();
    int64_t k = at::searchsorted(cum, at::full({1}, want, at::kDouble), false, /*right=*/true).item<int64_t>();
    const double below = k > 0 ? cum[k - 1].item<double>() : 0.0;
    if (k < count && cum[k].item<double>() - want < want - below) ++k;
    auto chosen = owners.narrow(0, 0, k).bincount({}, static_cast<int64_t>(n));
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i)
      out[i] = double(chosen[i].item<int64_t>()) / double(ctx.slice_scores[i].numel());
    return out;
  }
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy({"global", "1.0.0", "one threshold over the scores of all layers (prune units)", {}},
                             [](const prunelab::Params& p) { return std::make_unique<Global>(p); });
}
