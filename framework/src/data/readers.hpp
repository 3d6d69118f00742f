#pragma once
/// The format readers behind load_data() and probe_data(). Each reads a whole set (train and
/// test) into memory as it is stored; carving validation, limits and normalisation are shared.

#include "data/dataset.hpp"
#include "data/fingerprint.hpp"

#include <ATen/core/Tensor.h>

#include <string>

namespace prunelab::data {

/// One split as read: images [N, C, H, W] uint8 (float for float tensors files), labels [N] int64.
struct RawSplit {
  at::Tensor images, labels;
};
struct RawData {
  RawSplit train, test;
  int64_t classes = 0;  // 0: the largest training label + 1 (IDX sets, as before issue 16)
};

RawData read_idx_set(const std::string& root);
RawData read_cifar(const DataSpec& spec);
RawData read_image_folder(const DataSpec& spec);
RawData read_tensor_files(const DataSpec& spec);

/// The probes: add every file to `fp` and fill the split sizes; throw on what is cheap to check.
/// Images in an IDX set's training split (reads its label file only).
int64_t idx_train_count(const std::string& root);
void probe_idx_set(const std::string& root, Fingerprint& fp, DataProbe& out);
void probe_cifar(const DataSpec& spec, Fingerprint& fp, DataProbe& out);
void probe_image_folder(const DataSpec& spec, Fingerprint& fp, DataProbe& out);
void probe_tensor_files(const DataSpec& spec, Fingerprint& fp, DataProbe& out);

/// `root` joined with `name`, as messages show it.
std::string join_path(const std::string& root, const std::string& name);

}  // namespace prunelab::data
