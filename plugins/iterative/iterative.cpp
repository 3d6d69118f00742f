/// Schedule `iterative`: prune in steps (0.3, 0.5, 0.7, ... up to the target), fine-tuning after each.

#include <prunelab/plugin_api.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace {

class Iterative final : public prunelab::Schedule {
 public:
  explicit Iterative(const prunelab::Params& p)
      : steps_(p.get_number_list("steps")), start_(p.get_number("start")), increment_(p.get_number("increment")),
        epochs_(p.get_number("epochs")), budget_(p.get_string("budget")) {
    if (budget_ != "total" && budget_ != "per_step")
      throw prunelab::ParamError("iterative: budget must be 'total' or 'per_step'");
    if (!(increment_ >= 0.01 && increment_ < 1)) throw prunelab::ParamError("iterative: increment must be in [0.01, 1)");
    if (!(start_ > 0 && start_ < 1)) throw prunelab::ParamError("iterative: start must be in (0, 1)");
    for (double s : steps_)
      if (!(s > 0 && s < 1)) throw prunelab::ParamError("iterative: every entry of steps must be in (0, 1)");
  }

  std::vector<prunelab::PruneStep> plan(const prunelab::ScheduleContext& ctx) override {
    std::vector<double> targets;
    if (!steps_.empty()) {
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
      plan.push_back({targets[i], ft});
    }
    return plan;
  }

 private:
  std::vector<double> steps_;
  double start_, increment_, epochs_;
  std::string budget_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_schedule(
      {"iterative", "1.0.0", "prune step by step towards the target, fine-tuning after each step",
       {{"steps", prunelab::ParamType::NumberList, std::vector<double>{},
         "explicit intermediate targets (default: start, start+increment, ...)"},
        {"start", prunelab::ParamType::Number, 0.3, "first target when steps is empty"},
        {"increment", prunelab::ParamType::Number, 0.2, "distance between targets when steps is empty"},
        {"epochs", prunelab::ParamType::Number, -1.0, "fine-tuning epochs; -1 = finetune.epochs of the config"},
        {"budget", prunelab::ParamType::String, std::string("total"),
         "'total': epochs split over the steps; 'per_step': epochs after every step"}}},
      [](const prunelab::Params& p) { return std::make_unique<Iterative>(p); });
}
