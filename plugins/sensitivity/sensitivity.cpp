/// Ratio policy `sensitivity` (lecture 5; Han et al. 2015): prune each unit alone at ratios
/// r = 0.1 ... 0.9 by the step's scores, measure validation accuracy, restore; then give each unit
/// the largest ratio whose accuracy drop stays within a threshold T.
///
/// The framework's contract is a target sparsity, so the threshold is either
///  - solved for (threshold < 0, the default): T is bisected until the units' tolerable ratios,
///    read off their curves by linear interpolation, add up to exactly the target; or
///  - given (threshold >= 0): each unit gets the largest scanned ratio with drop <= T, and those
///    ratios are scaled by one common factor to meet the target (the sensitivity shape is kept).
/// The curves are saved in the results database (table `curves`, kind 'sensitivity') under the
/// step's state key and the scan settings, and reused by any later run pruning the same dense
/// model with the same criterion and granularity. The choice is logged per run (`search_log`).

#include <prunelab/plugin_api.hpp>
#include <prunelab/ratio_tools.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace {

using prunelab::CurvePoint;

constexpr const char* kBaseLabel = "(unpruned)";

/// Accuracy drop of one unit against its ratio, made monotone (running max) so that "the largest
/// ratio within T" is well defined; starts at (already-pruned share, 0).
struct Curve {
  std::vector<double> r, drop;

  /// The largest ratio in [r.front(), r.back()] whose interpolated drop is <= t.
  double tolerable(double t) const {
    for (size_t k = 1; k < r.size(); ++k) {
      if (drop[k] <= t) continue;
      const double span = drop[k] - drop[k - 1];
      return span > 0 ? r[k - 1] + (r[k] - r[k - 1]) * (t - drop[k - 1]) / span : r[k - 1];
    }
    return r.back();
  }
  /// The largest scanned ratio whose own (not enveloped) drop is <= t: the lecture's rule.
  double largest_scanned_within(double t, const std::vector<double>& raw_drop) const {
    double best = r.front();
    for (size_t k = 1; k < r.size(); ++k)
      if (raw_drop[k] <= t) best = r[k];
    return best;
  }
};

class Sensitivity final : public prunelab::RatioPolicy {
 public:
  explicit Sensitivity(const prunelab::Params& p)
      : scan_(p.get_number_list("ratios")), threshold_(p.get_number("threshold")),
        relative_(p.get_bool("relative")), samples_(p.get_int("samples")) {
    if (scan_.empty()) throw prunelab::ParamError("ratios", "sensitivity: ratios must not be empty");
    std::sort(scan_.begin(), scan_.end());
  }

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    if (!ctx.evaluator) throw std::runtime_error("sensitivity needs the evaluator");
    const auto t0 = std::chrono::steady_clock::now();
    const auto base = prunelab::pruned_shares(ctx);
    const auto weights = prunelab::unit_weights(ctx);
    const auto ceiling = prunelab::ratio_ceilings(ctx);
    const size_t n = ctx.units.size();

    bool cached = false;
    auto points = scan(ctx, base, cached);
    double base_acc = 0;
    std::vector<std::vector<double>> acc(n, std::vector<double>(scan_.size(), 0.0));
    for (const auto& p : points) {
      if (p.label == kBaseLabel) { base_acc = p.y; continue; }
      for (size_t u = 0; u < n; ++u)
        if (ctx.units[u].name == p.label)
          for (size_t k = 0; k < scan_.size(); ++k)
            if (std::abs(scan_[k] - p.x) < 1e-9) acc[u][k] = p.y;
    }

    // Curves in drop units (relative to the unpruned accuracy if asked).
    const double scale = relative_ ? std::max(base_acc, 1e-12) : 1.0;
    std::vector<Curve> curves(n);
    std::vector<std::vector<double>> raw(n);
    double max_drop = 0;
    for (size_t u = 0; u < n; ++u) {
      curves[u].r.push_back(base[u]);
      curves[u].drop.push_back(0.0);
      raw[u].push_back(0.0);
      for (size_t k = 0; k < scan_.size(); ++k) {
        if (scan_[k] <= base[u]) continue;  // already pruned that far
        const double d = (base_acc - acc[u][k]) / scale;
        curves[u].r.push_back(scan_[k]);
        // A tiny slope makes the envelope strictly increasing: on a plateau of equal drops the
        // tolerable ratio then grows continuously with T instead of jumping, so T can be solved.
        curves[u].drop.push_back(std::max(d, curves[u].drop.back()) + 1e-9 * (scan_[k] - curves[u].r[curves[u].r.size() - 2]));
        raw[u].push_back(d);
        max_drop = std::max(max_drop, d);
      }
    }

