/// Schedule `iterative`: prune in steps (0.3, 0.5, 0.7, ... up to the target, an explicit list, or
/// `count` steps by a linear or geometric rule), fine-tuning after each.

#include <prunelab/plugin_api.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace {

class Iterative final : public prunelab::Schedule {
 public:
  explicit Iterative(const prunelab::Params& p)
      : steps_(p.get_number_list("steps")), start_(p.get_number("start")), increment_(p.get_number("increment")),
        epochs_(p.get_number("epochs")), budget_(p.get_string("budget")), count_(p.get_int("count")),
        rule_(p.get_string("rule")), lr_(p.get_number("lr")) {
    if (count_ > 0 && !steps_.empty()) throw prunelab::ParamError("count", "iterative: give either steps or count, not both");
  }

  std::vector<prunelab::PruneStep> plan(const prunelab::ScheduleContext& ctx) override {
    std::vector<double> targets;
    if (count_ > 0) {
      // k = 1..count-1 below the target: linear s*k/n, or geometric 1-(1-s)^(k/n), which prunes
      // the same fraction of the remaining weights at every step.
      const double s = ctx.final_sparsity, n = double(count_);
      for (int64_t k = 1; k < count_; ++k)
        targets.push_back(rule_ == "linear" ? s * double(k) / n : 1.0 - std::pow(1.0 - s, double(k) / n));
    } else if (!steps_.empty()) {
      // Explicit targets below the final one, then the final target itself.
      for (double s : steps_)
        if (s < ctx.final_sparsity - 1e-9) targets.push_back(s);
    } else {
      for (int64_t i = 0;; ++i) {
        // Rounded so 0.3 + 3 * 0.2 is 0.9, not 0.8999999999999999.
        const double s = std::round((start_ + double(i) * increment_) * 1e9) / 1e9;
        if (s >= ctx.final_sparsity - 1e-9) break;
        targets.push_back(s);
      }
    }
    std::sort(targets.begin(), targets.end());
    targets.push_back(ctx.final_sparsity);

    const int64_t total = epochs_ < 0 ? ctx.budget_steps
                                      : static_cast<int64_t>(std::llround(epochs_ * double(ctx.steps_per_epoch)));
    std::vector<prunelab::PruneStep> plan;
    const auto n = static_cast<int64_t>(targets.size());
    for (int64_t i = 0; i < n; ++i) {
      // "total": the budget is split evenly (remainder to the last steps), so one-shot and
      // iterative train for exactly the same number of optimizer steps.
      const int64_t ft = budget_ == "per_step" ? total : total / n + (i >= n - total % n ? 1 : 0);
      prunelab::PruneStep step;
      step.target_sparsity = targets[i];
      step.finetune_steps = ft;
      step.finetune_lr = lr_;
      plan.push_back(step);
    }
    return plan;
  }

 private:
  std::vector<double> steps_;
  double start_, increment_, epochs_;
  std::string budget_;
  int64_t count_;
  std::string rule_;
  double lr_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_schedule(
      {"iterative", "1.0.0", "prune step by step towards the target, fine-tuning after each step",
       {prunelab::ParamSpec{"steps", prunelab::ParamType::NumberList, std::vector<double>{},
         "explicit intermediate targets (default: start, start+increment, ...)"}.greater_than(0).less_than(1),
        prunelab::ParamSpec{"start", prunelab::ParamType::Number, 0.3, "first target when steps is empty"}.greater_than(0).less_than(1),
        prunelab::ParamSpec{"increment", prunelab::ParamType::Number, 0.2, "distance between targets when steps is empty"}.at_least(0.01).less_than(1),
        {"epochs", prunelab::ParamType::Number, -1.0, "fine-tuning epochs; -1 = finetune.epochs of the config"},
        prunelab::ParamSpec{"budget", prunelab::ParamType::String, std::string("total"),
         "'total': epochs split over the steps; 'per_step': epochs after every step"}.one_of({"total", "per_step"}),
        prunelab::ParamSpec{"count", prunelab::ParamType::Int, int64_t{0}, "number of steps by `rule` (0 = start/increment or steps)",
         /*hashed_at_default=*/false}.at_least(0),
        prunelab::ParamSpec{"rule", prunelab::ParamType::String, std::string("linear"),
         "with count: 'linear' (equal sparsity steps) or 'geometric' (the same fraction of the remaining weights each step)",
         /*hashed_at_default=*/false}.one_of({"linear", "geometric"}),
        {"lr", prunelab::ParamType::Number, -1.0, "peak fine-tuning LR of every step; -1 = finetune.lr of the config", /*hashed_at_default=*/false}}},
      [](const prunelab::Params& p) { return std::make_unique<Iterative>(p); });
}
