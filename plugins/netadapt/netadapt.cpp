/// Ratio policy `netadapt` (Yang et al. 2018): shrink the network step by step for latency.
/// Each iteration sets a latency target ΔR below the current one; for every prune unit it
/// proposes the widest version of that unit alone (fewest channels removed, the criterion's
/// lowest-scored first) whose estimated latency meets the target; each proposal is fine-tuned
/// for a few steps and evaluated on a validation subset; the most accurate proposal is kept.
/// ΔR shrinks by `decay` each iteration. Latency comes from the framework's per-layer lookup
/// table measured on this machine (Evaluator::latency_ms_with_ratios).
///
/// Differences from the paper, on purpose:
/// - the run's target is a sparsity (every run must meet its target), so iterations stop when
///   the units' sparsity reaches it and the last proposal is trimmed to meet it exactly;
///   latency decides which unit shrinks at each iteration;
/// - a proposal's short fine-tuning (plain SGD with the run's fine-tuning optimiser settings, no
///   distillation) starts from the step's weights and is undone afterwards (only the chosen
///   ratios carry over); the long fine-tuning is the schedule's.
/// Every iteration (all proposals, the choice, latency, accuracy) is logged in `search_log`.

#include <prunelab/plugin_api.hpp>
#include <prunelab/ratio_tools.hpp>

#include <ATen/ATen.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace {

class NetAdapt final : public prunelab::RatioPolicy {
 public:
  explicit NetAdapt(const prunelab::Params& p)
      : reduction_(p.get_number("reduction")), decay_(p.get_number("decay")), steps_(p.get_int("short_steps")),
        samples_(p.get_int("samples")), max_iterations_(p.get_int("max_iterations")) {
    std::ostringstream s;
    s << "reduction=" << reduction_ << ",decay=" << decay_ << ",steps=" << steps_ << ",samples=" << samples_
      << ",max_iterations=" << max_iterations_;
    settings_ = s.str();
  }

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    if (ctx.granularity.kind != prunelab::GranularityKind::Channel)
      throw std::runtime_error("netadapt shrinks channels for latency: use it with granularity: channel");
    if (!ctx.evaluator) throw std::runtime_error("netadapt needs the evaluator");
    return prunelab::reuse_or_search(ctx, "netadapt", settings_, [&] { return search(ctx); });
  }

 private:
  std::vector<double> search(const prunelab::RatioContext& ctx) {
    const auto t0 = std::chrono::steady_clock::now();
    const size_t n = ctx.units.size();
    const auto floor = prunelab::pruned_shares(ctx);
    const auto weights = prunelab::unit_weights(ctx);
    const double target = ctx.target_sparsity;

    auto current = floor, previous = floor;
    double latency = ctx.evaluator->latency_ms_with_ratios(current);
    const double start_latency = latency;
    double delta = reduction_ * start_latency;
    int64_t iteration = 0;
    while (prunelab::sparsity_of(current, weights) < target - 1e-12 && iteration < max_iterations_) {
      struct Proposal { size_t unit; double ratio, latency, accuracy; };
      std::vector<Proposal> proposals;
      double want = latency - delta;
      // If no unit can cut that much on its own, ask for half as much (up to 5 times).
      for (int attempt = 0; attempt < 6; ++attempt) {
        if (attempt > 0) {
          delta *= 0.5;
          want = latency - delta;
        }
        for (size_t u = 0; u < n; ++u) {
          const int64_t c = ctx.units[u].slices;
          for (int64_t k = std::llround(current[u] * double(c)) + 1; k < c; ++k) {
            auto trial = current;
            trial[u] = double(k) / double(c);
            const double l = ctx.evaluator->latency_ms_with_ratios(trial);
            if (l <= want) {
              proposals.push_back({u, trial[u], l, 0.0});
              break;
            }
          }
        }
        if (!proposals.empty()) break;
      }
      if (proposals.empty()) break;  // no unit can shrink latency any more
      for (auto& p : proposals) {
        auto trial = current;
        trial[p.unit] = p.ratio;
        p.accuracy = ctx.evaluator->accuracy_after_finetune(trial, steps_, samples_);
      }
      const auto best = *std::max_element(proposals.begin(), proposals.end(),
                                          [](const Proposal& a, const Proposal& b) { return a.accuracy < b.accuracy; });
      previous = current;
      current[best.unit] = best.ratio;
      latency = best.latency;
      if (ctx.store) {
        std::ostringstream j;
        j << "{\"iteration\":" << iteration << ",\"target_ms\":" << prunelab::json_number(want) << ",\"chosen\":\""
          << ctx.units[best.unit].name << "\",\"latency_ms\":" << prunelab::json_number(latency) << ",\"accuracy\":"
          << prunelab::json_number(best.accuracy) << ",\"sparsity\":" << prunelab::json_number(prunelab::sparsity_of(current, weights))
          << ",\"proposals\":[";
        for (size_t i = 0; i < proposals.size(); ++i)
          j << (i ? "," : "") << "{\"unit\":\"" << ctx.units[proposals[i].unit].name << "\",\"ratio\":"
            << prunelab::json_number(proposals[i].ratio) << ",\"latency_ms\":" << prunelab::json_number(proposals[i].latency)
            << ",\"accuracy\":" << prunelab::json_number(proposals[i].accuracy) << "}";
        j << "]}";
        ctx.store->log("netadapt_iteration", j.str());
      }
      delta *= decay_;
      ++iteration;
    }
    // Exactly the target: trim the last iteration's step (or, if the iterations ran out, scale up).
    const bool over = prunelab::sparsity_of(current, weights) >= target;
    const auto out = prunelab::fit_to_target(current, over ? previous : floor, weights, target, prunelab::ratio_ceilings(ctx));
    if (ctx.store) {
      std::ostringstream j;
      j << "{\"iterations\":" << iteration << ",\"start_latency_ms\":" << prunelab::json_number(start_latency)
        << ",\"latency_ms\":" << prunelab::json_number(ctx.evaluator->latency_ms_with_ratios(out)) << ",\"search_s\":"
        << prunelab::json_number(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) << ",\"ratios\":{";
      for (size_t u = 0; u < n; ++u) j << (u ? "," : "") << "\"" << ctx.units[u].name << "\":" << prunelab::json_number(out[u]);
      j << "}}";
      ctx.store->log("netadapt", j.str());
    }
    return out;
  }

  double reduction_, decay_;
  int64_t steps_, samples_, max_iterations_;
  std::string settings_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy(
      {"netadapt", "1.0.0",
       "NetAdapt: per iteration, shrink the one unit whose latency-meeting proposal is most accurate after a short fine-tune",
       {prunelab::ParamSpec{"reduction", prunelab::ParamType::Number, 0.05, "first latency reduction per iteration, as a fraction of the starting latency"}.greater_than(0).less_than(1),
        prunelab::ParamSpec{"decay", prunelab::ParamType::Number, 0.96, "the reduction is multiplied by this after every iteration"}.greater_than(0).at_most(1),
        prunelab::ParamSpec{"short_steps", prunelab::ParamType::Int, int64_t{10}, "fine-tuning steps of every proposal"}.at_least(0),
        prunelab::ParamSpec{"samples", prunelab::ParamType::Int, int64_t{500}, "validation samples per proposal evaluation"}.at_least(1),
        prunelab::ParamSpec{"max_iterations", prunelab::ParamType::Int, int64_t{100}, "stop after this many iterations (then scale to the target)"}.at_least(1)}},
      [](const prunelab::Params& p) { return std::make_unique<NetAdapt>(p); });
}
