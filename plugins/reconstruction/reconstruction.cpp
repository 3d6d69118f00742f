/// Criterion `reconstruction`: ThiNet-style channel selection (Luo et al. 2017) with a
/// least-squares refit of the next layer (as in He et al. 2017's channel pruning).
///
/// A channel is judged by what its removal does to the output of the layers that read it, not by
/// its own weights. On calibration data, for every consumer k of a channel unit, the output at
/// sampled positions is a sum of per-channel contributions y = sum_c x_c (x_c = the consumer's
/// weights for input channel c applied to that channel's patch). Removing a set T changes the
/// output by sum_{c in T} x_c, so the greedy ThiNet order adds, step by step, the channel that
/// keeps ||sum_{c in T} x_c||^2 smallest, computed from the Gram matrix G_cd = <x_c, x_d> (summed
/// over consumers, each normalised by its output energy ||y||^2). A channel's score is its place in
/// that removal order, scaled to (0, 1]: the first removed scores lowest, so pruning the r lowest
/// is exactly greedy selection for every ratio. Scores are ranks, comparable across units only as
/// fractions: use it with `uniform` (or a policy that sets per-unit ratios), not `global`.
///
/// After masking, each consumer (in forward order) is refitted: its kept input columns are solved
/// by ridge least squares so that, on the pruned model's actual inputs, it reproduces the output
/// the unpruned model gave at the same sampled positions (errors of earlier layers included).

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>

namespace {

using prunelab::LayerKind;
using prunelab::LayerView;

class Reconstruction final : public prunelab::Criterion {
 public:
  explicit Reconstruction(const prunelab::Params& p)
      : batches_(p.get_int("batches")), positions_(p.get_int("positions")),
        damp_(p.get_number("damp")), refit_(p.get_bool("refit")) {
  }

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    if (ctx.granularity.kind != prunelab::GranularityKind::Channel)
      throw std::runtime_error("reconstruction selects channels: use it with granularity: channel");
    if (!ctx.calibration) throw std::runtime_error("reconstruction needs calibration data");
    if (!ctx.units) throw std::runtime_error("reconstruction needs the prune units (CriterionContext::units)");
    targets_.clear();
    std::vector<at::Tensor> out;
    // Layers outside every unit are not pruned; their scores only need the right shape.
    for (const auto& layer : ctx.layers) out.push_back(at::ones({layer.weight.size(0)}, layer.weight.options()));
    for (const auto& unit : *ctx.units) {
      if (unit.slices < 1) continue;
      if (unit.consumers.empty()) {
        // Nothing reads the channels (a model's output layer): fall back to the filters' L1 norm.
        for (size_t p : unit.layers) out[p] = rows(ctx.layers[p].weight).abs().sum(1);
        continue;
      }
      at::Tensor gram = at::zeros({unit.slices, unit.slices}, at::kDouble);
      for (const auto& consumer : unit.consumers) gram += consumer_gram(ctx, consumer, unit.slices);
      const auto order = greedy_rank(gram, already_pruned(ctx, unit));
      const auto s = (order.to(at::kFloat) + 1.0f) / float(unit.slices * int64_t(unit.layers.size()));
      // The framework sums a unit's producers' scores.
      for (size_t p : unit.layers) out[p] = s.to(ctx.layers[p].weight.device());
    }
    return out;
  }

  void after_masking(prunelab::CriterionContext& ctx) override {
    if (!refit_) return;
    // Forward order, re-reading the inputs after each refit: a consumer compensates for the
    // changes of everything before it.
    for (auto& [index, target] : targets_) {
      auto& layer = ctx.layers[index];
      const auto patches = sample_patches(layer, ctx.calibration->layer_inputs(layer.name, batches_), target.rows)
                               .to(at::kDouble);
      const auto mask = rows(layer.mask).cpu();
      const auto alive = mask.ne(0).any(0);
      if (at::equal(alive, target.alive)) continue;  // no input of this layer was pruned in this step
      const auto keep = alive.nonzero().flatten();  // input columns still alive
      if (keep.numel() == 0) continue;
      const auto x = patches.index_select(1, keep);
      auto a = x.t().matmul(x);
      const double mean_diag = a.diagonal().mean().item<double>();
      // A tiny floor keeps the system solvable with damp: 0 and fewer rows than columns.
      a.diagonal().add_(std::max(damp_, 1e-10) * (mean_diag > 0 ? mean_diag : 1.0));
      const auto solved = at::linalg_solve(a, x.t().matmul(target.output));  // [kept, out]
      auto w = at::zeros(mask.sizes(), at::kDouble);
      w.index_copy_(1, keep, solved.t());
      w.mul_(mask.to(at::kDouble));
      layer.weight.copy_(w.reshape(layer.weight.sizes()).to(layer.weight.scalar_type()));
    }
  }

