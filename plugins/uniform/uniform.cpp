/// Ratio policy `uniform`: every layer gets the same ratio (optionally sparing the first/last layer).

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

namespace {

class Uniform final : public prunelab::RatioPolicy {
 public:
  explicit Uniform(const prunelab::Params& p) : skip_first_(p.get_bool("skip_first")), skip_last_(p.get_bool("skip_last")) {}

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    const size_t n = ctx.layers.size();
    std::vector<bool> spared(n, false);
    if (n > 1 && skip_first_) spared[0] = true;
    if (n > 1 && skip_last_) spared[n - 1] = true;
    // Spread the target over the layers that are pruned so the whole model still reaches it.
    double total = 0, pruned_pool = 0, already = 0;
    for (size_t i = 0; i < n; ++i) {
      const double w = double(ctx.layers[i].weight.numel());
      total += w;
      if (spared[i]) already += w * (1.0 - ctx.layers[i].mask.mean().item<double>());
      else pruned_pool += w;
    }
    const double r = pruned_pool > 0 ? std::min(1.0, std::max(0.0, (ctx.target_sparsity * total - already) / pruned_pool)) : 0.0;
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = spared[i] ? 1.0 - ctx.layers[i].mask.mean().item<double>() : r;
    return out;
  }

 private:
  bool skip_first_, skip_last_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy(
      {"uniform", "1.0.0", "the same fraction of slices in every layer",
       {{"skip_first", prunelab::ParamType::Bool, false, "leave the first layer dense (others prune more)"},
        {"skip_last", prunelab::ParamType::Bool, false, "leave the last layer dense (others prune more)"}}},
      [](const prunelab::Params& p) { return std::make_unique<Uniform>(p); });
}
