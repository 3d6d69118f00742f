/// Schedule `agp`: Zhu & Gupta's automated gradual pruning. Sparsity follows
///   s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3,  t = t0, t0 + dt, ..., t0 + n * dt,
/// pruning every dt optimizer steps while training continues (one optimizer, one LR schedule),
/// then fine-tuning at s_f for the rest of the budget.

#include <prunelab/plugin_api.hpp>

#include <algorithm>
#include <cmath>

namespace {

class Agp final : public prunelab::Schedule {
 public:
  explicit Agp(const prunelab::Params& p)
      : initial_(p.get_number("initial")), begin_(p.get_number("begin")), end_(p.get_number("end")),
        frequency_(p.get_int("frequency")), epochs_(p.get_number("epochs")), lr_(p.get_number("lr")) {
    if (end_ >= 0 && end_ <= begin_) throw prunelab::ParamError("end", "agp: end must come after begin (or be -1)");
  }

  std::vector<prunelab::PruneStep> plan(const prunelab::ScheduleContext& ctx) override {
    const auto steps = [&](double epochs) { return static_cast<int64_t>(std::llround(epochs * double(ctx.steps_per_epoch))); };
    const int64_t total = epochs_ < 0 ? ctx.budget_steps : steps(epochs_);
    const int64_t t0 = std::min(total, steps(begin_));
    // By default pruning ends after 3/4 of the training, leaving the last quarter to recover.
    const int64_t t_end = std::max(t0, std::min(total, end_ < 0 ? (total * 3) / 4 : steps(end_)));
    const int64_t span = t_end - t0;
    const int64_t dt = std::max<int64_t>(1, frequency_ > 0 ? frequency_ : span / 10);
    const int64_t n = std::max<int64_t>(1, span / dt);
    const double si = std::min(initial_, ctx.final_sparsity), sf = ctx.final_sparsity;
    std::vector<prunelab::PruneStep> plan;
    // The framework prunes before a step's training: a first step that prunes nothing trains
    // up to t0, so the first real pruning happens at t0.
    if (t0 > 0) plan.push_back({0.0, t0});
    for (int64_t k = 0; k <= n; ++k) {
      const double frac = 1.0 - double(k) / double(n);
      prunelab::PruneStep s;
      // Rounded to 1e-9 so the last target is exactly the run's sparsity.
      s.target_sparsity = k == n ? sf : std::round((sf + (si - sf) * frac * frac * frac) * 1e9) / 1e9;
      s.finetune_steps = k < n ? dt : 0;
      s.continue_training = k > 0 || t0 > 0;
      s.finetune_lr = lr_;
      plan.push_back(s);
    }
    // Training after the last pruning, so the total is exactly `total`.
    int64_t used = 0;
    for (const auto& s : plan) used += s.finetune_steps;
    plan.back().finetune_steps += std::max<int64_t>(0, total - used);
    if (used > total) {  // a budget too short for n * dt: spread what there is
      for (auto& s : plan) s.finetune_steps = 0;
      for (int64_t i = 0; i < total; ++i) ++plan[static_cast<size_t>(i) % plan.size()].finetune_steps;
    }
    return plan;
  }

 private:
  double initial_, begin_, end_;
  int64_t frequency_;
  double epochs_, lr_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_schedule(
      {"agp", "1.0.0", "gradual pruning during training with a cubic sparsity ramp (Zhu & Gupta 2017)",
       {prunelab::ParamSpec{"initial", prunelab::ParamType::Number, 0.0, "s_i, the sparsity of the first pruning"}.at_least(0).less_than(1),
        prunelab::ParamSpec{"begin", prunelab::ParamType::Number, 0.0, "t0 in epochs of the schedule's training"}.at_least(0),
        {"end", prunelab::ParamType::Number, -1.0, "when s_f is reached, in epochs; -1 = after 3/4 of the training"},
        prunelab::ParamSpec{"frequency", prunelab::ParamType::Int, int64_t{0}, "dt, optimizer steps between prunings; 0 = (end - begin) / 10"}.at_least(0),
        {"epochs", prunelab::ParamType::Number, -1.0, "the whole training; -1 = finetune.epochs of the config"},
        {"lr", prunelab::ParamType::Number, -1.0, "peak LR of the training; -1 = finetune.lr of the config"}}},
      [](const prunelab::Params& p) { return std::make_unique<Agp>(p); });
}
