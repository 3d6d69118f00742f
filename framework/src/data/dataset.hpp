#pragma once
/// In-memory datasets: whole splits live in tensors, batches are index_select views.

#include "core/input_shape.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace prunelab {

struct TensorDataset {
  at::Tensor images;  // [N, C, H, W] float, normalised
  at::Tensor labels;  // [N] int64
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// What the `data:` section of a config asks for.
struct DataSpec {
  std::string dataset = "fashion_mnist";  // fashion_mnist | mnist_format | synthetic
  std::string root;                       // directory of the IDX .gz files (default: Debian's)
  int64_t val_size = 5000;                // carved from the training split, never from test
  int64_t train_limit = 0;                // 0 = all remaining training images
  int64_t test_limit = 0;                 // 0 = the whole test split
  int64_t split_seed = 0;                 // fixes which images form the validation split
  // synthetic only
  int64_t synthetic_train = 2000, synthetic_test = 500, synthetic_size = 12, synthetic_classes = 4;
  int64_t synthetic_channels = 1;
};

struct DataSplits {
  TensorDataset train, val, test;
  InputShape shape;
};

/// Default location of Debian's dataset-fashion-mnist package.
std::string default_fashion_mnist_root();

DataSplits load_data(const DataSpec& spec);

/// The input shape and class count load_data() will give, without loading (config checks).
InputShape nominal_shape(const DataSpec& spec);

/// Reads an IDX file (optionally gzip-compressed) into a uint8 tensor of its stored shape.
at::Tensor read_idx(const std::string& path);

/// Optimizer steps in one pass over `data` (the last partial batch is dropped, at least 1).
int64_t batches_per_epoch(const TensorDataset& data, int64_t batch_size);
int64_t batches_per_epoch(int64_t samples, int64_t batch_size);

/// Size of the training split load_data() would produce, without loading the images.
int64_t train_split_size(const DataSpec& spec);

/// Shuffled mini-batches over a dataset; the order depends only on (seed, epoch).
class BatchSampler {
 public:
  BatchSampler(const TensorDataset& data, int64_t batch_size, uint64_t seed);
  /// The next batch; wraps to a freshly shuffled epoch at the end (drops the last partial batch).
  std::pair<at::Tensor, at::Tensor> next();
  int64_t batches_per_epoch() const;

 private:
  void reshuffle();
  const TensorDataset& data_;
  int64_t batch_size_;
  uint64_t seed_;
  int64_t epoch_ = 0, cursor_ = 0;
  at::Tensor order_;
};

}  // namespace prunelab
