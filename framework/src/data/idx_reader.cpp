#include "data/dataset.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <zlib.h>

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

}  // namespace prunelab
