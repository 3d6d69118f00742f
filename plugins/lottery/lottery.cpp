/// Schedule `lottery`: iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle
/// et al. 2020). Each round prunes the same fraction of the remaining weights, resets the
/// survivors to their values at dense-training step `rewind` (0 = initialisation), and retrains.
/// `reinit: true` resets them to a fresh random initialisation instead: the control.

#include <prunelab/plugin_api.hpp>

#include <cmath>

namespace {

class Lottery final : public prunelab::Schedule {
 public:
  explicit Lottery(const prunelab::Params& p)
      : rounds_(p.get_int("rounds")), rewind_(p.get_int("rewind")), reinit_(p.get_bool("reinit")),
        epochs_(p.get_number("epochs")), budget_(p.get_string("budget")), lr_(p.get_number("lr")) {
    if (reinit_ && rewind_ > 0) throw prunelab::ParamError("rewind", "lottery: reinit draws a fresh initialisation; leave rewind at 0");
  }

  std::vector<prunelab::PruneStep> plan(const prunelab::ScheduleContext& ctx) override {
    if (rewind_ > ctx.dense_steps)
      throw prunelab::ParamError("lottery: rewind is beyond the dense training's last step");
    const int64_t total = epochs_ < 0 ? ctx.budget_steps
                                      : static_cast<int64_t>(std::llround(epochs_ * double(ctx.steps_per_epoch)));
    std::vector<prunelab::PruneStep> plan;
    const double keep = 1.0 - ctx.final_sparsity;
    for (int64_t k = 1; k <= rounds_; ++k) {
      prunelab::PruneStep s;
      // Geometric: every round prunes the same fraction of what is left.
      s.target_sparsity = k == rounds_ ? ctx.final_sparsity
                                       : std::round((1.0 - std::pow(keep, double(k) / double(rounds_))) * 1e9) / 1e9;
      s.finetune_steps = budget_ == "per_round" ? total : total / rounds_ + (k > rounds_ - total % rounds_ ? 1 : 0);
      s.rewind_to_step = rewind_;
      s.random_reinit = reinit_;
      s.finetune_lr = lr_;
      plan.push_back(s);
    }
    return plan;
  }

 private:
  int64_t rounds_, rewind_;
  bool reinit_;
  double epochs_;
  std::string budget_;
  double lr_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_schedule(
      {"lottery", "1.0.0", "iterative magnitude pruning, rewinding survivors before each retraining",
       {prunelab::ParamSpec{"rounds", prunelab::ParamType::Int, int64_t{3}, "prune-rewind-retrain rounds (geometric targets)"}.at_least(1),
        prunelab::ParamSpec{"rewind", prunelab::ParamType::Int, int64_t{0}, "dense-training step to rewind to (0 = initialisation)"}.at_least(0),
        {"reinit", prunelab::ParamType::Bool, false, "rewind to a fresh random initialisation (the control)"},
        {"epochs", prunelab::ParamType::Number, -1.0, "retraining epochs; -1 = finetune.epochs of the config"},
        prunelab::ParamSpec{"budget", prunelab::ParamType::String, std::string("total"),
         "'total': epochs split over the rounds; 'per_round': epochs after every round"}.one_of({"total", "per_round"}),
        {"lr", prunelab::ParamType::Number, -1.0, "peak retraining LR of every round; -1 = finetune.lr (rewound weights often want the dense LR)"}}},
      [](const prunelab::Params& p) { return std::make_unique<Lottery>(p); });
}
