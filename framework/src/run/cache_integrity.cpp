#include "run/cache_integrity.hpp"

#include "core/errors.hpp"
#include "util/errors.hpp"

#include <prunelab/plugin_api.hpp>

#include <fmt/format.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <unistd.h>

namespace prunelab {

namespace {
struct Checksum {
  int64_t size = -1;
  uint32_t crc = 0;
};

Checksum checksum_of(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read '{}'", file));
  Checksum c;
  c.size = 0;
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n <= 0) break;
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
    c.size += n;
  }
  c.crc = static_cast<uint32_t>(crc);
  return c;
}

std::map<std::string, std::string> read_keys(const std::string& meta) {
  std::map<std::string, std::string> out;
  std::ifstream in(meta);
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());  // two runners may write it at once
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw std::runtime_error(fmt::format("cannot write '{}'", tmp));
  }
  std::filesystem::rename(tmp, path);
}
}  // namespace

std::string checksum_lines(const std::string& file) {
  const auto c = checksum_of(file);
  return fmt::format("size={}\ncrc32={:08x}\n", c.size, c.crc);
}

CacheEntryCheck check_cache_entry(const std::string& file, const std::string& meta) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return {CacheEntryState::Missing, ""};
  const auto keys = read_keys(meta);
  const auto size_it = keys.find("size"), crc_it = keys.find("crc32");
  if (size_it == keys.end() || crc_it == keys.end()) return {CacheEntryState::Unverified, ""};
  const auto actual = checksum_of(file);
  char* end = nullptr;
  const long long want_size = std::strtoll(size_it->second.c_str(), &end, 10);
  if (actual.size != want_size)
    return {CacheEntryState::Corrupt,
            fmt::format("{} bytes where {} were written: truncated or damaged", actual.size, size_it->second)};
  const std::string crc = fmt::format("{:08x}", actual.crc);
  if (crc != crc_it->second)
    return {CacheEntryState::Corrupt, fmt::format("CRC-32 {} where {} was written: damaged", crc, crc_it->second)};
  return {CacheEntryState::Verified, ""};
}

bool load_cache_entry(const std::string& file, const std::string& meta, const std::string& what,
                      const std::function<void()>& load, bool allow_unverified) {
  const auto check = check_cache_entry(file, meta);
  switch (check.state) {
    case CacheEntryState::Missing: return false;
    case CacheEntryState::Unverified:
      if (!allow_unverified) return false;
      break;
    case CacheEntryState::Corrupt:
      warn(fmt::format("{} '{}' is corrupt ({}); rebuilding it", what, file, check.reason));
      return false;
    case CacheEntryState::Verified: break;
  }
  try {
    load();
  } catch (const std::exception& e) {
    debug_log(fmt::format("loading {} '{}'", what, file), e);
    warn(fmt::format("{} '{}' cannot be read ({}); rebuilding it", what, file, one_line(e)));
    return false;
  }
  if (check.state == CacheEntryState::Unverified) {
    try {
      add_checksum_to_meta(file, meta);
    } catch (const std::exception& e) {
      // The entry loaded; a sidecar we cannot update only means it stays unverified.
      debug_log(fmt::format("adding a checksum to '{}'", meta), e);
    }
  }
  return true;
}

bool verified_cache_entry(const std::string& file, const std::string& meta, const std::string& what) {
  const auto check = check_cache_entry(file, meta);
  if (check.state == CacheEntryState::Corrupt)
    warn(fmt::format("{} '{}' is corrupt ({}); rebuilding it", what, file, check.reason));
  return check.state == CacheEntryState::Verified;
}

void write_checksum_meta(const std::string& file, const std::string& meta) {
  write_atomically(meta, checksum_lines(file));
}

void add_checksum_to_meta(const std::string& file, const std::string& meta) {
  std::string text;
  {
    std::ifstream in(meta);
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("size=", 0) != 0 && line.rfind("crc32=", 0) != 0) text += line + "\n";
  }
  write_atomically(meta, text + checksum_lines(file));
}

bool valid_latency_point(const CurvePoint& p) {
  if (p.label.empty() || p.label.size() > 12) return false;
  for (char c : p.label)
    if (c < '0' || c > '9') return false;
  const auto in = std::strtoll(p.label.c_str(), nullptr, 10);
  return in > 0 && std::isfinite(p.x) && p.x >= 1 && p.x == std::floor(p.x) && p.x < 1e9 && std::isfinite(p.y) &&
         p.y > 0;
}

}  // namespace prunelab
