#include "core/zip_check.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <fcntl.h>
#include <optional>
#include <set>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace prunelab {

namespace {
// Record signatures and sizes of the zip format (APPNOTE.TXT), and miniz's search window for the
// end record (its longest comment plus the record), mirrored so both find the same record.
constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kZip64EndSig = 0x06064b50, kZip64LocatorSig = 0x07064b50;
constexpr uint64_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22, kZip64LocatorSize = 20, kZip64EndSize = 56;
constexpr uint64_t kEndSearch = 0xFFFF + kEndSize;
constexpr uint32_t kSaturated32 = 0xFFFFFFFF;

// Why an archive is refused, thrown from wherever that is found.
struct Refused {
  ZipCheck::Verdict verdict;
  std::string why;
};
Refused damaged(std::string why) { return {ZipCheck::damaged, std::move(why)}; }

// An entry's name as the file has it, made safe for a one-line message.
std::string shown_name(std::string_view name) {
  std::string out = "'";
  for (char c : name.substr(0, 160)) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  return out + (name.size() > 160 ? "...'" : "'");
}

// Little-endian reads, bounds-checked: a read past the end is a cut-short archive.
class Bytes {
 public:
  explicit Bytes(std::string_view b) : b_(b) {}
  uint64_t size() const { return b_.size(); }
  bool fits(uint64_t offset, uint64_t n) const { return n <= size() && offset <= size() - n; }
  std::string_view span(uint64_t offset, uint64_t n, const char* what) const {
    if (!fits(offset, n)) throw damaged(fmt::format("{} runs past the end of the file (cut short?)", what));
    return b_.substr(offset, n);
  }
  uint64_t le(uint64_t offset, int width, const char* what) const {
    const auto s = span(offset, width, what);
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[i]);
    return v;
  }
  uint32_t u16(uint64_t o, const char* w) const { return static_cast<uint32_t>(le(o, 2, w)); }
  uint32_t u32(uint64_t o, const char* w) const { return static_cast<uint32_t>(le(o, 4, w)); }
  uint64_t u64(uint64_t o, const char* w) const { return le(o, 8, w); }

 private:
  std::string_view b_;
};

struct Directory {
  uint64_t entries = 0, offset = 0, size = 0;
};

// The end record nearest the end of the file, as miniz finds it; none means not a zip archive.
std::optional<uint64_t> find_end_record(const Bytes& b) {
  if (b.size() < kEndSize) return std::nullopt;
  const uint64_t lowest = b.size() > kEndSearch ? b.size() - kEndSearch : 0;
  for (uint64_t p = b.size() - kEndSize + 1; p-- > lowest;)
    if (b.u32(p, "end record") == kEndSig) return p;
  return std::nullopt;
}

// Where the central directory is: from the zip64 end record when its locator precedes the end
// record (miniz's rule), else from the end record.
Directory directory_of(const Bytes& b, uint64_t end) {
  Directory d{b.u16(end + 10, "end record"), b.u32(end + 16, "end record"), b.u32(end + 12, "end record")};
  if (end < kZip64LocatorSize + kZip64EndSize) return d;
  const uint64_t locator = end - kZip64LocatorSize;
  if (b.u32(locator, "zip64 locator") != kZip64LocatorSig) return d;
  const uint64_t record = b.u64(locator + 8, "zip64 locator");
  if (!b.fits(record, kZip64EndSize)) throw damaged("its zip64 end record lies outside the file");
  if (b.u32(record, "zip64 end record") != kZip64EndSig) return d;
  const Directory d64{b.u64(record + 32, "zip64 end record"), b.u64(record + 48, "zip64 end record"),
                      b.u64(record + 40, "zip64 end record")};
  // Both writers fill the end record's count too (saturated when it does not fit): a count that
  // disagrees is a damaged record, whichever of the two a reader believes.
  if (d.entries != 0xFFFF && d.entries != d64.entries) throw damaged("its two end records disagree");
  return d64;
}

struct Entry {
  std::string name;
  uint32_t flags = 0, method = 0, crc = 0;
  uint64_t compressed = 0, uncompressed = 0, local_offset = 0;
  bool directory = false;  // miniz extracts nothing for one: its data would never be read
  uint64_t data_start = 0;  // from the local header
  uint64_t data_end() const { return data_start + compressed; }
};

