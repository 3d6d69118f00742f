/// Criterion `taylor` (Molchanov et al. 2017/2019): first-order estimate of the loss change when a
/// weight is removed, |w * dL/dw|, with the gradient averaged over calibration batches from the
/// training split. Slices sum the element scores (p = 1).

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

namespace {

class Taylor final : public prunelab::Criterion {
 public:
  explicit Taylor(const prunelab::Params& p) : batches_(p.get_int("batches")) {
  }

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    if (!ctx.calibration) throw std::runtime_error("taylor needs calibration data");
    auto grads = ctx.calibration->gradients(batches_);
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
      {"taylor", "1.0.0", "|w * mean dL/dw| over calibration batches (first-order Taylor)",
       {prunelab::ParamSpec{"batches", prunelab::ParamType::Int, int64_t{8}, "calibration batches from the training split"}.at_least(1)}},
      [](const prunelab::Params& p) { return std::make_unique<Taylor>(p); });
}
