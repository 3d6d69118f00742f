// Tensors files: what a PyTorch user writes with
//   torch.save({'images': images, 'labels': labels}, 'root/train.pt')   (and root/test.pt)
// images uint8 or float32 [N, C, H, W] (or [N, H, W]: one channel), labels int64 [N], and
// optionally 'classes': int. Read with LibTorch's unpickler (torch::pickle_load), which builds
// tensors and plain values only: no Python, and no code from the file is run.
#include "core/zip_check.hpp"
#include "data/readers.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/serialize.h>

#include <filesystem>
#include <stdexcept>

namespace prunelab::data {

namespace {

struct TensorFile {
  RawSplit split;
  int64_t classes = 0;  // 0: not given
};

// The dtype as Python spells it.
std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kByte: return "uint8";
    case at::kChar: return "int8";
    case at::kShort: return "int16";
    case at::kInt: return "int32";
    case at::kLong: return "int64";
    case at::kHalf: return "float16";
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBool: return "bool";
    default: return c10::toString(t);
  }
}
std::string dtype_name(const at::Tensor& t) { return dtype_name(t.scalar_type()); }

// What Python would call the value.
std::string python_kind(const c10::IValue& v) {
  if (v.isGenericDict()) return "dict";
  if (v.isList()) return "list";
  if (v.isTuple()) return "tuple";
  if (v.isTensor()) return "tensor";
  if (v.isInt()) return "int";
  if (v.isDouble()) return "float";
  if (v.isString()) return "str";
  if (v.isBool()) return "bool";
  if (v.isNone()) return "None";
  return v.tagKind();
}

constexpr const char* kWriteHint =
    "write it with torch.save({'images': images, 'labels': labels}, path) (PyTorch 1.6 or later, the default zip format)";

TensorFile parse(const std::string& path, const std::vector<uint8_t>& bytes) {
  // LibTorch's reader skips the CRC check: a damaged archive is refused before it is unpickled.
  require_intact(check_zip({reinterpret_cast<const char*>(bytes.data()), bytes.size()}), path,
                 "file torch.save writes", std::string("; ") + kWriteHint);
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const std::exception& e) {
    std::string why = e.what();
    why = why.substr(0, why.find('\n'));
    throw std::runtime_error(fmt::format("'{}' is not a file torch.save writes ({}); {}", path, why, kWriteHint));
  }
  if (!value.isGenericDict())
    throw std::runtime_error(fmt::format("'{}' holds a {}, expected a dict {{'images': tensor, 'labels': tensor}}", path,
                                         python_kind(value)));
  TensorFile out;
  std::vector<std::string> keys;
  for (const auto& kv : value.toGenericDict()) {
    if (!kv.key().isString()) throw std::runtime_error(fmt::format("'{}': the dict's keys must be strings", path));
    const std::string key = kv.key().toStringRef();
    keys.push_back(key);
    const auto& v = kv.value();
    if (key == "images" || key == "labels") {
      if (!v.isTensor()) throw std::runtime_error(fmt::format("'{}': '{}' is a {}, expected a tensor", path, key, python_kind(v)));
      (key == "images" ? out.split.images : out.split.labels) = v.toTensor();
    } else if (key == "classes") {
      if (!v.isInt() || v.toInt() <= 0)
        throw std::runtime_error(fmt::format("'{}': 'classes' must be a positive int", path));
      out.classes = v.toInt();
    } else {
      throw std::runtime_error(fmt::format("'{}': unexpected key '{}' (expected 'images', 'labels' and optionally 'classes')",
                                           path, key));
    }
  }
  for (const char* required : {"images", "labels"})
    if (std::find(keys.begin(), keys.end(), required) == keys.end())
      throw std::runtime_error(fmt::format("'{}' has no '{}' entry (its keys: {}; expected 'images' and 'labels')", path,
                                           required, fmt::join(keys, ", ")));
  auto& images = out.split.images;
  auto& labels = out.split.labels;
  if (images.scalar_type() != at::kByte && images.scalar_type() != at::kFloat)
    throw std::runtime_error(fmt::format("'{}': 'images' are {}, expected uint8 or float32 (convert with .to(torch.uint8) "
                                         "or .float())", path, dtype_name(images)));
  if (images.dim() == 3) images = images.unsqueeze(1);
  if (images.dim() != 4)
    throw std::runtime_error(fmt::format("'{}': 'images' has shape [{}], expected [N, C, H, W] (or [N, H, W])", path,
                                         fmt::join(images.sizes(), ", ")));
  if (images.size(1) < 1 || images.size(2) < 1 || images.size(3) < 1 || images.size(0) < 1)
    throw std::runtime_error(fmt::format("'{}': 'images' has shape [{}], which holds no pixels", path, fmt::join(images.sizes(), ", ")));
  if (labels.scalar_type() != at::kLong)
    throw std::runtime_error(fmt::format("'{}': 'labels' are {}, expected int64 (convert with .long())", path, dtype_name(labels)));
  if (labels.dim() != 1)
    throw std::runtime_error(fmt::format("'{}': 'labels' has shape [{}], expected [N]", path, fmt::join(labels.sizes(), ", ")));
  if (labels.size(0) != images.size(0))
    throw std::runtime_error(fmt::format("'{}': 'images' holds {} images but 'labels' {} labels", path, images.size(0),
                                         labels.size(0)));
  images = images.contiguous();
  labels = labels.contiguous();
  const auto* lab = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) {
    if (lab[i] < 0) throw std::runtime_error(fmt::format("'{}': label {} of image {} is negative", path, lab[i], i));
    if (out.classes > 0 && lab[i] >= out.classes)
      throw std::runtime_error(fmt::format("'{}': label {} of image {} is out of range ('classes' is {}: labels 0-{})", path,
                                           lab[i], i, out.classes, out.classes - 1));
  }
  if (images.scalar_type() == at::kFloat) {
    const auto finite = images.reshape({images.size(0), -1}).isfinite().all(1);
    if (!finite.all().item<bool>())
      throw std::runtime_error(fmt::format("'{}': image {} holds NaN or infinite values", path,
                                           finite.logical_not().nonzero()[0][0].item<int64_t>()));
  }
  return out;
}