// Sizes and offset that do not fit 32 bits are in the zip64 extra field, in this order, each only
// if its 32-bit field is saturated.
void read_zip64_extra(const Bytes& b, uint64_t extra, uint64_t extra_size, Entry& e) {
  for (uint64_t p = extra; p + 4 <= extra + extra_size;) {
    const uint32_t id = b.u16(p, "extra field"), n = b.u16(p + 2, "extra field");
    if (p + 4 + n > extra + extra_size) throw damaged(fmt::format("entry {} has a broken extra field", shown_name(e.name)));
    if (id == 1) {
      uint64_t q = p + 4;
      for (uint64_t* field : {&e.uncompressed, &e.compressed, &e.local_offset})
        if (*field == kSaturated32) {
          if (q + 8 > p + 4 + n) throw damaged(fmt::format("entry {} has a short zip64 field", shown_name(e.name)));
          *field = b.u64(q, "zip64 field");
          q += 8;
        }
      return;
    }
    p += 4 + n;
  }
}

Entry central_entry(const Bytes& b, uint64_t& p) {
  if (b.u32(p, "central directory") != kCentralSig) throw damaged("its central directory is broken");
  Entry e;
  e.flags = b.u16(p + 8, "central directory");
  e.method = b.u16(p + 10, "central directory");
  e.crc = b.u32(p + 16, "central directory");
  e.compressed = b.u32(p + 20, "central directory");
  e.uncompressed = b.u32(p + 24, "central directory");
  const uint32_t name = b.u16(p + 28, "central directory"), extra = b.u16(p + 30, "central directory"),
                 comment = b.u16(p + 32, "central directory");
  e.local_offset = b.u32(p + 42, "central directory");
  e.name = std::string(b.span(p + kCentralSize, name, "entry name"));
  e.directory = (!e.name.empty() && e.name.back() == '/') || (b.u32(p + 38, "central directory") & 0x10);
  read_zip64_extra(b, p + kCentralSize + name, extra, e);
  p += kCentralSize + name + extra + comment;
  return e;
}

uint32_t crc_of_stored(std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t done = 0; done < data.size();) {
    const auto n = static_cast<uInt>(std::min<size_t>(data.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + done), n);
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

// Inflates raw deflate data in chunks, never past the size the directory claims.
std::optional<uint32_t> crc_of_deflated(std::string_view data, uint64_t uncompressed) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw std::runtime_error("zlib: inflateInit2 failed");
  unsigned char chunk[1 << 16];
  uLong crc = crc32(0L, Z_NULL, 0);
  uint64_t produced = 0, fed = 0;
  int status = Z_OK;
  while (status == Z_OK) {
    if (z.avail_in == 0 && fed < data.size()) {
      z.avail_in = static_cast<uInt>(std::min<uint64_t>(data.size() - fed, 1u << 30));
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + fed));
      fed += z.avail_in;
    }
    z.next_out = chunk;
    z.avail_out = sizeof chunk;
    status = inflate(&z, Z_NO_FLUSH);
    const uint64_t n = sizeof chunk - z.avail_out;
    produced += n;
    if (produced > uncompressed) break;
    crc = crc32(crc, chunk, static_cast<uInt>(n));
  }
  inflateEnd(&z);
  if (status != Z_STREAM_END || produced != uncompressed) return std::nullopt;
  return static_cast<uint32_t>(crc);
}

// Where the entry's data is, from its local header, which must carry the directory's name.
void locate_data(const Bytes& b, Entry& e) {
  const auto name = shown_name(e.name);
  if (e.flags & 1) throw Refused{ZipCheck::unsupported, fmt::format("entry {} is encrypted", name)};
  if (e.directory && (e.compressed || e.uncompressed))
    throw damaged(fmt::format("entry {} is marked a directory but holds data", name));
  if (b.u32(e.local_offset, "local header") != kLocalSig)
    throw damaged(fmt::format("entry {} has no local header where the directory says", name));
  const uint32_t name_size = b.u16(e.local_offset + 26, "local header");
  if (b.span(e.local_offset + kLocalSize, name_size, "local header") != e.name)
    throw damaged(fmt::format("entry {} has another name in its local header", name));
  e.data_start = e.local_offset + kLocalSize + name_size + b.u16(e.local_offset + 28, "local header");
  (void)b.span(e.data_start, e.compressed, "an entry's data");
}

