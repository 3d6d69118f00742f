#pragma once
/// Helpers for ratio-policy plugins (header-only: nothing to link).

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <string>
#include <vector>

namespace prunelab {

/// x in [lo, hi] where the non-decreasing f reaches `want` (100 halvings: to double precision).
template <class F>
double bisect(const F& f, double lo, double hi, double want) {
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) < want ? lo : hi) = mid;
  }
  return hi;
}

/// A number for the JSON a policy writes to its search log (6 significant digits).
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

/// Per unit, the fraction of its slices already pruned (its -inf scores): a floor for its ratio.
inline std::vector<double> pruned_shares(const RatioContext& ctx) {
  std::vector<double> out;
  for (const auto& s : ctx.slice_scores)
    out.push_back(s.numel() ? s.isneginf().sum().item<double>() / double(s.numel()) : 0.0);
  return out;
}

/// Per unit, the weights it holds (slices x weights_per_slice): what sparsity is counted in.
inline std::vector<double> unit_weights(const RatioContext& ctx) {
  std::vector<double> out;
  for (const auto& u : ctx.units) out.push_back(double(u.slices) * double(u.weights_per_slice));
  return out;
}

/// Per unit, the largest ratio the framework will carry out: a channel unit keeps one channel
/// ((n - 1) / n), any other unit can be pruned completely (1).
inline std::vector<double> ratio_ceilings(const RatioContext& ctx) {
  std::vector<double> out;
  for (const auto& u : ctx.units)
    out.push_back(ctx.granularity.kind == GranularityKind::Channel && u.slices > 0
                      ? double(u.slices - 1) / double(u.slices) : 1.0);
  return out;
}

/// The sparsity that per-unit ratios give, in the units' terms.
inline double sparsity_of(const std::vector<double>& ratios, const std::vector<double>& weights) {
  double pruned = 0, total = 0;
  for (size_t i = 0; i < ratios.size(); ++i) pruned += ratios[i] * weights[i], total += weights[i];
  return total > 0 ? pruned / total : 0.0;
}

/// Ratios with the shape of `chosen` that meet `target` exactly: every unit keeps
/// floor + a * (chosen - floor) (clamped to [floor, ceiling]) for one common factor a >= 0. If no
/// factor reaches the target (every chosen ratio at its floor, or all saturated), every unit then
/// goes the same share b of the rest of the way to its ceiling (default 1; see ratio_ceilings).
inline std::vector<double> fit_to_target(const std::vector<double>& chosen, const std::vector<double>& floor,
                                         const std::vector<double>& weights, double target,
                                         std::vector<double> ceiling = {}) {
  const size_t n = chosen.size();
  if (ceiling.empty()) ceiling.assign(n, 1.0);
  std::vector<double> out(n);
  const auto shaped = [&](double a) {
    for (size_t i = 0; i < n; ++i)
      out[i] = std::clamp(floor[i] + a * (chosen[i] - floor[i]), floor[i], std::max(floor[i], ceiling[i]));
    return sparsity_of(out, weights);
  };
  double hi = 1.0;
  while (shaped(hi) < target && hi < 1e9) hi *= 2;
  if (shaped(hi) >= target) {
    shaped(bisect(shaped, 0.0, hi, target));
    return out;
  }
  const auto saturated = out;
  const auto rest = [&](double b) {
    for (size_t i = 0; i < n; ++i) out[i] = saturated[i] + b * std::max(0.0, ceiling[i] - saturated[i]);
    return sparsity_of(out, weights);
  };
  rest(bisect(rest, 0.0, 1.0, target));
  return out;
}

/// Runs `search()` (which returns per-unit ratios) unless a run before found them for the same
/// step state (SearchStore::state_key), target and `settings` (the policy's parameters, as text):
/// then those are returned and a row `<kind>_reused` is logged. Searches are deterministic per
/// state and settings, so prune-only and fine-tuned runs of one experiment search only once.
template <class Search>
std::vector<double> reuse_or_search(const RatioContext& ctx, const std::string& kind, const std::string& settings,
                                    Search&& search) {
  if (!ctx.store) return search();
  char target[32];
  std::snprintf(target, sizeof target, "%.17g", ctx.target_sparsity);
  const std::string key = ctx.store->state_key() + "|target=" + target + "|seed=" + std::to_string(ctx.seed) + "|" + settings;
  const auto saved = ctx.store->load_curves(kind + "_ratios", key);
  if (saved.size() == ctx.units.size()) {
    std::vector<double> out;
    for (size_t i = 0; i < saved.size() && saved[i].label == ctx.units[i].name; ++i) out.push_back(saved[i].y);
    if (out.size() == ctx.units.size()) {
      ctx.store->log(kind + "_reused", "{\"key\":\"" + key + "\"}");
      return out;
    }
  }
  auto out = search();
  std::vector<CurvePoint> points;
  for (size_t i = 0; i < out.size(); ++i) points.push_back({ctx.units[i].name, double(i), out[i]});
  ctx.store->save_curves(kind + "_ratios", key, points);
  return out;
}

/// One global ranking over every unit's slices: `keys[i]` holds a key per slice of unit i
/// (shaped like ctx.slice_scores[i]; lower = pruned first). Takes the lowest slices, in a stable
/// order, until their weights (weights_per_slice each) come closest to ctx.target_sparsity of
/// all the units' weights, and returns each unit's pruned fraction. Give already-pruned slices
/// the lowest keys (-inf) so they are counted first.
inline std::vector<double> global_threshold_ratios(const RatioContext& ctx, const std::vector<at::Tensor>& keys) {
  const size_t n = keys.size();
  const auto ceilings = ratio_ceilings(ctx);
  std::vector<at::Tensor> flat, owner, weight;
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto numel = keys[i].numel();
    auto key = keys[i].to(at::kDouble).cpu().flatten().clone();
    // A unit's highest slices beyond its ceiling (a channel unit's last channel) are never
    // chosen, so the threshold moves on to other units and the target is still met.
    const auto allowed = static_cast<int64_t>(std::floor(ceilings[i] * double(numel) + 1e-9));
    if (allowed < numel)
      key.index_fill_(0, std::get<1>(key.topk(numel - allowed)), std::numeric_limits<double>::infinity());
    flat.push_back(key);
    owner.push_back(at::full({numel}, static_cast<int64_t>(i), at::kLong));
    weight.push_back(at::full({numel}, static_cast<double>(ctx.units[i].weights_per_slice), at::kDouble));
    total += double(numel) * double(ctx.units[i].weights_per_slice);
  }
  const auto order = std::get<1>(at::cat(flat).sort(/*stable=*/true, 0, /*descending=*/false));
  const auto owners = at::cat(owner).index_select(0, order);
  const auto cum = at::cat(weight).index_select(0, order).cumsum(0);
  const double want = ctx.target_sparsity * total;
  // k = the number of lowest slices whose cumulative weight comes closest to the target.
  int64_t k = at::searchsorted(cum, at::full({1}, want, at::kDouble), false, /*right=*/true).item<int64_t>();
  const double below = k > 0 ? cum[k - 1].item<double>() : 0.0;
  if (k < cum.numel() && cum[k].item<double>() - want < want - below) ++k;
  k = std::min(k, at::cat(flat).isfinite().sum().item<int64_t>() + at::cat(flat).isneginf().sum().item<int64_t>());
  const auto chosen = owners.narrow(0, 0, k).bincount({}, static_cast<int64_t>(n));
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = double(chosen[i].item<int64_t>()) / double(std::max<int64_t>(1, keys[i].numel()));
  return out;
}

}  // namespace prunelab
