/// Ratio policy `erk`: Erdős–Rényi-Kernel densities (Evci et al. 2020). A unit's density is
/// proportional to sum(shape) / prod(shape) of its weight, (in + out + kh + kw) / (in·out·kh·kw)
/// for a conv: small layers stay denser. The scale is solved so the units together reach the
/// target; a unit whose density would exceed 1 stays dense and the rest are re-solved.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <numeric>
#include <stdexcept>

namespace {

class Erk final : public prunelab::RatioPolicy {
 public:
  explicit Erk(const prunelab::Params& p) : power_(p.get_number("power")) {}

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    const size_t n = ctx.units.size();
    std::vector<double> size(n), raw(n);
    double total = 0;
    for (size_t i = 0; i < n; ++i) {
      const auto& u = ctx.units[i];
      size[i] = double(u.slices) * double(u.weights_per_slice);
      const auto shape = ctx.layers.at(u.layers.at(0)).weight.sizes();
      const double sum = std::accumulate(shape.begin(), shape.end(), 0.0);
      const double prod = std::accumulate(shape.begin(), shape.end(), 1.0, std::multiplies<double>());
      raw[i] = std::pow(sum / prod, power_);
      total += size[i];
    }
    // density_i = min(1, eps * raw_i), with sum(density_i * size_i) = (1 - target) * total.
    std::vector<bool> dense(n, false);
    std::vector<double> density(n, 1.0);
    for (size_t round = 0; round <= n; ++round) {
      double budget = (1.0 - ctx.target_sparsity) * total, weighted = 0;
      for (size_t i = 0; i < n; ++i) {
        if (dense[i]) budget -= size[i];
        else weighted += raw[i] * size[i];
      }
      if (weighted <= 0) break;
      const double eps = budget / weighted;
      bool changed = false;
      for (size_t i = 0; i < n; ++i) {
        if (dense[i]) continue;
        density[i] = eps * raw[i];
        if (density[i] > 1.0) {
          dense[i] = true;
          density[i] = 1.0;
          changed = true;
        }
      }
      if (!changed) break;
    }
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) {
      // Never un-prune: a unit keeps at least what earlier steps removed.
      const auto& s = ctx.slice_scores[i];
      const double already = s.numel() ? s.isneginf().sum().item<double>() / double(s.numel()) : 0.0;
      out[i] = std::min(1.0, std::max(already, 1.0 - density[i]));
    }
    return out;
  }

 private:
  double power_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy(
      {"erk", "1.0.0", "Erdős–Rényi-Kernel densities: (sum of shape / product of shape)^power, scaled to the target",
       {{"power", prunelab::ParamType::Number, 1.0, "exponent on sum/prod (1 = ERK; 0 = uniform)"}}},
      [](const prunelab::Params& p) { return std::make_unique<Erk>(p); });
}
