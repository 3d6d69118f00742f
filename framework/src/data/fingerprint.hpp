#pragma once
/// Content fingerprints of data files: what identifies a dataset in the dense-cache key and the
/// run hash, whatever folder the files are in.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace prunelab::data {

/// XXH64 of a byte range: fast (several GB/s) and well mixed. It tells datasets apart; it does
/// not authenticate them.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);

/// Reads a whole file; throws naming it when it cannot be opened or read.
std::vector<uint8_t> read_file(const std::string& path);

/// A file as the fingerprint sees it: size, content hash, and what the format's check found
/// (image width, height, channels; or nothing).
struct FileDigest {
  uint64_t size = 0, hash = 0;
  std::vector<int64_t> info;
};
using FileCheck = std::function<std::vector<int64_t>(const std::vector<uint8_t>& bytes)>;

/// Reads and hashes `path`, running `check` on its bytes (it throws on bad content). Memoised
/// per process by (path, size, modification time, tag): probing a set twice reads it once.
FileDigest digest_file(const std::string& path, const std::string& tag, const FileCheck& check = {});

/// Accumulates (name relative to the set's root, size, content hash) of every file in order.
class Fingerprint {
 public:
  explicit Fingerprint(const std::string& kind);
  void add(const std::string& name, const FileDigest& digest);
  std::string hex() const;

 private:
  uint64_t h_;
};

}  // namespace prunelab::data
