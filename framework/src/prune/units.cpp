#include "prune/units.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <limits>
#include <stdexcept>

namespace prunelab {

namespace {
bool channel(const Granularity& g) { return g.kind == GranularityKind::Channel; }

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

// A per-channel vector shaped to broadcast over dimension `dim` of a weight of rank `rank`.
at::Tensor along(const at::Tensor& v, int64_t dim, int64_t rank) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[static_cast<size_t>(dim)] = -1;
  return v.reshape(shape);
}
}  // namespace

std::vector<PruneUnit> layer_units(const std::vector<LayerView>& layers, const Granularity& g) {
  std::vector<PruneUnit> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!layers[i].prunable) continue;  // kept dense by the config: nothing to decide
    const auto shape = layers[i].weight.sizes();
    out.push_back({layers[i].name, {i}, numel(slice_grid_shape(g, shape)), weights_per_slice(g, shape), {}});
  }
  return out;
}

std::vector<at::Tensor> layer_slice_scores(const std::vector<at::Tensor>& raw, const std::vector<LayerView>& layers,
                                           const Granularity& g, double p) {
  if (raw.size() != layers.size())
    throw std::runtime_error(fmt::format("criterion returned {} score tensors for {} layers", raw.size(), layers.size()));
  const auto minus_inf = at::full({}, -std::numeric_limits<float>::infinity());
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    const auto& layer = layers[i];
    const auto grid = slice_grid_shape(g, layer.weight.sizes());
    at::Tensor s = raw[i].detach().to(at::kFloat);
    if (s.sizes().vec() == grid) {
      s = s.abs();  // one rule for every granularity: a slice scores the Lp norm of |scores|
    } else if (s.sizes() == layer.weight.sizes()) {
      s = reduce_to_slices(s, g, p);
    } else {
      throw std::runtime_error(fmt::format(
          "criterion scores for layer '{}' have shape {}, expected the weight's {} or the slice grid's {}",
          layer.name, fmt::join(s.sizes(), "x"), fmt::join(layer.weight.sizes(), "x"), fmt::join(grid, "x")));
    }
    if (!at::isfinite(s).all().item<bool>())
      throw std::runtime_error(fmt::format("criterion returned NaN or infinite scores for layer '{}'", layer.name));
    auto alive = reduce_to_slices(layer.mask.to(at::kFloat), g, 1.0).gt(0);
    out.push_back(at::where(alive, s, minus_inf).flatten().contiguous());
  }
  return out;
}

UnitLayout::UnitLayout(MaskSet& masks, const Granularity& g) : masks_(masks), g_(g) {
  const auto& layers = masks.layers();
  if (!channel(g)) {
    units_ = layer_units(masks.views(), g);
    return;
  }
  for (const auto& group : masks.groups()) {
    if (group.residual && !g.coupled) continue;
    bool kept_dense = false;
    for (size_t p : group.producers) kept_dense = kept_dense || !layers[p].prunable;
    if (kept_dense) continue;
    PruneUnit u{group.name, group.producers, group.channels, 0, {}};
    for (size_t p : group.producers) u.weights_per_slice += layers[p].weight[0].numel();
    for (const auto& c : group.consumers)
      if (c.group_offset == 0) u.consumers.push_back({c.layer, c.spatial, c.in_offset, c.length});
    units_.push_back(std::move(u));
    groups_.push_back(group);
  }
  if (units_.empty())
    throw std::runtime_error(fmt::format(
        "granularity '{}': the model has no channel group{}", g.name(),
        masks.groups().empty() ? " (channel groups of TorchScript models are not found yet: use element, pattern, "
                                 "vector or kernel granularity)"
                               : " in scope (try scope: coupled, or fewer keep_dense patterns)"));
}

std::vector<at::Tensor> UnitLayout::unit_scores(const std::vector<at::Tensor>& layer_scores) const {
  std::vector<at::Tensor> out;
  for (const auto& u : units_) {
    at::Tensor score;
    for (size_t i : u.layers) score = score.defined() ? score + layer_scores.at(i) : layer_scores.at(i);
    out.push_back(score);
  }
  return out;
}

LayerMasks UnitLayout::expand(const std::vector<at::Tensor>& unit_masks) const {
  at::NoGradGuard no_grad;
  if (unit_masks.size() != units_.size())
    throw std::logic_error(fmt::format("{} unit masks for {} units", unit_masks.size(), units_.size()));
  const auto& layers = masks_.layers();
  LayerMasks out;
  if (!channel(g_)) {
    // Layers without a unit (kept dense) keep the masks they have.
    for (size_t i = 0; i < layers.size(); ++i) {
      out.weight.push_back(masks_.masks()[i].clone());
      out.channel.push_back(masks_.channel_masks()[i].clone());
    }
    for (size_t u = 0; u < units_.size(); ++u) {
      const size_t i = units_[u].layers.at(0);
      const auto& m = masks_.masks()[i];
      auto grid = slice_grid_shape(g_, m.sizes());
      out.weight[i] = expand_slice_mask(unit_masks[u].reshape(grid).to(m.scalar_type()), g_, m.sizes()).to(m.device());
    }
    return out;
  }
  // Channels: start from dense and apply every unit's decision to producers and consumers.
  for (size_t i = 0; i < layers.size(); ++i) {
    out.weight.push_back(at::ones_like(masks_.masks()[i]));
    out.channel.push_back(at::ones_like(masks_.channel_masks()[i]));
  }
  for (size_t u = 0; u < units_.size(); ++u) {
    const auto m = unit_masks[u].to(out.channel[0].options());
    for (size_t p : groups_[u].producers) {
      out.weight[p].mul_(along(m, 0, out.weight[p].dim()));
      out.channel[p].mul_(m);
    }
    for (const auto& c : groups_[u].consumers) {
      const int64_t length = c.length < 0 ? m.size(0) - c.group_offset : c.length;
      const auto slice = m.narrow(0, c.group_offset, length);
      auto cols = out.weight[c.layer].narrow(1, c.in_offset * c.spatial, length * c.spatial);
      cols.mul_(along(c.spatial == 1 ? slice : slice.repeat_interleave(c.spatial), 1, cols.dim()));
    }
  }
  return out;
}

double UnitLayout::measured_sparsity() const {
  at::NoGradGuard no_grad;
  const auto& layers = masks_.layers();
  if (!channel(g_)) {
    // Written as ModelStats::sparsity() is, so the logged figure is the same to the last bit.
    int64_t total = 0, nonzero = 0;
    for (const auto& u : units_) {
      const auto& w = layers[u.layers[0]].weight;
      total += w.numel();
      nonzero += w.ne(0).sum().item<int64_t>();
    }
    return total ? 1.0 - double(nonzero) / double(total) : 0.0;
  }
  double total = 0, pruned = 0;
  for (const auto& u : units_) {
    at::Tensor nonzero_rows;
    for (size_t p : u.layers) {
      const auto& w = layers[p].weight;
      auto rows = w.reshape({w.size(0), -1}).ne(0).sum(1);
      nonzero_rows = nonzero_rows.defined() ? nonzero_rows + rows : rows;
    }
    total += double(u.slices * u.weights_per_slice);
    pruned += double(nonzero_rows.eq(0).sum().item<int64_t>() * u.weights_per_slice);
  }
  return total > 0 ? pruned / total : 0.0;
}

}  // namespace prunelab
