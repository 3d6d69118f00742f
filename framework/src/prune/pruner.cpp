#include "prune/pruner.hpp"

#include "prune/evaluator.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace prunelab {

std::vector<at::Tensor> slice_scores(Criterion& criterion, CriterionContext& ctx) {
  at::NoGradGuard no_grad;
  return layer_slice_scores(criterion.score(ctx), ctx.layers, ctx.granularity, criterion.slice_norm_p());
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
                                      const std::vector<PruneUnit>& units,
                                      const std::vector<LayerView>& layers, const Granularity& g) {
  if (ratios.size() != scores.size())
    throw std::runtime_error(fmt::format("ratio policy returned {} ratios for {} prune units",
                                         ratios.size(), scores.size()));
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (g.kind == GranularityKind::Pattern) {
      out.push_back(nm_mask(scores[i], layers[units[i].layers.at(0)], g));
      continue;
    }
    const double r = ratios[i];
    if (!(r >= 0.0 && r <= 1.0))
      throw std::runtime_error(fmt::format("ratio {} for '{}' is outside [0, 1]", r, units[i].name));
    const int64_t n = scores[i].numel();
    const int64_t already = scores[i].isinf().logical_and(scores[i].lt(0)).sum().item<int64_t>();
    int64_t k = std::max<int64_t>(already, std::llround(r * double(n)));
    // A channel group with no channel left would cut the network in two.
    if (g.kind == GranularityKind::Channel) k = std::min(k, n - 1);
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

std::vector<at::Tensor> select_slices(const std::vector<at::Tensor>& scores, const std::vector<double>& ratios,
                                      const std::vector<LayerView>& layers, const Granularity& g) {
  return select_slices(scores, ratios, layer_units(layers, g), layers, g);
}

void write_masks(MaskSet& masks, const LayerMasks& m) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < masks.size(); ++i) {
    masks.masks()[i].copy_(m.weight[i]);
    masks.channel_masks()[i].copy_(m.channel[i]);
  }
  masks.apply();
}

PruneStepResult prune_step(MaskSet& masks, const UnitLayout& layout, Criterion& criterion,
                           RatioPolicy& policy, double target, Calibration* calibration,
                           StepEvaluator* evaluator, uint64_t seed, SearchStore* store) {
  auto views = masks.views();
  const auto& g = layout.granularity();
  CriterionContext cctx{views, g, calibration, seed, &layout.units()};
  auto scores = layout.unit_scores(slice_scores(criterion, cctx));
  PruneStepResult result;
  {
    // The evaluator may only use this step's scores while the policy runs, even if it throws.
    struct ScoresInUse {
      StepEvaluator* e;
      ~ScoresInUse() { if (e) e->set_scores(nullptr); }
    } in_use{evaluator};
    if (evaluator) evaluator->set_scores(&scores);
    RatioContext rctx{views, layout.units(), scores, g, target, evaluator, seed, store};
    result.ratios = policy.ratios(rctx);
  }
  write_masks(masks, layout.expand(select_slices(scores, result.ratios, layout.units(), views, g)));
  {
    at::NoGradGuard no_grad;  // weight updates (OBS, refits) act on leaf parameters in place
    criterion.after_masking(cctx);
  }
  masks.apply();  // whatever after_masking did, pruned weights are zero
  return result;
}

}  // namespace prunelab
