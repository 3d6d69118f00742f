/// Schedule `one_shot`: prune to the target once, then fine-tune (epochs: 0 means prune only).

#include <prunelab/plugin_api.hpp>

#include <cmath>

namespace {

class OneShot final : public prunelab::Schedule {
 public:
  explicit OneShot(const prunelab::Params& p) : epochs_(p.get_number("epochs")), lr_(p.get_number("lr")) {}

  std::vector<prunelab::PruneStep> plan(const prunelab::ScheduleContext& ctx) override {
    // Negative epochs = "the config's fine-tuning budget".
    const int64_t steps = epochs_ < 0 ? ctx.budget_steps
                                      : static_cast<int64_t>(std::llround(epochs_ * double(ctx.steps_per_epoch)));
    prunelab::PruneStep step;
    step.target_sparsity = ctx.final_sparsity;
    step.finetune_steps = steps;
    step.finetune_lr = lr_;
    return {step};
  }

 private:
  double epochs_, lr_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_schedule(
      {"one_shot", "1.0.0", "prune to the target once, then fine-tune",
       {{"epochs", prunelab::ParamType::Number, -1.0,
         "fine-tuning epochs after pruning; -1 = finetune.epochs of the config, 0 = prune only"},
        {"lr", prunelab::ParamType::Number, -1.0, "peak fine-tuning LR of every step; -1 = finetune.lr of the config", /*hashed_at_default=*/false}}},
      [](const prunelab::Params& p) { return std::make_unique<OneShot>(p); });
}
