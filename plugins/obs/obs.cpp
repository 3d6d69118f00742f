/// Criterion `obs`: layer-wise Optimal Brain Surgeon (Hassibi & Stork 1993, in the layer-wise form
/// of Optimal Brain Compression / SparseGPT). Per layer, H = 2 X^T X / n from the layer's inputs on
/// calibration batches (im2col patches for convs) plus damping; a weight scores
/// w_q^2 / (2 [H^-1]_qq). After the mask is chosen, every output row's surviving weights are
/// refitted to minimise the change of the layer's output: w_K += H_KK^-1 H_KP w_P.
/// Layers are treated independently, with the inputs of the model before this step's pruning.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <map>
#include <stdexcept>

namespace {

class Obs final : public prunelab::Criterion {
 public:
  explicit Obs(const prunelab::Params& p)
      : batches_(p.get_int("batches")), damp_(p.get_number("damp")), update_(p.get_bool("update")) {
  }

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    if (!ctx.calibration) throw std::runtime_error("obs needs calibration data");
    hessians_.clear();
    before_.clear();
    std::vector<at::Tensor> out;
    for (const auto& layer : ctx.layers) {
      at::Tensor h = hessian(layer, ctx.calibration->layer_inputs(layer.name, batches_));
      at::Tensor hinv = at::linalg_inv(h);
      hessians_[layer.name] = h;
      before_[layer.name] = layer.weight.detach().clone();  // the framework zeroes pruned weights before after_masking
      const auto w = rows(layer.weight).to(at::kDouble);
      out.push_back((w * w / (2.0 * hinv.diagonal().unsqueeze(0))).reshape(layer.weight.sizes()).to(at::kFloat));
    }
    return out;
  }

  void after_masking(prunelab::CriterionContext& ctx) override {
    if (!update_) return;
    for (auto& layer : ctx.layers) {
      const at::Tensor& h = hessians_.at(layer.name);
      auto w = rows(before_.at(layer.name)).to(at::kDouble).clone();
      const auto keep = rows(layer.mask).gt(0);
      for (int64_t r = 0; r < w.size(0); ++r) {
        const auto k = keep[r].nonzero().flatten(), p = keep[r].logical_not().nonzero().flatten();
        if (k.numel() == 0 || p.numel() == 0) continue;
        const auto wp = w[r].index_select(0, p);
        if (wp.abs().max().item<double>() == 0.0) continue;  // nothing newly removed in this row
        const auto hkk = h.index_select(0, k).index_select(1, k);
        const auto hkp = h.index_select(0, k).index_select(1, p);
        const auto delta = at::linalg_solve(hkk, hkp.matmul(wp));
        w[r].index_add_(0, k, delta);
      }
      // The framework re-applies the mask afterwards; write the refitted rows back in place.
      layer.weight.copy_(w.reshape(layer.weight.sizes()).to(layer.weight.scalar_type()));
    }
  }

 private:
  // [out, in * kh * kw] in the same (in, kh, kw) order as im2col.
  static at::Tensor rows(const at::Tensor& w) { return w.detach().reshape({w.size(0), -1}); }

  at::Tensor hessian(const prunelab::LayerView& layer, const at::Tensor& inputs) const {
    if (layer.kind == prunelab::LayerKind::Conv2d && (layer.groups != 1 || !layer.geometry_known))
      throw std::runtime_error("obs: layer '" + layer.name + "' is a grouped conv or has a non-square stride/padding; "
                               "keep it dense (model.keep_dense) or use another criterion");
    const int64_t d = rows(layer.weight).size(1);
    at::Tensor h = at::zeros({d, d}, inputs.options().dtype(at::kDouble));
    int64_t n = 0;
    // Chunks keep the im2col patches of early convs small.
    for (int64_t start = 0; start < inputs.size(0); start += 64) {
      auto x = inputs.narrow(0, start, std::min<int64_t>(64, inputs.size(0) - start)).to(at::kDouble);
      if (layer.kind == prunelab::LayerKind::Conv2d) {
        const int64_t k = layer.weight.size(2);
        x = at::im2col(x.contiguous(), {k, k}, {layer.dilation, layer.dilation}, {layer.padding, layer.padding},
                       {layer.stride, layer.stride});
        x = x.transpose(1, 2).reshape({-1, d});  // one row per output position
      } else {
        x = x.reshape({-1, d});  // a linear layer applied to every token of a sequence: one row each
      }
      h.addmm_(x.t(), x);
      n += x.size(0);
    }
    h.mul_(2.0 / double(std::max<int64_t>(n, 1)));
    const double mean_diag = h.diagonal().mean().item<double>();
    h.diagonal().add_(damp_ * (mean_diag > 0 ? mean_diag : 1.0));
    return h;
  }

  int64_t batches_;
  double damp_;
  bool update_;
  std::map<std::string, at::Tensor> hessians_;  // from the last score(), used by after_masking()
  std::map<std::string, at::Tensor> before_;    // weights as score() saw them
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"obs", "1.0.0",
       "layer-wise Optimal Brain Surgeon: w^2 / (2 [H^-1]_qq) with H = 2XX^T/n, then a least-squares refit of the kept weights",
       {prunelab::ParamSpec{"batches", prunelab::ParamType::Int, int64_t{4}, "calibration batches whose layer inputs form H"}.at_least(1),
        prunelab::ParamSpec{"damp", prunelab::ParamType::Number, 0.01, "added to H's diagonal, as a fraction of its mean"}.at_least(0),
        {"update", prunelab::ParamType::Bool, true, "refit the surviving weights after masking"}}},
      [](const prunelab::Params& p) { return std::make_unique<Obs>(p); });
}
