/// Criterion `magnitude`: |w| per element; slices ranked by their Lp norm (p = 1, 2, any p > 0).

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

namespace {

class Magnitude final : public prunelab::Criterion {
 public:
  explicit Magnitude(const prunelab::Params& p) : p_(p.get_number("p")) {
  }
  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    std::vector<at::Tensor> out;
    for (const auto& layer : ctx.layers) out.push_back(layer.weight.detach().abs());
    return out;
  }
  double slice_norm_p() const override { return p_; }

 private:
  double p_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"magnitude", "1.0.0", "|w| per element; a slice scores the Lp norm of its weights",
       {prunelab::ParamSpec{"p", prunelab::ParamType::Number, 1.0, "norm used for slices (1 = L1, 2 = L2)"}.greater_than(0)}},
      [](const prunelab::Params& p) { return std::make_unique<Magnitude>(p); });
}
