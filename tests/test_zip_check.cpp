// The zip check that stands before LibTorch's reader (which skips CRC-32 checks, so a damaged
// TorchScript source entry reached its parser and crashed it: tests/fuzz/fuzz_model_file found
// that). Real archives from both writers pass; a flipped byte in any entry, a cut-short file,
// non-zip bytes and fields outside the CRCs that would change what LibTorch reads are one-line
// errors naming the file; zip64 archives are read like small ones.

#include "core/zip_check.hpp"
#include "models/model_spec.hpp"
#include "run/model_file.hpp"
#include "test_support.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace prunelab;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

uint32_t le(const std::string& b, size_t at, int width) {
  uint32_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

struct EntryData {
  std::string name;
  size_t data = 0, size = 0;
  bool deflated = false;
  size_t central = 0;  // its central directory record
};

// Each entry's data, from the central directory (PyTorch's writer leaves the local sizes zero and
// writes them after the data). Archives without zip64 sizes only; the offsets come from the zip64
// end record that PyTorch always writes, else from the end record.
std::vector<EntryData> entries_of(const std::string& b) {
  const size_t end = b.rfind("PK\x05\x06"), end64 = b.rfind("PK\x06\x06");
  size_t p = end64 != std::string::npos ? le(b, end64 + 48, 4) : le(b, end + 16, 4);
  const size_t count = le(b, end + 10, 2);
  std::vector<EntryData> out;
  for (size_t i = 0; i < count; ++i) {
    const size_t name = le(b, p + 28, 2), local = le(b, p + 42, 4);
    const size_t data = local + 30 + le(b, local + 26, 2) + le(b, local + 28, 2);
    out.push_back({b.substr(p + 46, name), data, le(b, p + 20, 4), le(b, p + 10, 2) == 8, p});
    p += 46 + name + le(b, p + 30, 2) + le(b, p + 32, 2);
  }
  return out;
}

// Where an entry's data starts, from the local header that first names it.
size_t data_after_local_header(const std::string& b, const std::string& name) {
  const size_t header = b.find(name) - 30;
  return header + 30 + le(b, header + 26, 2) + le(b, header + 28, 2);
}

std::string saved_builtin_model(const std::string& dir) {
  torch::manual_seed(1);
  ModelSpec spec;
  spec.arch = spec.name = "lenet5";
  const InputShape shape{1, 12, 12, 4};
  auto model = make_model(spec, shape);
  DataSpec data;
  data.dataset = "synthetic";
  const auto path = dir + "/lenet5.pt";
  save_model_file(path, *model, {"lenet5", shape, data, "masked", "0123456789abcdef", "element", 0.5});
  return path;
}

std::string load_error(const std::string& path) {
  try {
    load_model_file(path, c10::Device(c10::kCPU));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ZipCheck, ArchivesFromBothWritersAreIntact) {
  const auto dir = test::scratch_dir("zip_intact");
  const auto builtin = saved_builtin_model(dir);
  EXPECT_EQ(read_checked_archive(builtin, "model file"), read_bytes(builtin));
  // Python's torch.jit.save deflates the code entries: they are inflated to be checked.
  const auto check = check_zip(read_bytes(std::string(TS_MODEL_DIR) + "/resnet20.pt"));
  EXPECT_TRUE(check.ok()) << check.detail;
}

TEST(ZipCheck, AFlippedByteInAnyEntryIsFoundAndNamed) {
  for (const auto& path : {saved_builtin_model(test::scratch_dir("zip_flip")), std::string(TS_MODEL_DIR) + "/small_cnn.pt"}) {
    const auto bytes = read_bytes(path);
    const auto entries = entries_of(bytes);
    ASSERT_GT(entries.size(), 4u) << path;
    for (const auto& e : entries) {
      if (e.size == 0) continue;
      // A deflated stream's last byte may end in padding bits, which change nothing read.
      for (size_t at : {e.data, e.data + e.size / 2, e.data + e.size - 1 - e.deflated}) {
        auto damaged = bytes;
        damaged[at] = static_cast<char>(damaged[at] ^ 0x10);
        const auto check = check_zip(damaged);
        EXPECT_EQ(check.verdict, ZipCheck::damaged) << path << " " << e.name << " at " << at;
        EXPECT_NE(check.detail.find(e.name), std::string::npos) << check.detail;
      }
    }
  }
}

TEST(ZipCheck, ADamagedCodeEntryIsAOneLineErrorNotACrash) {
  // The fuzzer's crash: a bit flipped in a TorchScript source entry of a model file.
  const auto dir = test::scratch_dir("zip_code");
  for (const auto& source : {saved_builtin_model(dir), std::string(TS_MODEL_DIR) + "/small_cnn.pt"}) {
    auto bytes = read_bytes(source);
    bool flipped = false;
    for (const auto& e : entries_of(bytes))
      if (e.name.find("/code/") != std::string::npos && e.size > 8) {
        bytes[e.data + e.size / 2] ^= 0x20;
        flipped = true;
      }
    ASSERT_TRUE(flipped) << source << " has no code entry";
    const auto path = dir + "/damaged.pt";
    write_bytes(path, bytes);
    const auto msg = load_error(path);
    // Deflated entries mostly fail to inflate to their size, stored ones fail the CRC.
    EXPECT_NE(msg.find(fmt::format("'{}' is damaged: entry '", path)), std::string::npos) << msg;
    EXPECT_NE(msg.find("/code/"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(ZipCheck, CutShortFilesAndOtherBytesAreRefused) {
  const auto bytes = read_bytes(saved_builtin_model(test::scratch_dir("zip_cut")));
  for (size_t keep = 0; keep < bytes.size(); keep += 97) {
    const auto check = check_zip(bytes.substr(0, keep));
    EXPECT_FALSE(check.ok()) << "kept " << keep << " of " << bytes.size();
    EXPECT_FALSE(check.detail.empty());
  }
  // The central directory's offset (in the zip64 end record PyTorch writes) past the file, or
  // moved by a byte.
  const size_t end64 = bytes.rfind("PK\x06\x06");
  ASSERT_NE(end64, std::string::npos);
  for (size_t byte : {end64 + 48, end64 + 51}) {
    auto moved = bytes;
    moved[byte] ^= 0x40;
    EXPECT_EQ(check_zip(moved).verdict, ZipCheck::damaged) << byte - end64;
  }
  // Records outside the CRCs: an entry renamed in the directory, a count dropping the last entry.
  auto renamed = bytes;
  const auto last = entries_of(bytes).back().name;
  renamed[bytes.rfind(last) + last.size() - 1] ^= 1;
  EXPECT_EQ(check_zip(renamed).verdict, ZipCheck::damaged);
  auto fewer = bytes;
  fewer[end64 + 32] = static_cast<char>(fewer[end64 + 32] - 1);
  EXPECT_EQ(check_zip(fewer).verdict, ZipCheck::damaged);
  EXPECT_EQ(check_zip("not a zip archive at all").verdict, ZipCheck::not_zip);
  EXPECT_EQ(check_zip("").verdict, ZipCheck::not_zip);
  try {
    require_intact(check_zip("PK\003\004 garbage"), "x.pt", "model file");
    FAIL() << "garbage passed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "'x.pt' is not a model file (not a zip archive (no end-of-central-directory record))");
  }
}

TEST(ZipCheck, Zip64ArchivesAreReadThroughTheirZip64Records) {
  // Python's zipfile with its zip64 limits lowered writes every record and size field in zip64
  // form (what archives over 4 GB carry), stored and deflated.
  const auto dir = test::scratch_dir("zip64");
  const auto script = dir + "/write.py";
  write_bytes(script, R"(import sys, zipfile
zipfile.ZIP64_LIMIT = 0
zipfile.ZIP_FILECOUNT_LIMIT = 0
for name, method in (("stored", zipfile.ZIP_STORED), ("deflated", zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(f"{sys.argv[1]}/{name}.zip", "w", compression=method) as z:
        z.writestr("a/data.pkl", b"pickled" * 1000)
        z.writestr("a/code/x.py", b"def forward(self): pass\n" * 100)
    with zipfile.ZipFile(f"{sys.argv[1]}/{name}.zip") as z:
        assert z.testzip() is None
)");
  ASSERT_EQ(std::system(fmt::format("{} {} {}", TORCH_PYTHON, script, dir).c_str()), 0);
  for (const char* name : {"stored", "deflated"}) {
    const auto bytes = read_bytes(fmt::format("{}/{}.zip", dir, name));
    ASSERT_NE(bytes.find("PK\x06\x06"), std::string::npos) << name << ": no zip64 end record";
    const auto check = check_zip(bytes);
    EXPECT_TRUE(check.ok()) << name << ": " << check.detail;
    auto damaged = bytes;
    damaged[data_after_local_header(bytes, "a/code/x.py") + 3] ^= 1;
    const auto found = check_zip(damaged);
    EXPECT_EQ(found.verdict, ZipCheck::damaged) << name;
    EXPECT_NE(found.detail.find("a/code/x.py"), std::string::npos) << found.detail;
  }
}

TEST(ZipCheck, FieldsOutsideTheCrcsAreCheckedToo) {
  const auto bytes = read_bytes(saved_builtin_model(test::scratch_dir("zip_fields")));
  const auto entries = entries_of(bytes);
  const auto& first = entries.at(0);
  auto refused = [&](size_t at, uint8_t mask, ZipCheck::Verdict verdict, const std::string& why) {
    auto changed = bytes;
    changed[at] = static_cast<char>(changed[at] | mask);
    const auto check = check_zip(changed);
    EXPECT_EQ(check.verdict, verdict) << why << ": " << check.detail;
    EXPECT_NE(check.detail.find(why), std::string::npos) << check.detail;
  };
  // miniz extracts nothing for a directory, so LibTorch would parse uninitialised memory.
  refused(first.central + 38, 0x10, ZipCheck::damaged, "marked a directory but holds data");
  refused(first.central + 8, 0x01, ZipCheck::unsupported, "is encrypted");
  refused(first.central + 10, 0x0c, ZipCheck::unsupported, "compression method 12");
  // Entries running into each other (a small file could make the CRC work quadratic).
  refused(first.central + 21, 0x10, ZipCheck::damaged, "overlaps another entry");
  // A CRC of zero is what torch.serialization.set_crc32_options(False) writes.
  auto no_crc = bytes;
  for (int i = 0; i < 4; ++i) no_crc[first.central + 16 + i] = 0;
  EXPECT_NE(check_zip(no_crc).detail.find("set_crc32_options(False)"), std::string::npos);
  // An entry renamed in both places to another's name, or to one with a line break in it.
  const auto& second = entries.at(1);
  ASSERT_EQ(first.name.substr(0, first.name.size() - 1), second.name.substr(0, second.name.size() - 1));
  auto rename = [&](char last) {
    auto renamed = bytes;  // the first mention is the local header's, the last the directory's
    renamed[bytes.find(second.name) + second.name.size() - 1] = last;
    renamed[bytes.rfind(second.name) + second.name.size() - 1] = last;
    return renamed;
  };
  const auto twice = check_zip(rename(first.name.back()));
  EXPECT_NE(twice.detail.find("appears twice"), std::string::npos) << twice.detail;
  auto broken_line = rename('\n');
  broken_line[second.data] ^= 1;
  const auto shown = check_zip(broken_line).detail;
  EXPECT_EQ(shown.find('\n'), std::string::npos) << shown;
  EXPECT_NE(shown.find("fails its CRC-32 check"), std::string::npos) << shown;
}

TEST(ZipCheck, OnlyRegularReadableFilesAreRead) {
  const auto dir = test::scratch_dir("zip_files");
  auto error_of = [](const std::string& path) {
    try {
      read_checked_archive(path, "model file");
    } catch (const ArchiveError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of(dir + "/missing.pt").find("cannot be opened: No such file or directory"), std::string::npos);
  EXPECT_NE(error_of(dir).find("is not a regular file"), std::string::npos);
  const auto fifo = dir + "/fifo.pt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(error_of(fifo).find("is not a regular file"), std::string::npos);  // and does not block
  write_bytes(dir + "/empty.pt", "");
  EXPECT_NE(error_of(dir + "/empty.pt").find("is not a model file (not a zip archive"), std::string::npos);
}
