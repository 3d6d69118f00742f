/// Example out-of-tree criterion `taylor_lite`: first-order Taylor scores |w * dL/dw| from a few
/// calibration batches (the framework's Calibration hook), reduced over slices by the L1 norm.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

namespace {

class TaylorLite final : public prunelab::Criterion {
 public:
  explicit TaylorLite(const prunelab::Params& p) : batches_(p.get_int("batches")) {}  // >= 1: declared below

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    if (!ctx.calibration) throw std::runtime_error("taylor_lite needs calibration data");
    auto grads = ctx.calibration->gradients(batches_);  // per layer {sum of dL/dW, sum of squares}
    std::vector<at::Tensor> out;
    for (size_t i = 0; i < ctx.layers.size(); ++i)
      out.push_back((ctx.layers[i].weight.detach() * grads[i].first / double(batches_)).abs());
    return out;
  }

 private:
  int64_t batches_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"taylor_lite", "0.1.0", "|w * dL/dw| averaged over calibration batches (out-of-tree example)",
       {prunelab::ParamSpec{"batches", prunelab::ParamType::Int, int64_t{4}, "calibration batches from the training split"}.at_least(1)}},
      [](const prunelab::Params& p) { return std::make_unique<TaylorLite>(p); });
}
