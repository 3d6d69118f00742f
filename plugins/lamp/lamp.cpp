/// Ratio policy `lamp`: layer-adaptive magnitude-based pruning (Lee et al. 2021). Within a unit,
/// a slice with score s scores s^2 / (sum of s'^2 over the unit's slices scoring at least s);
/// one global threshold on these normalised scores then sets every unit's ratio. The largest
/// slice of every unit scores 1, so no unit is emptied, and the policy needs no tuning.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

namespace {

class Lamp final : public prunelab::RatioPolicy {
 public:
  explicit Lamp(const prunelab::Params&) {}

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    const size_t n = ctx.slice_scores.size();
    std::vector<at::Tensor> lamp, owner, weight;
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto s = ctx.slice_scores[i].to(at::kDouble).cpu();
      const auto pruned = s.isneginf();
      // Ascending order; the denominator is the suffix sum of squares from each slice upwards.
      const auto sq = at::where(pruned, at::zeros_like(s), s * s);
      const auto [sorted, order] = sq.sort(/*stable=*/true, 0, /*descending=*/false);
      const auto suffix = sorted.flip({0}).cumsum(0).flip({0});
      auto score = at::empty_like(s);
      score.index_put_({order}, sorted / suffix.clamp_min(1e-300));
      // Slices pruned in earlier steps stay first in line.
      lamp.push_back(at::where(pruned, at::full({}, -1.0, s.options()), score));
      owner.push_back(at::full({s.numel()}, static_cast<int64_t>(i), at::kLong));
      weight.push_back(at::full({s.numel()}, double(ctx.units[i].weights_per_slice), at::kDouble));
      total += double(s.numel()) * double(ctx.units[i].weights_per_slice);
    }
    const auto all = at::cat(lamp);
    const auto order = std::get<1>(all.sort(/*stable=*/true, 0, /*descending=*/false));
    const auto owners = at::cat(owner).index_select(0, order);
    const auto cum = at::cat(weight).index_select(0, order).cumsum(0);
    // k = the number of lowest slices whose cumulative weight comes closest to the target.
    const double want = ctx.target_sparsity * total;
    int64_t k = at::searchsorted(cum, at::full({1}, want, at::kDouble), false, /*right=*/true).item<int64_t>();
    const double below = k > 0 ? cum[k - 1].item<double>() : 0.0;
    if (k < cum.numel() && cum[k].item<double>() - want < want - below) ++k;
    const auto chosen = owners.narrow(0, 0, k).bincount({}, static_cast<int64_t>(n));
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = double(chosen[i].item<int64_t>()) / double(ctx.slice_scores[i].numel());
    return out;
  }
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy({"lamp", "1.0.0", "global threshold on layer-adaptive magnitude scores (Lee et al. 2021)", {}},
                             [](const prunelab::Params& p) { return std::make_unique<Lamp>(p); });
}
