/// Ratio policy `uniform`: every layer gets the same ratio (optionally sparing the first/last layer).

#include <prunelab/plugin_api.hpp>
#include <prunelab/ratio_tools.hpp>

#include <ATen/ATen.h>

namespace {

class Uniform final : public prunelab::RatioPolicy {
 public:
  explicit Uniform(const prunelab::Params& p) : skip_first_(p.get_bool("skip_first")), skip_last_(p.get_bool("skip_last")) {}

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    const size_t n = ctx.units.size();
    std::vector<bool> spared(n, false);
    if (n > 1 && skip_first_) spared[0] = true;
    if (n > 1 && skip_last_) spared[n - 1] = true;
    // A spared unit keeps what earlier steps pruned (its -inf slices) and prunes nothing more.
    const auto pruned_share = prunelab::pruned_shares(ctx);
    const auto weights = prunelab::unit_weights(ctx);
    // Spread the target over the units that are pruned so the whole model still reaches it.
    double total = 0, pruned_pool = 0, already = 0;
    for (size_t i = 0; i < n; ++i) {
      const double w = weights[i];
      total += w;
      if (spared[i]) already += w * pruned_share[i];
      else pruned_pool += w;
    }
    const double r = pruned_pool > 0 ? std::min(1.0, std::max(0.0, (ctx.target_sparsity * total - already) / pruned_pool)) : 0.0;
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = spared[i] ? pruned_share[i] : r;
    return out;
  }

 private:
  bool skip_first_, skip_last_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy(
      {"uniform", "1.0.0", "the same fraction of slices in every layer (prune unit)",
       {{"skip_first", prunelab::ParamType::Bool, false, "leave the first unit dense (others prune more)"},
        {"skip_last", prunelab::ParamType::Bool, false, "leave the last unit dense (others prune more)"}}},
      [](const prunelab::Params& p) { return std::make_unique<Uniform>(p); });
}
