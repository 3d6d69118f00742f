#pragma once
/// Zip archives (what torch.save, torch.jit.save and LibTorch's OutputArchive write) checked entry
/// by entry before LibTorch reads them. LibTorch's zip reader is built without its CRC-32 check, so
/// a damaged byte in a TorchScript source entry reaches its script parser, which can crash on it
/// (found by tests/fuzz/fuzz_model_file). Every entry the reader could be asked for is checked:
/// the central directory it would walk, the data each entry's local header points at, inflated
/// where deflated (Python's torch.jit.save deflates the code entries), against the stored CRC-32.

#include <stdexcept>
#include <string>
#include <string_view>

namespace prunelab {

struct ZipCheck {
  enum Verdict { intact, not_zip, damaged, unsupported };
  Verdict verdict = not_zip;
  std::string detail;  ///< unless intact: what was found, e.g. "entry 'm/data.pkl' fails its CRC-32 check"
  bool ok() const { return verdict == intact; }
};

/// A file refused by require_intact or read_checked_archive: callers that try several readers
/// let this one through (the file is what is wrong, not the reader).
struct ArchiveError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The archive in memory.
ZipCheck check_zip(std::string_view bytes);

/// Throws ArchiveError unless `check` is intact, in one line naming `path`: "'path' is not a
/// `kind` (detail)`hint`", "'path' is damaged: detail; ..." or "'path' cannot be read: detail".
void require_intact(const ZipCheck& check, const std::string& path, const std::string& kind,
                    const std::string& hint = "");

/// The file's bytes, checked: read once, so what LibTorch is given (InputArchive::load_from(data,
/// size)) is what was checked. Throws ArchiveError for a file that is missing, not a regular file,
/// unreadable, or not an intact archive.
std::string read_checked_archive(const std::string& path, const std::string& kind, const std::string& hint = "");

}  // namespace prunelab