    std::vector<double> out(n);
    const auto sparsity = [&](const std::function<double(size_t)>& ratio_of) {
      for (size_t u = 0; u < n; ++u) out[u] = std::clamp(ratio_of(u), base[u], std::max(base[u], ceiling[u]));
      return prunelab::sparsity_of(out, weights);
    };
    const double target = ctx.target_sparsity;
    std::string how;
    double solved = std::nan("");
    if (threshold_ < 0) {
      // Solve for T: the tolerable ratios at T add up to the target.
      const auto at = [&](double t) { return sparsity([&](size_t u) { return curves[u].tolerable(t); }); };
      if (at(max_drop + 1.0) < target) {
        // Even the largest scanned ratios are not enough: every unit goes the same share of the
        // way from there to fully pruned.
        const auto beyond = [&](double b) {
          return sparsity([&](size_t u) { const double r = curves[u].r.back(); return r + b * std::max(0.0, ceiling[u] - r); });
        };
        solved = prunelab::bisect(beyond, 0.0, 1.0, target);
        beyond(solved);
        how = "beyond_scan";
      } else {
        solved = prunelab::bisect(at, 0.0, max_drop + 1.0, target);
        at(solved);
        how = "solved_threshold";
      }
    } else {
      std::vector<double> chosen(n);
      for (size_t u = 0; u < n; ++u) chosen[u] = curves[u].largest_scanned_within(threshold_, raw[u]);
      // One common factor on the pruned-beyond-floor share keeps the sensitivity shape
      // (fit_to_target: and if every unit is at its floor, all go the same share further).
      out = prunelab::fit_to_target(chosen, base, weights, target, ceiling);
      solved = threshold_;
      how = "scaled";
    }

    if (ctx.store) {
      std::ostringstream j;
      j << "{\"rule\":\"" << how << "\",\"value\":" << prunelab::json_number(solved) << ",\"threshold\":" << prunelab::json_number(threshold_)
        << ",\"relative\":" << (relative_ ? "true" : "false") << ",\"base_accuracy\":" << prunelab::json_number(base_acc)
        << ",\"curves_cached\":" << (cached ? "true" : "false") << ",\"curve_key\":\"" << key_ << "\""
        << ",\"search_s\":" << prunelab::json_number(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count())
        << ",\"ratios\":{";
      for (size_t u = 0; u < n; ++u) j << (u ? "," : "") << "\"" << ctx.units[u].name << "\":" << prunelab::json_number(out[u]);
      j << "}}";
      ctx.store->log("sensitivity", j.str());
    }
    return out;
  }

 private:
  /// Every (unit, ratio, accuracy) point and the unpruned accuracy: from the store, or measured.
  std::vector<CurvePoint> scan(const prunelab::RatioContext& ctx, const std::vector<double>& base, bool& cached) {
    std::ostringstream k;
    k << (ctx.store ? ctx.store->state_key() : "") << "|samples=" << samples_ << "|ratios=";
    for (double r : scan_) k << prunelab::json_number(r) << ",";
    key_ = k.str();
    if (ctx.store) {
      auto points = ctx.store->load_curves("sensitivity", key_);
      if (!points.empty()) {
        cached = true;
        return points;
      }
    }
    std::vector<CurvePoint> points{{kBaseLabel, 0.0, ctx.evaluator->accuracy(samples_)}};
    for (size_t u = 0; u < ctx.units.size(); ++u) {
      for (double r : scan_) {
        if (r <= base[u]) continue;
        auto ratios = base;
        ratios[u] = r;
        points.push_back({ctx.units[u].name, r, ctx.evaluator->accuracy_with_ratios(ratios, samples_)});
      }
    }
    if (ctx.store) ctx.store->save_curves("sensitivity", key_, points);
    return points;
  }

  std::vector<double> scan_;
  double threshold_;
  bool relative_;
  int64_t samples_;
  std::string key_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy(
      {"sensitivity", "1.0.0",
       "per-unit sensitivity scan (each unit pruned alone on validation data), largest ratio within an accuracy-drop threshold, fitted to the target",
       {prunelab::ParamSpec{"ratios", prunelab::ParamType::NumberList, std::vector<double>{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9},
         "the ratios each unit is scanned at"}.greater_than(0).less_than(1),
        {"threshold", prunelab::ParamType::Number, -1.0,
         "allowed drop in validation top-1 (a fraction: 0.01 = 1 point); < 0 = solve for the threshold that meets the target"},
        {"relative", prunelab::ParamType::Bool, false, "the threshold is relative to the unpruned accuracy"},
        prunelab::ParamSpec{"samples", prunelab::ParamType::Int, int64_t{1000}, "validation samples per evaluation"}.at_least(1)}},
      [](const prunelab::Params& p) { return std::make_unique<Sensitivity>(p); });
}
