#include "data/dataset.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>
#include <stdexcept>

namespace prunelab {

std::string default_fashion_mnist_root() { return "/usr/share/datasets/fashion-mnist"; }

namespace {

std::string find_file(const std::string& root, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    auto p = std::filesystem::path(root) / (stem + ext);
    if (std::filesystem::exists(p)) return p.string();
  }
  throw std::runtime_error(fmt::format(
      "dataset file '{}(.gz)' not found under '{}' (install Debian's dataset-fashion-mnist, or set data.root)",
      stem, root));
}

TensorDataset load_idx_split(const std::string& root, const std::string& prefix) {
  auto images = read_idx(find_file(root, prefix + "-images-idx3-ubyte"));
  auto labels = read_idx(find_file(root, prefix + "-labels-idx1-ubyte"));
  if (images.dim() != 3 || labels.dim() != 1 || images.size(0) != labels.size(0))
    throw std::runtime_error(fmt::format("'{}' images and labels do not match", prefix));
  return {images.unsqueeze(1).to(at::kFloat).div_(255.0), labels.to(at::kLong)};
}

// Classes are noisy, shifted renderings of random templates: learnable, but not in one step.
DataSplits make_synthetic(const DataSpec& spec) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234 + spec.split_seed);
  const int64_t s = spec.synthetic_size, k = spec.synthetic_classes, c = spec.synthetic_channels;
  auto templates = at::rand({k, c, s, s}, gen);
  auto make = [&](int64_t n) {
    auto labels = at::randint(0, k, {n}, gen, at::kLong);
    auto images = templates.index_select(0, labels) + 0.8 * at::randn({n, c, s, s}, gen);
    return TensorDataset{images.clamp(0, 1), labels};
  };
  DataSplits out;
  TensorDataset train = make(spec.synthetic_train + spec.val_size);
  out.test = make(spec.synthetic_test);
  out.val = {train.images.narrow(0, 0, spec.val_size), train.labels.narrow(0, 0, spec.val_size)};
  out.train = {train.images.narrow(0, spec.val_size, spec.synthetic_train),
               train.labels.narrow(0, spec.val_size, spec.synthetic_train)};
  out.shape = {c, s, s, k};
  return out;
}

}  // namespace

InputShape nominal_shape(const DataSpec& spec) {
  if (spec.dataset == "synthetic")
    return {spec.synthetic_channels, spec.synthetic_size, spec.synthetic_size, spec.synthetic_classes};
  return {1, 28, 28, 10};  // IDX image sets in the MNIST layout
}

int64_t train_split_size(const DataSpec& spec) {
  int64_t n = 0;
  if (spec.dataset == "synthetic") {
    n = spec.synthetic_train;
  } else {
    const std::string root = spec.root.empty() ? default_fashion_mnist_root() : spec.root;
    n = read_idx(find_file(root, "train-labels-idx1-ubyte")).size(0) - spec.val_size;  // labels only: small
  }
  if (spec.train_limit > 0) n = std::min(n, spec.train_limit);
  return std::max<int64_t>(0, n);
}

DataSplits load_data(const DataSpec& spec) {
  DataSplits out;
  if (spec.dataset == "synthetic") {
    out = make_synthetic(spec);
  } else {
    const std::string root = spec.root.empty() ? default_fashion_mnist_root() : spec.root;
    TensorDataset full = load_idx_split(root, "train");
    out.test = load_idx_split(root, "t10k");
    if (spec.val_size >= full.size())
      throw std::runtime_error(fmt::format("data.val_size {} leaves no training images ({} in all)",
                                           spec.val_size, full.size()));
    // A fixed permutation carves the validation split, identical for every run and seed.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(spec.split_seed);
    auto perm = at::randperm(full.size(), gen, at::kLong);
    auto val_idx = std::get<0>(perm.narrow(0, 0, spec.val_size).sort());
    auto train_idx = std::get<0>(perm.narrow(0, spec.val_size, full.size() - spec.val_size).sort());
    out.val = {full.images.index_select(0, val_idx), full.labels.index_select(0, val_idx)};
    out.train = {full.images.index_select(0, train_idx), full.labels.index_select(0, train_idx)};
    out.shape = {1, full.images.size(2), full.images.size(3),
                 out.train.labels.max().item<int64_t>() + 1};
  }
  if (spec.train_limit > 0 && spec.train_limit < out.train.size())
    out.train = {out.train.images.narrow(0, 0, spec.train_limit),
                 out.train.labels.narrow(0, 0, spec.train_limit)};
  if (spec.test_limit > 0 && spec.test_limit < out.test.size())
    out.test = {out.test.images.narrow(0, 0, spec.test_limit),
                out.test.labels.narrow(0, 0, spec.test_limit)};
  // Normalise with the training split's statistics.
  const double mean = out.train.images.mean().item<double>();
  const double std = out.train.images.std().item<double>();
  for (TensorDataset* d : {&out.train, &out.val, &out.test})
    d->images = ((d->images - mean) / std).contiguous();
  return out;
}

BatchSampler::BatchSampler(const TensorDataset& data, int64_t batch_size, uint64_t seed)
    : data_(data), batch_size_(std::min<int64_t>(batch_size, data.size())), seed_(seed) {
  if (batch_size_ <= 0) throw std::invalid_argument("empty dataset or batch size");
  reshuffle();
}

int64_t batches_per_epoch(int64_t samples, int64_t batch_size) {
  return std::max<int64_t>(1, samples / std::max<int64_t>(1, std::min(batch_size, samples)));
}

int64_t batches_per_epoch(const TensorDataset& data, int64_t batch_size) {
  return batches_per_epoch(data.size(), batch_size);
}

int64_t BatchSampler::batches_per_epoch() const { return prunelab::batches_per_epoch(data_, batch_size_); }

void BatchSampler::reshuffle() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed_ * 1000003ULL + epoch_);
  order_ = at::randperm(data_.size(), gen, at::kLong).to(data_.labels.device());
  cursor_ = 0;
}

std::pair<at::Tensor, at::Tensor> BatchSampler::next() {
  if (cursor_ + batch_size_ > data_.size()) {
    ++epoch_;
    reshuffle();
  }
  auto idx = order_.narrow(0, cursor_, batch_size_);
  cursor_ += batch_size_;
  return {data_.images.index_select(0, idx), data_.labels.index_select(0, idx)};
}

}  // namespace prunelab
