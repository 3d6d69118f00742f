#pragma once
/// The data figures of issue 16: memory of a CIFAR-sized set, decode rate of image folders, the
/// cost of assembling and augmenting a batch. Helpers of prunelab_bench; never run as tests.

#include "data/dataset.hpp"

#include <string>

namespace prunelab::bench {

/// A CIFAR-shaped set in memory as load_data() keeps it: random uint8 32x32x3 pixels, 10
/// classes, a per-channel lookup table; train and test share the pixels.
DataSplits cifar_sized_splits(int64_t images);

struct MemoryFigures {
  double raw_mb = 0;     // pixels and labels as stored in the files
  double held_mb = 0;    // what the splits' tensors hold (pixels, labels, lookup tables)
  double steady_mb = 0;  // resident memory the loaded splits added
  double peak_mb = 0;    // the most the process held above its start while loading
  double load_s = 0;
};
/// Writes a CIFAR-10 binary set of `train` + 10 000 records under `dir` and loads it.
MemoryFigures cifar_memory(const std::string& dir, int64_t train);

/// Images per second that load_data() decodes (and, with `resize`, resizes and crops) from an
/// image folder of `images` files of size x size pixels written under `dir` (page-cached).
double folder_decode_rate(const std::string& dir, int64_t images, int64_t size, bool jpeg, int64_t resize, int repeats);

/// Microseconds to assemble one training batch (lookup, optionally crop and flip), inline.
double batch_assembly_us(const TensorDataset& data, int64_t batch, bool augment, int batches);

}  // namespace prunelab::bench
