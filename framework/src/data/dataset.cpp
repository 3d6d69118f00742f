#include "data/dataset.hpp"

#include "data/readers.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace prunelab {

std::string default_fashion_mnist_root() { return "/usr/share/datasets/fashion-mnist"; }

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = {"fashion_mnist", "mnist_format", "cifar10", "cifar100",
                                                 "image_folder",  "tensors",      "synthetic"};
  return names;
}

bool fingerprinted_dataset(const std::string& d) {
  return d == "mnist_format" || d == "cifar10" || d == "cifar100" || d == "image_folder" || d == "tensors";
}

namespace {

bool legacy_dataset(const std::string& d) { return d == "fashion_mnist" || d == "mnist_format" || d == "synthetic"; }

std::string root_of(const DataSpec& spec) { return spec.root.empty() ? default_fashion_mnist_root() : spec.root; }

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

data::RawData read_raw(const DataSpec& spec) {
  if (spec.dataset == "fashion_mnist" || spec.dataset == "mnist_format") return data::read_idx_set(root_of(spec));
  if (spec.dataset == "cifar10" || spec.dataset == "cifar100") return data::read_cifar(spec);
  if (spec.dataset == "image_folder") return data::read_image_folder(spec);
  if (spec.dataset == "tensors") return data::read_tensor_files(spec);
  throw std::invalid_argument(fmt::format("unknown dataset '{}' (known: {})", spec.dataset, fmt::join(dataset_names(), ", ")));
}

// Per-channel mean and standard deviation (sample, like torch.std) of the training images, in
// pixel units (x / 255 for uint8). Exact integer sums for uint8, so no thread count changes them.
std::pair<std::vector<double>, std::vector<double>> channel_stats(const at::Tensor& images) {
  const int64_t n = images.size(0), C = images.size(1), plane = images.size(2) * images.size(3);
  std::vector<double> mean(static_cast<size_t>(C)), stdev(static_cast<size_t>(C));
  const double count = double(n) * double(plane);
  for (int64_t c = 0; c < C; ++c) {
    double s1 = 0, s2 = 0;
    if (images.scalar_type() == at::kByte) {
      const uint8_t* p = images.data_ptr<uint8_t>();
      uint64_t a = 0, b = 0;
      for (int64_t i = 0; i < n; ++i)
        for (const uint8_t* q = p + (i * C + c) * plane, *e = q + plane; q < e; ++q) {
          a += *q;
          b += uint64_t(*q) * *q;
        }
      s1 = double(a) / 255.0;
      s2 = double(b) / (255.0 * 255.0);
    } else {
      const float* p = images.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i)
        for (const float* q = p + (i * C + c) * plane, *e = q + plane; q < e; ++q) {
          s1 += *q;
          s2 += double(*q) * *q;
        }
    }
    mean[size_t(c)] = s1 / count;
    stdev[size_t(c)] = std::sqrt(std::max(0.0, (s2 - s1 * s1 / count) / std::max(1.0, count - 1.0)));
  }
  return {mean, stdev};
}

// One value per channel from a given list (one value or C of them).
std::vector<double> per_channel(const std::vector<double>& v, int64_t C, const char* what) {
  if (v.size() == 1) return std::vector<double>(size_t(C), v[0]);
  if (int64_t(v.size()) != C)
    throw std::runtime_error(fmt::format("data.normalize.{} has {} values, the images have {} channel{}", what, v.size(), C,
                                         C == 1 ? "" : "s"));
  return v;
}

