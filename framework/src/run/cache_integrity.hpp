#pragma once
/// Cache entries that heal: every checkpoint the runner caches (dense models, rewind snapshots,
/// first pruning steps) has a `.meta` sidecar holding its size and CRC-32, checked before
/// LibTorch reads the file. A truncated or damaged entry is reported in one line and rebuilt
/// instead of failing every run that needs it.

#include <functional>
#include <string>

namespace prunelab {

struct CurvePoint;

/// "size=N\ncrc32=XXXXXXXX\n": the lines a `.meta` sidecar holds for `file`.
std::string checksum_lines(const std::string& file);

enum class CacheEntryState {
  Missing,     // no file
  Verified,    // size and CRC-32 match the sidecar
  Unverified,  // a file but no checksum in the sidecar (written before checksums existed)
  Corrupt,     // the size or the CRC-32 differs: truncated or damaged
};

struct CacheEntryCheck {
  CacheEntryState state = CacheEntryState::Missing;
  std::string reason;  // for Corrupt: what differs
};

/// Compares `file` with the checksum lines of `meta`.
CacheEntryCheck check_cache_entry(const std::string& file, const std::string& meta);

/// Loads a cache entry through `load` if the file is there and not found corrupt. Returns false
/// (after one warning line naming the file and the reason) when the entry is corrupt or `load`
/// throws, so the caller rebuilds it; false without a word when it is missing. With
/// `allow_unverified`, an entry without a checksum (from an older runner) is tried and, if it
/// loads, gets its checksum added to `meta`; otherwise it is treated as missing.
bool load_cache_entry(const std::string& file, const std::string& meta, const std::string& what,
                      const std::function<void()>& load, bool allow_unverified);

/// Whether `file` is there and matches its sidecar; a corrupt one gets a warning line. For
/// entries that cannot be tried safely (a failed load would leave the model half-changed).
bool verified_cache_entry(const std::string& file, const std::string& meta, const std::string& what);

/// Writes (atomically) a sidecar with only the checksum lines of `file`.
void write_checksum_meta(const std::string& file, const std::string& meta);

/// Appends the checksum lines of `file` to an existing sidecar `meta` (atomically).
void add_checksum_to_meta(const std::string& file, const std::string& meta);

/// Whether a stored latency-table entry is usable: a positive integer input-channel label and
/// output-channel count, and a finite positive time.
bool valid_latency_point(const CurvePoint& point);

}  // namespace prunelab
