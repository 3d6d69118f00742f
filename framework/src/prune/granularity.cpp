#include <prunelab/granularity.hpp>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include <stdexcept>

namespace prunelab {

std::string Granularity::name() const {
  switch (kind) {
    case GranularityKind::Element: return "element";
    case GranularityKind::Pattern: return fmt::format("pattern{}:{}", n, m);
    case GranularityKind::Vector: return "vector";
    case GranularityKind::Kernel: return "kernel";
    case GranularityKind::Channel: return coupled ? "channel-coupled" : "channel";
  }
  return "?";
}

const std::vector<std::string>& granularity_names() {
  static const std::vector<std::string> names = {"element", "pattern", "vector", "kernel",
                                                 "channel"};
  return names;
}

std::vector<int64_t> slice_grid_shape(const Granularity& g, at::IntArrayRef shape) {
  const bool conv = shape.size() == 4;
  switch (g.kind) {
    case GranularityKind::Element:
    case GranularityKind::Pattern: return shape.vec();
    // A linear layer has no kernel: a vector or kernel slice of [out, in] is one element.
    case GranularityKind::Vector: return conv ? std::vector<int64_t>{shape[0], shape[1], shape[2]}
                                              : shape.vec();
    case GranularityKind::Kernel: return {shape[0], shape[1]};
    case GranularityKind::Channel: return {shape[0]};
  }
  throw std::logic_error("unknown granularity");
}

int64_t weights_per_slice(const Granularity& g, at::IntArrayRef shape) {
  int64_t total = 1;
  for (auto s : shape) total *= s;
  int64_t slices = 1;
  for (auto s : slice_grid_shape(g, shape)) slices *= s;
  return total / slices;
}

at::Tensor reduce_to_slices(const at::Tensor& scores, const Granularity& g, double p) {
  auto grid = slice_grid_shape(g, scores.sizes());
  if (grid == scores.sizes().vec()) return scores.abs();  // a one-weight slice: its norm is |s|
  const int64_t per_slice = weights_per_slice(g, scores.sizes());
  auto flat = scores.reshape({-1, per_slice}).abs().to(at::kDouble);
  at::Tensor reduced = p == 1.0 ? flat.sum(1) : flat.pow(p).sum(1).pow(1.0 / p);
  return reduced.to(scores.scalar_type()).reshape(grid);
}

at::Tensor expand_slice_mask(const at::Tensor& slice_mask, const Granularity& g,
                             at::IntArrayRef weight_shape) {
  auto grid = slice_grid_shape(g, weight_shape);
  if (slice_mask.sizes().vec() != grid)
    throw std::invalid_argument("slice mask does not match the granularity's slice grid");
  if (grid == weight_shape.vec()) return slice_mask;
  const int64_t per_slice = weights_per_slice(g, weight_shape);
  return slice_mask.reshape({-1, 1}).expand({-1, per_slice}).reshape(weight_shape).contiguous();
}

}  // namespace prunelab
