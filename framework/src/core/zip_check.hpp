#pragma once
/// Zip archives (what torch.save, torch.jit.save and LibTorch's OutputArchive write) checked entry
/// by entry before LibTorch reads them. LibTorch's zip reader is built without its CRC-32 check, so
/// a damaged byte in a TorchScript source entry reaches its script parser, which can crash on it
/// (found by tests/fuzz/fuzz_model_file). Every entry the reader could be asked for is checked:
/// the central directory it would walk, the data each entry's local header points at, inflated
/// where deflated (Python's torch.jit.save deflates the code entries), against the stored CRC-32.

#include <string>
#include <string_view>

namespace prunelab {

struct ZipCheck {
  enum Verdict { intact, not_zip, damaged };
  Verdict verdict = not_zip;
  std::string detail;  ///< for not_zip and damaged: what was found, e.g. "entry 'm/data.pkl' fails its CRC-32 check"
  bool ok() const { return verdict == intact; }
};

/// The archive in memory.
ZipCheck check_zip(std::string_view bytes);
/// The archive in a file (mapped, not read into memory); a file that cannot be opened is not_zip.
ZipCheck check_zip_file(const std::string& path);

/// Throws std::runtime_error unless `check` is intact, in one line naming `path`: "'path' is not a
/// `kind` (detail)`hint`" or "'path' is damaged: detail; ...".
void require_intact(const ZipCheck& check, const std::string& path, const std::string& kind,
                    const std::string& hint = "");

}  // namespace prunelab