// Sets how every split's stored pixels become model inputs. uint8 splits get a lookup table;
// float splits are normalised in place. `global` is computed exactly as before issue 16 (ATen
// reductions and elementwise ops in float), so Fashion-MNIST keeps its numbers to the bit.
void normalise(DataSplits& out, const std::string& mode, const NormalizeSpec& given) {
  TensorDataset& train = out.train;
  const int64_t C = train.channels();
  const bool bytes = train.images.scalar_type() == at::kByte;
  std::vector<TensorDataset*> splits = {&out.train, &out.val, &out.test};
  if (mode == "global") {
    at::Tensor as_float = bytes ? train.images.to(at::kFloat).div_(255.0) : train.images;
    const double mean = as_float.mean().item<double>();
    const double stdev = as_float.std().item<double>();
    as_float = at::Tensor();
    if (!(stdev > 0)) throw std::runtime_error("the training images are all one value: normalisation needs a spread (use normalize: none)");
    if (bytes) {
      const auto lut = ((at::arange(256, at::kFloat).div_(255.0)) - mean) / stdev;
      for (auto* d : splits) d->lut = lut.unsqueeze(0).expand({C, 256}).contiguous();
    } else {
      for (auto* d : splits) d->images = ((d->images - mean) / stdev).contiguous();
    }
    const float pad = ((at::zeros({1}, at::kFloat) - mean) / stdev).item<float>();
    for (auto* d : splits) d->pad.assign(size_t(C), pad);
    return;
  }
  std::vector<double> mean(size_t(C), 0.0), stdev(size_t(C), 1.0);
  if (mode == "per_channel") {
    std::tie(mean, stdev) = channel_stats(train.images);
    for (int64_t c = 0; c < C; ++c)
      if (!(stdev[size_t(c)] > 0))
        throw std::runtime_error(fmt::format("channel {} of the training images is one value everywhere: per-channel "
                                             "normalisation needs a spread (give normalize: {{mean, std}} or none)", c));
  } else if (mode == "given") {
    mean = per_channel(given.mean, C, "mean");
    stdev = per_channel(given.std, C, "std");
  }
  if (bytes) {
    auto lut = at::empty({C, 256}, at::kFloat);
    float* p = lut.data_ptr<float>();
    for (int64_t c = 0; c < C; ++c)
      for (int v = 0; v < 256; ++v) p[c * 256 + v] = static_cast<float>((v / 255.0 - mean[size_t(c)]) / stdev[size_t(c)]);
    for (auto* d : splits) d->lut = lut;
  } else if (mode != "none") {
    const auto m = at::tensor(std::vector<float>(mean.begin(), mean.end())).view({1, C, 1, 1});
    const auto s = at::tensor(std::vector<float>(stdev.begin(), stdev.end())).view({1, C, 1, 1});
    for (auto* d : splits) d->images = ((d->images - m) / s).contiguous();
  }
  std::vector<float> pad(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) pad[size_t(c)] = static_cast<float>(-mean[size_t(c)] / stdev[size_t(c)]);
  for (auto* d : splits) d->pad = pad;
}

// index_select(0, idx) for sorted, distinct idx, done in place in `t`'s own memory: row idx[k]
// moves to row k (idx[k] >= k, so no row is overwritten before it is read). Returns a view of
// the first rows; the training split never exists twice in memory.
at::Tensor compact_rows(at::Tensor& t, const at::Tensor& idx) {
  const int64_t n = idx.size(0), row = t.numel() / std::max<int64_t>(1, t.size(0)) * int64_t(t.element_size());
  auto* base = static_cast<uint8_t*>(t.data_ptr());
  const int64_t* ix = idx.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k)
    if (ix[k] != k) std::memmove(base + k * row, base + ix[k] * row, size_t(row));
  at::Tensor out = t.narrow(0, 0, n);
  t = at::Tensor();  // the caller's handle must not see the reordered rows
  return out;
}

void check_fingerprint(const DataSpec& spec) {
  if (spec.fingerprint.empty()) return;
  const auto now = probe_data(spec).fingerprint;
  if (now != spec.fingerprint)
    throw std::runtime_error(fmt::format("the {} files under '{}' changed since the experiment was read (fingerprint {}, "
                                         "now {}): run again to train on the new content", spec.dataset, spec.root,
                                         spec.fingerprint, now));
}

}  // namespace

std::string normalize_mode(const DataSpec& spec) {
  if (!spec.normalize.mode.empty()) return spec.normalize.mode;
  return legacy_dataset(spec.dataset) ? "global" : "per_channel";
}

