/// Ratio policy `lamp`: layer-adaptive magnitude-based pruning (Lee et al. 2021). Within a unit,
/// a slice with score s scores s^2 / (sum of s'^2 over the unit's slices scoring at least s);
/// one global threshold on these normalised scores then sets every unit's ratio. The largest
/// slice of every unit scores 1, so no unit is emptied, and the policy needs no tuning.

#include <prunelab/plugin_api.hpp>
#include <prunelab/ratio_tools.hpp>

#include <ATen/ATen.h>

namespace {

class Lamp final : public prunelab::RatioPolicy {
 public:
  explicit Lamp(const prunelab::Params&) {}

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    std::vector<at::Tensor> lamp;
    for (const auto& slice_scores : ctx.slice_scores) {
      const auto s = slice_scores.to(at::kDouble).cpu();
      const auto pruned = s.isneginf();
      // Ascending order; the denominator is the suffix sum of squares from each slice upwards.
      const auto sq = at::where(pruned, at::zeros_like(s), s * s);
      const auto [sorted, order] = sq.sort(/*stable=*/true, 0, /*descending=*/false);
      const auto suffix = sorted.flip({0}).cumsum(0).flip({0});
      auto score = at::empty_like(s);
      score.index_put_({order}, sorted / suffix.clamp_min(1e-300));
      // Slices pruned in earlier steps stay first in line.
      lamp.push_back(at::where(pruned, at::full({}, -1.0, s.options()), score));
    }
    return prunelab::global_threshold_ratios(ctx, lamp);
  }
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy({"lamp", "1.0.0", "global threshold on layer-adaptive magnitude scores (Lee et al. 2021)", {}},
                             [](const prunelab::Params& p) { return std::make_unique<Lamp>(p); });
}