 private:
  struct Target {
    at::Tensor rows;    // sampled (image, position) rows, int64, sorted
    at::Tensor output;  // the consumer's output there before pruning, [rows, out] (bias excluded)
    at::Tensor alive;   // which input columns were alive before pruning
  };

  // [out, in * kh * kw] in the same (in, kh, kw) order as im2col.
  static at::Tensor rows(const at::Tensor& w) { return w.detach().reshape({w.size(0), -1}); }

  static int64_t positions_per_input(const LayerView& layer, const at::Tensor& inputs) {
    if (layer.kind == LayerKind::Linear) return 1;
    const int64_t k = layer.weight.size(2);
    if (layer.groups != 1 || !layer.geometry_known)
      throw std::runtime_error("reconstruction: consumer '" + layer.name + "' is a grouped conv or has a non-square "
                               "stride/padding, which the least-squares refit does not model");
    const auto out = [&](int64_t in) { return (in + 2 * layer.padding - layer.dilation * (k - 1) - 1) / layer.stride + 1; };
    return out(inputs.size(2)) * out(inputs.size(3));
  }

  /// The consumer's input patches at the given rows: [rows, in * kh * kw].
  static at::Tensor sample_patches(const LayerView& layer, const at::Tensor& inputs, const at::Tensor& sampled) {
    if (layer.kind == LayerKind::Linear) return inputs.reshape({inputs.size(0), -1}).index_select(0, sampled.to(inputs.device())).cpu();
    const int64_t k = layer.weight.size(2), per = positions_per_input(layer, inputs);
    std::vector<at::Tensor> parts;
    for (int64_t start = 0; start < inputs.size(0); start += 32) {  // im2col of a few images at a time
      const int64_t n = std::min<int64_t>(32, inputs.size(0) - start);
      const auto in_chunk = sampled.ge(start * per).logical_and(sampled.lt((start + n) * per));
      if (!in_chunk.any().item<bool>()) continue;
      auto cols = at::im2col(inputs.narrow(0, start, n).contiguous(), {k, k}, {layer.dilation, layer.dilation},
                             {layer.padding, layer.padding}, {layer.stride, layer.stride});
      cols = cols.transpose(1, 2).reshape({n * per, -1});
      parts.push_back(cols.index_select(0, (sampled.masked_select(in_chunk) - start * per).to(cols.device())).cpu());
    }
    return at::cat(parts);
  }

