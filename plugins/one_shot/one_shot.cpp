/// Schedule `one_shot`: prune to the target once, then fine-tune (epochs: 0 means prune only).

#include <prunelab/plugin_api.hpp>

#include <cmath>

namespace {

class OneShot final : public prunelab::Schedule {
 public:
  explicit OneShot(const prunelab::Params& p) : epochs_(p.get_number("epochs")) {}

  std::vector<prunelab::PruneStep> plan(const prunelab::ScheduleContext& ctx) override {
    // Negative epochs = "the config's fine-tuning budget".
    const int64_t steps = epochs_ < 0 ? ctx.budget_steps
                                      : static_cast<int64_t>(std::llround(epochs_ * double(ctx.steps_per_epoch)));
    return {{ctx.final_sparsity, steps}};
  }

 private:
  double epochs_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_schedule(
      {"one_shot", "1.0.0", "prune to the target once, then fine-tune",
       {{"epochs", prunelab::ParamType::Number, -1.0,
         "fine-tuning epochs after pruning; -1 = finetune.epochs of the config, 0 = prune only"}}},
      [](const prunelab::Params& p) { return std::make_unique<OneShot>(p); });
}