void verify_data(const Bytes& b, const Entry& e) {
  const auto name = shown_name(e.name);
  const auto data = b.span(e.data_start, e.compressed, "an entry's data");
  std::optional<uint32_t> crc;
  if (e.method == 0)
    crc = e.compressed == e.uncompressed ? std::optional(crc_of_stored(data)) : std::nullopt;
  else if (e.method == 8)
    crc = crc_of_deflated(data, e.uncompressed);
  else
    throw Refused{ZipCheck::unsupported, fmt::format("entry {} uses compression method {} (PyTorch writes stored "
                                                     "or deflated entries)", name, e.method)};
  if (!crc) throw damaged(fmt::format("entry {} does not decompress to its recorded size", name));
  if (*crc != e.crc && e.crc == 0)
    throw Refused{ZipCheck::unsupported, fmt::format("entry {} carries no CRC-32 (saved with torch.serialization."
                                                     "set_crc32_options(False)?); save it with CRC-32 on", name)};
  if (*crc != e.crc) throw damaged(fmt::format("entry {} fails its CRC-32 check", name));
}

// Both writers put the entries one after another before the directory. Overlapping ones would
// let a small file make the CRC work grow with its square.
void require_disjoint(std::vector<Entry> entries, const Directory& d) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.local_offset < b.local_offset; });
  uint64_t free_from = 0;
  for (const auto& e : entries) {
    if (e.local_offset < free_from || e.data_end() > d.offset)
      throw damaged(fmt::format("entry {} overlaps another entry or the directory", shown_name(e.name)));
    free_from = e.data_end();
  }
}

std::vector<Entry> read_directory(const Bytes& b, const Directory& d) {
  std::vector<Entry> entries;
  std::set<std::string> names;
  uint64_t p = d.offset;
  for (uint64_t i = 0; i < d.entries; ++i) {
    Entry e = central_entry(b, p);
    if (!names.insert(e.name).second) throw damaged(fmt::format("entry {} appears twice", shown_name(e.name)));
    locate_data(b, e);
    entries.push_back(std::move(e));
  }
  if (p != d.offset + d.size) throw damaged("its central directory's length is not the recorded one");
  return entries;
}
}  // namespace

ZipCheck check_zip(std::string_view bytes) {
  const Bytes b(bytes);
  try {
    const auto end = find_end_record(b);
    if (!end) return {ZipCheck::not_zip, "not a zip archive (no end-of-central-directory record)"};
    const Directory d = directory_of(b, *end);
    if (d.entries == 0) return {ZipCheck::damaged, "its central directory lists no entries"};
    if (!b.fits(d.offset, d.size) || d.size / kCentralSize < d.entries)
      return {ZipCheck::damaged, "its central directory lies outside the file (cut short?)"};
    const auto entries = read_directory(b, d);
    require_disjoint(entries, d);
    for (const auto& e : entries) verify_data(b, e);
  } catch (const Refused& r) {
    return {r.verdict, r.why};
  }
  return {ZipCheck::intact, ""};
}

std::string read_checked_archive(const std::string& path, const std::string& kind, const std::string& hint) {
  // O_NONBLOCK: a FIFO given as a model file is refused below instead of blocking the open.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw ArchiveError(fmt::format("'{}' cannot be opened: {}", path, std::strerror(errno)));
  struct stat st {};
  std::string bytes;
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular) {
    bytes.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    bytes.resize(done);  // a file that shrank while being read is checked as it was read
  }
  ::close(fd);
  if (!regular) throw ArchiveError(fmt::format("'{}' is not a regular file", path));
  require_intact(check_zip(bytes), path, kind, hint);
  return bytes;
}

void require_intact(const ZipCheck& check, const std::string& path, const std::string& kind,
                    const std::string& hint) {
  switch (check.verdict) {
    case ZipCheck::intact:
      return;
    case ZipCheck::not_zip:
      throw ArchiveError(fmt::format("'{}' is not a {} ({}){}", path, kind, check.detail, hint));
    case ZipCheck::unsupported:
      throw ArchiveError(fmt::format("'{}' cannot be read: {}", path, check.detail));
    case ZipCheck::damaged:
      throw ArchiveError(
          fmt::format("'{}' is damaged: {}; it changed or was cut short after it was written", path, check.detail));
  }
}

}  // namespace prunelab
