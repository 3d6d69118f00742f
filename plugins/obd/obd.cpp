/// Criterion `obd` (Optimal Brain Damage, LeCun et al. 1990): the second-order saliency
/// 1/2 * h_qq * w_q^2, with the Hessian diagonal h estimated by the empirical Fisher: the mean of
/// (dL/dw_q)^2 over calibration batches from the training split.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <stdexcept>

namespace {

class Obd final : public prunelab::Criterion {
 public:
  explicit Obd(const prunelab::Params& p) : batches_(p.get_int("batches")) {
  }

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    if (!ctx.calibration) throw std::runtime_error("obd needs calibration data");
    auto grads = ctx.calibration->gradients(batches_);
    std::vector<at::Tensor> out;
    for (size_t i = 0; i < ctx.layers.size(); ++i) {
      const auto h = grads[i].second / double(batches_);  // empirical Fisher diagonal
      const auto w = ctx.layers[i].weight.detach();
      out.push_back(0.5 * h * w * w);
    }
    return out;
  }

 private:
  int64_t batches_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"obd", "1.0.0", "1/2 * h * w^2 with h the empirical Fisher diagonal over calibration batches",
       {prunelab::ParamSpec{"batches", prunelab::ParamType::Int, int64_t{8}, "calibration batches from the training split"}.at_least(1)}},
      [](const prunelab::Params& p) { return std::make_unique<Obd>(p); });
}
