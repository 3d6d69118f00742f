#include "data/fingerprint.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>

#include <sys/stat.h>

namespace prunelab::data {

namespace {
constexpr uint64_t kP1 = 11400714785074694791ULL, kP2 = 14029467366897019727ULL, kP3 = 1609587929392839161ULL,
                   kP4 = 9650029242287828579ULL, kP5 = 2870177450012600261ULL;

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
uint64_t read64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;  // little-endian machines only, like the rest of the data readers
}
uint32_t read32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t round64(uint64_t acc, uint64_t input) { return rotl(acc + input * kP2, 31) * kP1; }
uint64_t merge64(uint64_t acc, uint64_t val) { return (acc ^ round64(0, val)) * kP1 + kP4; }
}  // namespace

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  const auto* p = static_cast<const uint8_t*>(data);
  const uint8_t* end = p + size;
  uint64_t h;
  if (size >= 32) {
    uint64_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
    for (; p + 32 <= end; p += 32) {
      v1 = round64(v1, read64(p));
      v2 = round64(v2, read64(p + 8));
      v3 = round64(v3, read64(p + 16));
      v4 = round64(v4, read64(p + 24));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = merge64(merge64(merge64(merge64(h, v1), v2), v3), v4);
  } else {
    h = seed + kP5;
  }
  h += size;
  for (; p + 8 <= end; p += 8) h = rotl(h ^ round64(0, read64(p)), 27) * kP1 + kP4;
  if (p + 4 <= end) {
    h = rotl(h ^ (uint64_t(read32(p)) * kP1), 23) * kP2 + kP3;
    p += 4;
  }
  for (; p < end; ++p) h = rotl(h ^ (*p * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  // One allocation of the file's size (no regrowth: data files are large), then whatever is left.
  std::vector<uint8_t> out;
  struct stat st {};
  if (::fstat(fileno(f), &st) == 0 && st.st_size > 0) out.resize(size_t(st.st_size));
  size_t got = out.empty() ? 0 : std::fread(out.data(), 1, out.size(), f);
  out.resize(got);
  uint8_t buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.insert(out.end(), buf, buf + n);
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw std::runtime_error(fmt::format("cannot read '{}'", path));
  return out;
}

FileDigest digest_file(const std::string& path, const std::string& tag, const FileCheck& check) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  const std::string key = fmt::format("{}|{}|{}.{}|{}", std::filesystem::absolute(path).string(), st.st_size,
                                      st.st_mtim.tv_sec, st.st_mtim.tv_nsec, tag);
  static std::mutex mutex;
  static std::map<std::string, FileDigest> memo;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = memo.find(key); it != memo.end()) return it->second;
  }
  const auto bytes = read_file(path);
  FileDigest d;
  d.size = bytes.size();
  d.hash = hash_bytes(bytes.data(), bytes.size());
  if (check) d.info = check(bytes);
  std::lock_guard<std::mutex> lock(mutex);
  memo[key] = d;
  return d;
}

Fingerprint::Fingerprint(const std::string& kind) : h_(hash_bytes(kind.data(), kind.size())) {}

void Fingerprint::add(const std::string& name, const FileDigest& digest) {
  const std::string entry = fmt::format("{}\n{}\n{:016x}\n", name, digest.size, digest.hash);
  h_ = hash_bytes(entry.data(), entry.size(), h_);
}

std::string Fingerprint::hex() const { return fmt::format("{:016x}", h_); }

}  // namespace prunelab::data
