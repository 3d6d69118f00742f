#include "data/readers.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace prunelab {

namespace {
// gzread reads plain files too, so one path serves .gz and raw IDX files.
std::vector<uint8_t> read_all(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(fmt::format("cannot open dataset file '{}'", path));
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  const bool failed = n < 0;
  gzclose(f);
  if (failed) throw std::runtime_error(fmt::format("'{}' is not a readable gzip/IDX file", path));
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string find_file(const std::string& root, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    auto p = std::filesystem::path(root) / (stem + ext);
    if (std::filesystem::exists(p)) return p.string();
  }
  throw std::runtime_error(fmt::format(
      "dataset file '{}(.gz)' not found under '{}' (install Debian's dataset-fashion-mnist, or set data.root)",
      stem, root));
}

const char* const kIdxStems[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                                 "t10k-labels-idx1-ubyte"};

data::RawSplit load_idx_split(const std::string& root, const std::string& prefix) {
  const auto image_file = find_file(root, prefix + "-images-idx3-ubyte");
  const auto label_file = find_file(root, prefix + "-labels-idx1-ubyte");
  auto images = read_idx(image_file);
  auto labels = read_idx(label_file);
  if (images.dim() != 3 || labels.dim() != 1)
    throw std::runtime_error(fmt::format("'{}' must hold [N, H, W] images and '{}' [N] labels", image_file, label_file));
  if (images.size(0) != labels.size(0))
    throw std::runtime_error(fmt::format("'{}' holds {} images but '{}' {} labels", image_file, images.size(0),
                                         label_file, labels.size(0)));
  return {images.unsqueeze(1).contiguous(), labels.to(at::kLong)};
}
}  // namespace

at::Tensor read_idx(const std::string& path) {
  auto bytes = read_all(path);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    throw std::runtime_error(fmt::format("'{}' is not an unsigned-byte IDX file", path));
  const int dims = bytes[3];
  if (dims < 1 || dims > 4 || bytes.size() < 4 + 4u * dims)
    throw std::runtime_error(fmt::format("'{}' has a bad IDX header", path));
  std::vector<int64_t> shape;
  size_t count = 1;
  for (int d = 0; d < dims; ++d) {
    shape.push_back(be32(&bytes[4 + 4 * d]));
    count *= shape.back();
  }
  const size_t offset = 4 + 4 * dims;
  if (bytes.size() != offset + count)
    throw std::runtime_error(fmt::format("'{}' holds {} bytes of data, its header says {}", path,
                                         bytes.size() - offset, count));
  auto t = at::empty(shape, at::kByte);
  std::memcpy(t.data_ptr<uint8_t>(), bytes.data() + offset, count);
  return t;
}

namespace data {

RawData read_idx_set(const std::string& root) {
  RawData out;
  out.train = load_idx_split(root, "train");
  out.test = load_idx_split(root, "t10k");
  return out;
}

int64_t idx_train_count(const std::string& root) { return read_idx(find_file(root, "train-labels-idx1-ubyte")).size(0); }

void probe_idx_set(const std::string& root, Fingerprint& fp, DataProbe& out) {
  for (const char* stem : kIdxStems) {
    const auto path = find_file(root, stem);
    fp.add(std::filesystem::path(path).filename().string(), digest_file(path, "idx"));
  }
  // The label files are small: they give the split sizes and the class count (largest label + 1,
  // of the whole training file: load_data() takes it after carving validation, which may differ
  // only if the largest label is in validation alone).
  const auto labels = read_idx(find_file(root, "train-labels-idx1-ubyte"));
  out.train = labels.size(0);
  out.test = read_idx(find_file(root, "t10k-labels-idx1-ubyte")).size(0);
  // The images' header: 16 bytes of a possibly gzip-compressed file.
  const auto path = find_file(root, "train-images-idx3-ubyte");
  gzFile f = gzopen(path.c_str(), "rb");
  uint8_t h[16] = {};
  const int n = f ? gzread(f, h, sizeof h) : -1;
  if (f) gzclose(f);
  if (n != 16 || h[2] != 0x08 || h[3] != 3) throw std::runtime_error(fmt::format("'{}' has a bad IDX header", path));
  out.shape = {1, be32(h + 8), be32(h + 12), labels.numel() ? labels.max().item<int64_t>() + 1 : 0};
}

std::string join_path(const std::string& root, const std::string& name) {
  return (std::filesystem::path(root) / name).string();
}

}  // namespace data
}  // namespace prunelab