  /// Gram matrix of the unit's channel contributions to one consumer's sampled outputs, divided
  /// by the output energy; records the consumer's pre-pruning output for the refit.
  at::Tensor consumer_gram(prunelab::CriterionContext& ctx, const prunelab::UnitConsumer& consumer, int64_t channels) {
    const auto& layer = ctx.layers.at(consumer.layer);
    if (consumer.in_offset != 0 || (consumer.length >= 0 && consumer.length != channels))
      throw std::runtime_error("reconstruction: consumer '" + layer.name + "' reads the unit's channels among others "
                               "(after a concatenation), which the refit does not model");
    const auto inputs = ctx.calibration->layer_inputs(layer.name, batches_);
    const int64_t total = inputs.size(0) * positions_per_input(layer, inputs);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(ctx.seed * 1000003ULL + consumer.layer + 17);
    const auto sampled = std::get<0>(at::randperm(total, gen).narrow(0, 0, std::min(positions_, total)).sort());
    const auto patches = sample_patches(layer, inputs, sampled).to(at::kFloat);    // [m, in*K]
    const auto w = rows(layer.weight).cpu().to(at::kFloat);                         // [out, in*K]
    if (w.size(1) % channels != 0)
      throw std::runtime_error("reconstruction: consumer '" + layer.name + "' inputs do not split into the unit's channels");
    const int64_t per = w.size(1) / channels;
    // contribution[c] = patches[:, c] @ w[:, c]^T, one [m, out] block per channel; built a chunk
    // of rows at a time so memory stays channels x 512 x out.
    const auto wc = w.reshape({w.size(0), channels, per});
    at::Tensor gram = at::zeros({channels, channels}, at::kDouble);
    std::vector<at::Tensor> outputs;
    for (int64_t start = 0; start < patches.size(0); start += 512) {
      const auto chunk = patches.narrow(0, start, std::min<int64_t>(512, patches.size(0) - start));
      const auto contrib = at::einsum("mck,ock->cmo", {chunk.reshape({chunk.size(0), channels, per}), wc});
      const auto flat = contrib.reshape({channels, -1}).to(at::kDouble);
      gram += flat.matmul(flat.t());
      outputs.push_back(contrib.sum(0).to(at::kDouble));
    }
    const auto output = at::cat(outputs);
    targets_.emplace(consumer.layer, Target{sampled, output, rows(layer.mask).cpu().ne(0).any(0)});
    const double energy = output.pow(2).sum().item<double>();
    return gram / std::max(energy, 1e-30);
  }

  /// Channels whose every producer row is already zero (pruned in an earlier step).
  static std::vector<bool> already_pruned(const prunelab::CriterionContext& ctx, const prunelab::PruneUnit& unit) {
    std::vector<bool> out(size_t(unit.slices), true);
    for (size_t p : unit.layers) {
      const auto alive = rows(ctx.layers[p].mask).ne(0).any(1).cpu();
      for (int64_t c = 0; c < unit.slices; ++c)
        if (alive[c].item<bool>()) out[size_t(c)] = false;
    }
    return out;
  }

  /// Position of every channel in the greedy removal order (0 = removed first).
  static at::Tensor greedy_rank(const at::Tensor& gram, const std::vector<bool>& pruned) {
    const int64_t n = gram.size(0);
    auto g = gram.accessor<double, 2>();
    std::vector<double> cross(size_t(n), 0.0);  // sum over removed d of G_cd
    std::vector<bool> removed(size_t(n), false);
    auto rank = at::zeros({n}, at::kLong);
    int64_t step = 0;
    auto remove = [&](int64_t c) {
      removed[size_t(c)] = true;
      rank[c] = step++;
      for (int64_t d = 0; d < n; ++d) cross[size_t(d)] += g[d][c];
    };
    for (int64_t c = 0; c < n; ++c)
      if (pruned[size_t(c)]) remove(c);
    while (step < n) {
      // ||s + x_c||^2 - ||s||^2 = G_cc + 2 <s, x_c>; ties go to the lower index.
      int64_t best = -1;
      double best_cost = std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < n; ++c) {
        if (removed[size_t(c)]) continue;
        const double cost = g[c][c] + 2.0 * cross[size_t(c)];
        if (best < 0 || cost < best_cost) best = c, best_cost = cost;
      }
      remove(best);
    }
    return rank;
  }

  int64_t batches_, positions_;
  double damp_;
  bool refit_;
  std::map<size_t, Target> targets_;  // per consumer layer, from the last score(); ordered = forward order
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"reconstruction", "1.0.0",
       "ThiNet greedy channel selection by the next layers' output reconstruction error, then a least-squares refit of those layers",
       {prunelab::ParamSpec{"batches", prunelab::ParamType::Int, int64_t{4}, "calibration batches from the training split"}.at_least(1),
        prunelab::ParamSpec{"positions", prunelab::ParamType::Int, int64_t{4096}, "sampled (image, position) rows per consumer layer"}.at_least(1),
        prunelab::ParamSpec{"damp", prunelab::ParamType::Number, 1e-3, "ridge term of the refit, as a fraction of the mean of X^T X's diagonal"}.at_least(0),
        {"refit", prunelab::ParamType::Bool, true, "refit the consumers' kept weights after masking"}}},
      [](const prunelab::Params& p) { return std::make_unique<Reconstruction>(p); });
}
