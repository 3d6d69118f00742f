#pragma once
/// Physical channel pruning: dead channels leave the network, so it really is smaller and faster.

#include "models/model.hpp"

#include <memory>

namespace prunelab {

/// Removes, in place, every channel of every channel group that provably outputs zero: each
/// producer's weight row, bias and BatchNorm scale and shift are zero. The producers lose the
/// output channel (and its BatchNorm entries), the consumers the matching input columns. The
/// rule reads the tensors, not masks, so the result computes exactly what `model` computed. A
/// group keeps at least one channel. Returns the number of channels removed.
int64_t remove_dead_channels(Model& model);

/// A physically pruned copy of `model`.
std::unique_ptr<Model> physical_copy(Model& model);

/// How far a physically pruned model may be from the masked one, relative to the outputs' size
/// (oneDNN may pick another algorithm for the smaller shapes): what every run checks.
constexpr double kPhysicalTolerance = 1e-4;

struct OutputComparison {
  double max_diff = 0;   // largest |a - b|
  double max_abs_a = 0;  // largest |a|: the scale a tolerance is relative to
};
/// The two models' eval-mode outputs on `inputs` (no grad), compared; one forward pass each.
OutputComparison compare_outputs(Model& a, Model& b, const at::Tensor& inputs);
/// compare_outputs(a, b, inputs).max_diff.
double max_output_difference(Model& a, Model& b, const at::Tensor& inputs);

}  // namespace prunelab
