#pragma once
/// The unit a pruning decision removes, and how element scores map onto those units.

#include <torch/types.h>

#include <string>
#include <vector>

namespace prunelab {

/// From irregular to regular: element < pattern (N:M) < vector < kernel < channel.
enum class GranularityKind { Element, Pattern, Vector, Kernel, Channel };

struct Granularity {
  GranularityKind kind = GranularityKind::Element;
  int64_t n = 2;  // pattern only: keep n of every m
  int64_t m = 4;
  /// channel only. false ("inner", the default): only channel groups that do not meet at a
  /// residual addition are pruned (in a ResNet, the first conv of each block). true ("coupled"):
  /// residual streams are pruned too, each stream's convs and shortcut sharing one decision.
  bool coupled = false;

  std::string name() const;  // "element", "pattern2:4", ..., "channel", "channel-coupled"
};

/// Names accepted in configs, in order from irregular to regular.
const std::vector<std::string>& granularity_names();

/// Shape of the grid of slices for a weight of `weight_shape`:
/// element -> weight shape; vector -> [out, in, kh]; kernel -> [out, in]; channel -> [out].
/// Pattern decisions are per element (with an N:M constraint), so its grid is the weight shape.
std::vector<int64_t> slice_grid_shape(const Granularity& g, at::IntArrayRef weight_shape);

/// Number of weights in one slice.
int64_t weights_per_slice(const Granularity& g, at::IntArrayRef weight_shape);

/// Reduce element scores (weight-shaped) to slice scores: (sum |s|^p)^(1/p) over each slice.
at::Tensor reduce_to_slices(const at::Tensor& element_scores, const Granularity& g, double p = 1.0);

/// Broadcast a slice mask (slice-grid shaped, 0/1) back to the weight's shape.
at::Tensor expand_slice_mask(const at::Tensor& slice_mask, const Granularity& g,
                             at::IntArrayRef weight_shape);

}  // namespace prunelab
