// CIFAR-10 and CIFAR-100, binary version: fixed-size records of label byte(s) then 3072 pixel
// bytes (the red, green and blue 32x32 planes, rows top to bottom), which is already [C, H, W].
#include "data/readers.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace prunelab::data {

namespace {

constexpr int64_t kPixels = 3 * 32 * 32;

struct CifarLayout {
  std::string name, folder;  // "CIFAR-10"; the folder the archive unpacks to
  std::vector<std::string> train, test;
  int64_t label_bytes = 1;
  int64_t label_index = 0;                // which label byte is the label
  std::vector<int64_t> classes_per_byte;  // for the range check of every label byte
  int64_t record() const { return label_bytes + kPixels; }
  int64_t classes() const { return classes_per_byte[label_index]; }
};

CifarLayout layout(const DataSpec& spec) {
  CifarLayout l;
  if (spec.dataset == "cifar10") {
    l.name = "CIFAR-10";
    l.folder = "cifar-10-batches-bin";
    for (int i = 1; i <= 5; ++i) l.train.push_back(fmt::format("data_batch_{}.bin", i));
    l.test = {"test_batch.bin"};
    l.classes_per_byte = {10};
  } else {
    l.name = "CIFAR-100";
    l.folder = "cifar-100-binary";
    l.train = {"train.bin"};
    l.test = {"test.bin"};
    l.label_bytes = 2;  // coarse, then fine
    l.label_index = spec.labels == "coarse" ? 0 : 1;
    l.classes_per_byte = {20, 100};
  }
  return l;
}

// The directory holding the files: `root`, or the folder the archive unpacks to inside it.
std::string files_dir(const DataSpec& spec, const CifarLayout& l) {
  namespace fs = std::filesystem;
  if (fs::exists(fs::path(spec.root) / l.train.front())) return spec.root;
  if (fs::exists(fs::path(spec.root) / l.folder / l.train.front())) return (fs::path(spec.root) / l.folder).string();
  throw std::runtime_error(fmt::format("no {} binary files under '{}' (expected {} … {} and {}, or a {}/ folder holding them)",
                                       l.name, spec.root, l.train.front(), l.train.back(), l.test.front(), l.folder));
}

// Throws unless `bytes` is a whole number (at least one) of records whose label bytes are in range.
int64_t check_records(const std::string& path, const std::vector<uint8_t>& bytes, const CifarLayout& l) {
  const int64_t rec = l.record(), size = static_cast<int64_t>(bytes.size());
  if (size == 0) throw std::runtime_error(fmt::format("'{}' is empty", path));
  if (size % rec != 0)
    throw std::runtime_error(fmt::format(
        "'{}' is {} bytes, not a whole number of {}-byte {} records: record {} is truncated ({} of {} bytes)", path,
        size, rec, l.name, size / rec, size % rec, rec));
  const int64_t n = size / rec;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t b = 0; b < l.label_bytes; ++b) {
      const int64_t label = bytes[i * rec + b];
      if (label >= l.classes_per_byte[b])
        throw std::runtime_error(fmt::format("'{}' record {} (byte {}): {}label {} is out of range ({} has {} classes, 0-{})",
                                             path, i, i * rec + b, l.label_bytes == 2 ? (b == 0 ? "coarse " : "fine ") : "",
                                             label, l.name, l.classes_per_byte[b], l.classes_per_byte[b] - 1));
    }
  return n;
}

// Reads file by file into one tensor: at most one file's bytes are held besides the pixels.
RawSplit read_files(const std::string& dir, const std::vector<std::string>& names, const CifarLayout& l) {
  int64_t total = 0;
  for (const auto& name : names) {
    const auto path = join_path(dir, name);
    if (!std::filesystem::exists(path))
      throw std::runtime_error(fmt::format("'{}' is missing ({} needs {} … {} and {})", path, l.name, l.train.front(),
                                           l.train.back(), l.test.front()));
    total += static_cast<int64_t>(std::filesystem::file_size(path)) / l.record();  // checked exactly below
  }
  RawSplit out{at::empty({total, 3, 32, 32}, at::kByte), at::empty({total}, at::kLong)};
  auto* img = out.images.data_ptr<uint8_t>();
  auto* lab = out.labels.data_ptr<int64_t>();
  int64_t k = 0;
  for (const auto& name : names) {
    const auto path = join_path(dir, name);
    const auto bytes = read_file(path);
    const int64_t n = check_records(path, bytes, l);
    if (k + n > total) throw std::runtime_error(fmt::format("'{}' changed while it was read", path));
    for (int64_t r = 0; r < n; ++r, ++k) {
      const uint8_t* rec = bytes.data() + r * l.record();
      lab[k] = rec[l.label_index];
      std::memcpy(img + k * kPixels, rec + l.label_bytes, kPixels);
    }
  }
  if (k != total) throw std::runtime_error(fmt::format("the {} files under '{}' changed while they were read", l.name, dir));
  return out;
}

}  // namespace

RawData read_cifar(const DataSpec& spec) {
  const auto l = layout(spec);
  const auto dir = files_dir(spec, l);
  RawData out;
  out.train = read_files(dir, l.train, l);
  out.test = read_files(dir, l.test, l);
  out.classes = l.classes();
  return out;
}

void probe_cifar(const DataSpec& spec, Fingerprint& fp, DataProbe& out) {
  const auto l = layout(spec);
  const auto dir = files_dir(spec, l);
  for (const auto* names : {&l.train, &l.test})
    for (const auto& name : *names) {
      const auto path = join_path(dir, name);
      if (!std::filesystem::exists(path))
        throw std::runtime_error(fmt::format("'{}' is missing ({} needs {} … {} and {})", path, l.name,
                                             l.train.front(), l.train.back(), l.test.front()));
      const auto d = digest_file(path, "cifar" + std::to_string(l.label_bytes),
                                 [&](const std::vector<uint8_t>& bytes) -> std::vector<int64_t> {
                                   return {check_records(path, bytes, l)};
                                 });
      fp.add(name, d);
      (names == &l.train ? out.train : out.test) += d.info.at(0);
    }
  out.shape = {3, 32, 32, l.classes()};
}

}  // namespace prunelab::data