DataProbe probe_data(const DataSpec& spec) {
  DataProbe out;
  if (spec.dataset == "synthetic") {
    out.train = spec.synthetic_train + spec.val_size;
    out.test = spec.synthetic_test;
    out.shape = {spec.synthetic_channels, spec.synthetic_size, spec.synthetic_size, spec.synthetic_classes};
    return out;
  }
  data::Fingerprint fp(spec.dataset);
  if (spec.dataset == "fashion_mnist" || spec.dataset == "mnist_format") data::probe_idx_set(root_of(spec), fp, out);
  else if (spec.dataset == "cifar10" || spec.dataset == "cifar100") data::probe_cifar(spec, fp, out);
  else if (spec.dataset == "image_folder") data::probe_image_folder(spec, fp, out);
  else if (spec.dataset == "tensors") data::probe_tensor_files(spec, fp, out);
  else throw std::invalid_argument(fmt::format("unknown dataset '{}'", spec.dataset));
  out.fingerprint = fp.hex();
  return out;
}

InputShape nominal_shape(const DataSpec& spec) {
  if (spec.dataset == "synthetic" || fingerprinted_dataset(spec.dataset)) return probe_data(spec).shape;
  try {
    return probe_data(spec).shape;
  } catch (const std::exception&) {
    return {1, 28, 28, 10};  // an IDX set not on this machine: the MNIST layout (its runs will say what is missing)
  }
}

int64_t train_split_size(const DataSpec& spec) {
  int64_t n = 0;
  if (spec.dataset == "synthetic") {
    n = spec.synthetic_train;
  } else if (fingerprinted_dataset(spec.dataset)) {
    n = probe_data(spec).train - spec.val_size;
  } else {
    n = data::idx_train_count(root_of(spec)) - spec.val_size;  // labels only: small
  }
  if (spec.train_limit > 0) n = std::min(n, spec.train_limit);
  return std::max<int64_t>(0, n);
}

DataSplits load_data(const DataSpec& spec) {
  DataSplits out;
  if (spec.dataset == "synthetic") {
    out = make_synthetic(spec);
  } else {
    check_fingerprint(spec);
    data::RawData raw = read_raw(spec);
    TensorDataset full{raw.train.images, raw.train.labels};
    raw.train = {};  // `full` holds the only handle: its rows are reordered in place below
    out.test = {raw.test.images, raw.test.labels};
    if (spec.val_size >= full.size())
      throw std::runtime_error(fmt::format("data.val_size {} leaves no training images ({} in all)",
                                           spec.val_size, full.size()));
    // A fixed permutation carves the validation split, identical for every run and seed.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(spec.split_seed);
    auto perm = at::randperm(full.size(), gen, at::kLong);
    auto val_idx = std::get<0>(perm.narrow(0, 0, spec.val_size).sort());
    auto train_idx = std::get<0>(perm.narrow(0, spec.val_size, full.size() - spec.val_size).sort());
    out.shape = {full.images.size(1), full.images.size(2), full.images.size(3), 0};
    out.val = {full.images.index_select(0, val_idx), full.labels.index_select(0, val_idx)};
    out.train = {compact_rows(full.images, train_idx), full.labels.index_select(0, train_idx)};
    out.shape.classes = raw.classes > 0 ? raw.classes : out.train.labels.max().item<int64_t>() + 1;
  }
  if (spec.train_limit > 0 && spec.train_limit < out.train.size())
    out.train = {out.train.images.narrow(0, 0, spec.train_limit),
                 out.train.labels.narrow(0, 0, spec.train_limit)};
  if (spec.test_limit > 0 && spec.test_limit < out.test.size())
    out.test = {out.test.images.narrow(0, 0, spec.test_limit),
                out.test.labels.narrow(0, 0, spec.test_limit)};
  for (TensorDataset* d : {&out.train, &out.val, &out.test}) {
    d->images = d->images.contiguous();
    d->labels = d->labels.contiguous();
  }
  normalise(out, normalize_mode(spec), spec.normalize);
  if (spec.augment.crop_padding >= std::min(out.shape.height, out.shape.width))
    throw std::runtime_error(fmt::format("data.augment.crop_padding {} is not smaller than the {}×{} images",
                                         spec.augment.crop_padding, out.shape.width, out.shape.height));
  out.train.augment = spec.augment;
#ifdef __GLIBC__
  malloc_trim(0);  // file buffers and the carved copies go back to the system, not to the heap's free lists
#endif
  return out;
}

}  // namespace prunelab
