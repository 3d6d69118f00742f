#pragma once
/// Batch assembly: stored images (uint8 or float) to normalised float model inputs, with the
/// training augmentation (random crop of the zero-padded image, horizontal flip) drawn per sample.

#include "data/dataset.hpp"

#include <cstdint>

namespace prunelab::data {

/// One sample's augmentation: the crop window's shift from the centre, in [-padding, padding]
/// pixels, and the flip. The identity is {0, 0, false}.
struct SampleTransform {
  int64_t shift_y = 0, shift_x = 0;
  bool flip = false;
};

/// The transform of sample `position` of `epoch`: a counter-based hash of (seed, epoch, position),
/// so it never depends on which thread prepares the batch, or when.
SampleTransform draw_transform(const AugmentSpec& augment, uint64_t seed, int64_t epoch, int64_t position);

/// Writes the model inputs of `count` images into `out` ([count, C, H, W] float, contiguous): image idx[i] (start + i when idx is null), transformed by tf[i] (identity when tf is
/// null). No allocation: a table lookup (uint8) or a copy (float) per value.
void assemble_inputs(const TensorDataset& data, const int64_t* idx, int64_t start, int64_t count,
                     const SampleTransform* tf, float* out);

}  // namespace prunelab::data
