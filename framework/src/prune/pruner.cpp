#include "prune/pruner.hpp"

#include "prune/evaluator.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace prunelab {

std::vector<int64_t> weights_per_slice(const std::vector<LayerView>& layers, const Granularity& g) {
  std::vector<int64_t> out;
  for (const auto& l : layers) out.push_back(weights_per_slice(g, l.weight.sizes()));
  return out;
}

std::vector<at::Tensor> slice_scores(Criterion& criterion, CriterionContext& ctx) {
  at::NoGradGuard no_grad;
  auto raw = criterion.score(ctx);
  if (raw.size() != ctx.layers.size())
    throw std::runtime_error(fmt::format("criterion returned {} score tensors for {} layers",
                                         raw.size(), ctx.layers.size()));
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto& layer = ctx.layers[i];
    const auto grid = slice_grid_shape(ctx.granularity, layer.weight.sizes());
    at::Tensor s = raw[i].detach().to(at::kFloat);
    if (s.sizes().vec() != grid) {
      if (s.sizes() != layer.weight.sizes())
        throw std::runtime_error(fmt::format(
            "criterion scores for layer '{}' have shape {}, expected the weight's {} or the slice grid's",
            layer.name, fmt::join(s.sizes(), "x"), fmt::join(layer.weight.sizes(), "x")));
      s = reduce_to_slices(s, ctx.granularity, criterion.slice_norm_p());
    } else {
      s = s.abs();  // one rule for every granularity: a slice scores the Lp norm of |scores|
    }
    if (!at::isfinite(s).all().item<bool>())
      throw std::runtime_error(fmt::format("criterion returned NaN or infinite scores for layer '{}'", layer.name));
    // A slice whose weights are all masked is pruned for good.
    auto alive = reduce_to_slices(layer.mask.to(at::kFloat), ctx.granularity, 1.0).gt(0);
    s = at::where(alive, s, at::full({}, -std::numeric_limits<float>::infinity()));
    out.push_back(s.flatten().contiguous());
  }
  return out;
}

namespace {
at::Tensor nm_mask(const at::Tensor& scores, const LayerView& layer, const Granularity& g) {
  // Groups of m consecutive weights along the input dimension, for each (out, kh, kw) position.
  auto w = scores.reshape(layer.weight.sizes());
  auto moved = layer.weight.dim() == 4 ? w.permute({0, 2, 3, 1}) : w;  // input dim last
  const int64_t in = moved.size(-1);
  // Like NVIDIA's ASP, a layer whose input count is not a multiple of m (the first conv of a
  // one-channel image) stays dense rather than being pruned unevenly.
  if (in % g.m != 0) return layer.mask.to(at::kFloat).flatten();
  auto groups = moved.contiguous().reshape({-1, g.m});
  auto keep_idx = std::get<1>(groups.topk(g.n, 1, /*largest=*/true, /*sorted=*/true));
  auto mask = at::zeros_like(groups).scatter_(1, keep_idx, 1.0);
  mask = mask.reshape(moved.sizes());
  if (layer.weight.dim() == 4) mask = mask.permute({0, 3, 1, 2});
  // Weights pruned earlier stay pruned even inside a kept group.
  return (mask.contiguous() * layer.mask.to(at::kFloat)).flatten();
}
}  // namespace

std::vector<at::Tensor> select_slices(const std::vector<at::Tensor>& scores,
                                      const std::vector<double>& ratios,
                                      const std::vector<LayerView>& layers, const Granularity& g) {
  if (ratios.size() != scores.size())
    throw std::runtime_error(fmt::format("ratio policy returned {} ratios for {} layers",
                                         ratios.size(), scores.size()));
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (g.kind == GranularityKind::Pattern) {
      out.push_back(nm_mask(scores[i], layers[i], g));
      continue;
    }
    const double r = ratios[i];
    if (!(r >= 0.0 && r <= 1.0))
      throw std::runtime_error(fmt::format("ratio {} for layer '{}' is outside [0, 1]", r, layers[i].name));
    const int64_t n = scores[i].numel();
    const int64_t already = scores[i].isinf().logical_and(scores[i].lt(0)).sum().item<int64_t>();
    const int64_t k = std::max<int64_t>(already, std::llround(r * double(n)));
    auto mask = at::ones({n}, scores[i].options().dtype(at::kFloat));
    if (k > 0) {
      // Stable sort: ties break by position, identically on every run and thread count.
      auto order = std::get<1>(scores[i].sort(/*stable=*/true, 0, /*descending=*/false));
      auto idx = order.narrow(0, 0, std::min(k, n));
      mask.index_fill_(0, idx, 0.0);
    }
    out.push_back(mask);
  }
  return out;
}

void write_masks(MaskSet& masks, const std::vector<at::Tensor>& slice_masks, const Granularity& g) {
  at::NoGradGuard no_grad;
  auto& ms = masks.masks();
  for (size_t i = 0; i < ms.size(); ++i) {
    const auto shape = ms[i].sizes();
    auto grid = slice_grid_shape(g, shape);
    auto full = expand_slice_mask(slice_masks[i].reshape(grid).to(ms[i].scalar_type()), g, shape);
    ms[i].copy_(full.to(ms[i].device()));
  }
  masks.apply();
}

PruneStepResult prune_step(MaskSet& masks, Criterion& criterion, RatioPolicy& policy,
                           const Granularity& g, double target, Calibration* calibration,
                           StepEvaluator* evaluator, uint64_t seed) {
  auto views = masks.views();
  CriterionContext cctx{views, g, calibration, seed};
  auto scores = slice_scores(criterion, cctx);
  auto per_slice = weights_per_slice(views, g);
  PruneStepResult result;
  {
    // The evaluator may only use this step's scores while the policy runs, even if it throws.
    struct ScoresInUse {
      StepEvaluator* e;
      ~ScoresInUse() { if (e) e->set_scores(nullptr); }
    } in_use{evaluator};
    if (evaluator) evaluator->set_scores(&scores);
    RatioContext rctx{views, scores, per_slice, g, target, evaluator, seed};
    result.ratios = policy.ratios(rctx);
  }
  write_masks(masks, select_slices(scores, result.ratios, views, g), g);
  {
    at::NoGradGuard no_grad;  // weight updates (OBS, refits) act on leaf parameters in place
    criterion.after_masking(cctx);
  }
  masks.apply();  // whatever after_masking did, pruned weights are zero
  return result;
}

}  // namespace prunelab