std::string file_of(const DataSpec& spec, const char* split) {
  const auto path = join_path(spec.root, std::string(split) + ".pt");
  if (!std::filesystem::exists(path))
    throw std::runtime_error(fmt::format("'{}' is missing (a tensors set is {}/train.pt and {}/test.pt, each written by "
                                         "torch.save({{'images': ..., 'labels': ...}}, path))", path, spec.root, spec.root));
  return path;
}

// What the cross-split checks need of one file.
struct Summary {
  std::vector<int64_t> shape;  // C, H, W
  at::ScalarType dtype;
  int64_t count = 0, classes = 0, max_label = 0;
};
Summary summarise(const TensorFile& f) {
  const auto& im = f.split.images;
  return {{im.size(1), im.size(2), im.size(3)}, im.scalar_type(), im.size(0), f.classes,
          f.split.labels.max().item<int64_t>()};
}
std::vector<int64_t> encode(const Summary& s) {
  return {s.shape[0], s.shape[1], s.shape[2], static_cast<int64_t>(s.dtype), s.count, s.classes, s.max_label};
}
Summary decode(const std::vector<int64_t>& v) {
  return {{v.at(0), v.at(1), v.at(2)}, static_cast<at::ScalarType>(v.at(3)), v.at(4), v.at(5), v.at(6)};
}

// Both splits must agree on the image shape, dtype and class count; returns the class count.
int64_t cross_check(const Summary (&s)[2], const std::string (&paths)[2]) {
  if (s[0].shape != s[1].shape || s[0].dtype != s[1].dtype)
    throw std::runtime_error(fmt::format("'{}' images are {} [{}] per image, '{}' images {} [{}]: both splits need one shape "
                                         "and dtype", paths[1], dtype_name(s[1].dtype), fmt::join(s[1].shape, ", "),
                                         paths[0], dtype_name(s[0].dtype), fmt::join(s[0].shape, ", ")));
  if (s[0].classes && s[1].classes && s[0].classes != s[1].classes)
    throw std::runtime_error(fmt::format("'{}' says 'classes': {}, '{}' says {}", paths[0], s[0].classes, paths[1],
                                         s[1].classes));
  int64_t classes = std::max(s[0].classes, s[1].classes);
  if (classes == 0) return std::max(s[0].max_label, s[1].max_label) + 1;
  for (int i = 0; i < 2; ++i)  // a 'classes' in one file bounds the other's labels too
    if (s[i].max_label >= classes)
      throw std::runtime_error(fmt::format("'{}': label {} is out of range ('classes' is {}: labels 0-{})", paths[i],
                                           s[i].max_label, classes, classes - 1));
  return classes;
}

const char* const kSplits[2] = {"train", "test"};

}  // namespace

RawData read_tensor_files(const DataSpec& spec) {
  std::string paths[2];
  TensorFile files[2];
  Summary s[2];
  for (int i = 0; i < 2; ++i) {
    paths[i] = file_of(spec, kSplits[i]);
    files[i] = parse(paths[i], read_file(paths[i]));
    s[i] = summarise(files[i]);
  }
  RawData out;
  out.classes = cross_check(s, paths);
  out.train = std::move(files[0].split);
  out.test = std::move(files[1].split);
  return out;
}

void probe_tensor_files(const DataSpec& spec, Fingerprint& fp, DataProbe& out) {
  // The keys and dtypes can only be checked by unpickling, which reads the tensors too: cheap
  // enough for sets that fit in memory (memoised like every file's digest).
  std::string paths[2];
  Summary s[2];
  for (int i = 0; i < 2; ++i) {
    paths[i] = file_of(spec, kSplits[i]);
    const auto d = digest_file(paths[i], "tensors", [&](const std::vector<uint8_t>& bytes) {
      return encode(summarise(parse(paths[i], bytes)));
    });
    s[i] = decode(d.info);
    fp.add(std::string(kSplits[i]) + ".pt", d);
  }
  out.shape = {s[0].shape[0], s[0].shape[1], s[0].shape[2], cross_check(s, paths)};
  out.train = s[0].count;
  out.test = s[1].count;
}

}  // namespace prunelab::data
