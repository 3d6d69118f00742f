#pragma once
/// In-memory datasets: every split is decoded once into tensors (8-bit sources stay uint8) and
/// turned into normalised float batches on demand, augmented for training.

#include "core/input_shape.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace prunelab {

/// The standard CIFAR training augmentation: a random crop of the image padded with zero
/// (black) pixels, and a random horizontal flip. Applied to training batches only.
struct AugmentSpec {
  int64_t crop_padding = 0;  // pixels of padding on each side; the crop keeps the image size
  bool flip = false;         // mirror left-right with probability 1/2
  bool enabled() const { return crop_padding > 0 || flip; }
};

/// How pixels become model inputs: per channel c, (x - mean[c]) / std[c], with 8-bit pixels read
/// as x / 255 first.
struct NormalizeSpec {
  /// "" = the dataset's default (global for fashion_mnist, mnist_format and synthetic, per_channel
  /// for the others); global = one mean and std over every training pixel; per_channel = one per
  /// channel, over the training split; given = `mean` and `std` below; none = x / 255 only.
  std::string mode;
  std::vector<double> mean, std;  // given only: one value, or one per channel
};

struct TensorDataset {
  TensorDataset() = default;
  TensorDataset(at::Tensor images_, at::Tensor labels_) : images(std::move(images_)), labels(std::move(labels_)) {}
  /// [N, C, H, W]: uint8 pixels (mapped through `lut`), or float model inputs (already normalised).
  at::Tensor images;
  at::Tensor labels;  // [N] int64
  /// uint8 images only: [C, 256] float, the model input each pixel value becomes in each channel.
  at::Tensor lut;
  std::vector<float> pad;  // per channel, the model input of a zero pixel (crop padding); empty: 0
  AugmentSpec augment;     // what training batches of this split get (BatchSampler's `augment`)
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t channels() const { return images.defined() ? images.size(1) : 0; }
  /// Model inputs of images [start, start + len): float, normalised, contiguous, on the CPU (the
  /// layout the model wants is the model layer's business: to_model_layout()).
  at::Tensor inputs(int64_t start, int64_t len) const;
};

/// What the `data:` section of a config asks for.
struct DataSpec {
  /// fashion_mnist | mnist_format | cifar10 | cifar100 | image_folder | tensors | synthetic
  std::string dataset = "fashion_mnist";
  std::string root;                       // the files' directory (default: Debian's Fashion-MNIST)
  int64_t val_size = 5000;                // carved from the training split, never from test
  int64_t train_limit = 0;                // 0 = all remaining training images
  int64_t test_limit = 0;                 // 0 = the whole test split
  int64_t split_seed = 0;                 // fixes which images form the validation split
  // synthetic only
  int64_t synthetic_train = 2000, synthetic_test = 500, synthetic_size = 12, synthetic_classes = 4;
  int64_t synthetic_channels = 1;
  std::string labels = "fine";            // cifar100: fine | coarse
  // image_folder only: shorter side resized to `resize` (0 = not resized), then centre-cropped to
  // image_height x image_width (0 = every image must already have one size); channels 1 or 3
  // (0 = 1 if every image is grey, else 3).
  int64_t resize = 0, image_height = 0, image_width = 0, channels = 0;
  NormalizeSpec normalize;
  AugmentSpec augment;
  /// Content hash of the data files (set by the config loader for file-based sets other than
  /// Debian's Fashion-MNIST): part of every hash, so changed files retrain and a moved copy does not.
  std::string fingerprint;
};

struct DataSplits {
  TensorDataset train, val, test;
  InputShape shape;
};

/// Default location of Debian's dataset-fashion-mnist package.
std::string default_fashion_mnist_root();

/// The datasets a config may name, and whether one is read from files whose content identifies it.
const std::vector<std::string>& dataset_names();
bool fingerprinted_dataset(const std::string& dataset);
/// The normalisation a spec resolves to: its mode, or the dataset's default.
std::string normalize_mode(const DataSpec& spec);

/// Loads, splits and normalises the data (throws std::runtime_error naming the bad file and
/// record or image). With a fingerprint in `spec`, the files must still have that content.
DataSplits load_data(const DataSpec& spec);

/// What can be known of a file-based set without decoding it: its content fingerprint and split
/// sizes. Checks what is cheap (files present, whole records, label ranges, image headers and
/// sizes, a tensors file's keys and dtypes) and throws with the file named. Memoised per process
/// by each file's path, size and modification time.
struct DataProbe {
  std::string fingerprint;
  int64_t train = 0, test = 0;  // images in the training split (before validation is carved) and test
  InputShape shape;             // what load_data() will give: channels, height, width, classes
};
DataProbe probe_data(const DataSpec& spec);

/// Every field of a spec as one JSON string, and back (saved models keep what they were trained on).
std::string data_spec_to_json(const DataSpec& spec);
DataSpec data_spec_from_json(const std::string& json);

/// The input shape and class count load_data() will give (probe_data(spec).shape; for an IDX set
/// not on this machine, the MNIST layout): config-time checks of models against their data.
InputShape nominal_shape(const DataSpec& spec);

/// Reads an IDX file (optionally gzip-compressed) into a uint8 tensor of its stored shape.
at::Tensor read_idx(const std::string& path);

/// Optimizer steps in one pass over `data` (the last partial batch is dropped, at least 1).
int64_t batches_per_epoch(const TensorDataset& data, int64_t batch_size);
int64_t batches_per_epoch(int64_t samples, int64_t batch_size);

/// Size of the training split load_data() would produce, without loading the images.
int64_t train_split_size(const DataSpec& spec);

/// How a BatchSampler prepares batches.
struct SamplerOptions {
  bool augment = false;   // apply the dataset's AugmentSpec (training batches only)
  bool prefetch = false;  // prepare the next batch in a background thread while this one trains
  static SamplerOptions training() { return {true, true}; }
};

/// Shuffled mini-batches over a dataset; the order and the augmentation depend only on
/// (seed, epoch, position), never on timing.
class BatchSampler {
 public:
  BatchSampler(const TensorDataset& data, int64_t batch_size, uint64_t seed, SamplerOptions options = {});
  ~BatchSampler();
  /// The next batch (inputs as TensorDataset::inputs, labels); wraps to a freshly shuffled epoch
  /// at the end (drops the last partial batch). The tensors are the caller's to keep.
  std::pair<at::Tensor, at::Tensor> next();
  int64_t batches_per_epoch() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace prunelab
