#include "models/builtin_model.hpp"
#include "models/model_spec.hpp"
#include "models/torchscript_model.hpp"

#include "core/errors.hpp"
#include "core/zip_check.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fnmatch.h>
#include <fstream>
#include <stdexcept>

namespace prunelab {

const std::vector<std::string>& builtin_model_names() { return network_names(); }

std::string ModelSpec::to_json() const {
  std::string keep;
  if (!keep_dense.empty()) keep = fmt::format(R"(,"keep_dense":["{}"])", fmt::join(keep_dense, "\",\""));
  // A built-in is its name alone (as before TorchScript models existed, so old hashes hold).
  if (type == "builtin") return keep.empty() ? fmt::format("\"{}\"", arch) : fmt::format(R"({{"arch":"{}"{}}})", arch, keep);
  return fmt::format(R"({{"content":"{}","init":"{}"{},"type":"torchscript"}})", content_hash, init, keep);
}

std::string file_content_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("model file '{}' not found", path));
  uint64_t h = 14695981039346656037ULL;
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[i]);
      h *= 1099511628211ULL;
    }
  }
  return fmt::format("{:016x}", h);
}

namespace {
void apply_keep_dense(Model& model, const std::vector<std::string>& patterns, const std::string& label) {
  auto& layers = model.layers();
  for (const auto& pattern : patterns) {
    bool matched = false;
    for (auto& l : layers)
      if (fnmatch(pattern.c_str(), l.name.c_str(), 0) == 0) {
        l.prunable = false;
        matched = true;
      }
    if (!matched) {
      std::vector<std::string> names;
      for (const auto& l : layers) names.push_back(l.name);
      throw std::runtime_error(fmt::format("keep_dense pattern '{}' matches no layer of {} (layers: {})", pattern,
                                           label, fmt::join(names, ", ")));
    }
  }
}
}  // namespace

std::unique_ptr<Model> make_model(const ModelSpec& spec, const InputShape& shape) {
  const bool input_differs = !spec.input.empty() && (spec.input[0] != shape.channels || spec.input[1] != shape.height ||
                                                      spec.input[2] != shape.width);
  if (input_differs || (spec.classes > 0 && spec.classes != shape.classes))
    throw std::runtime_error(fmt::format("model '{}' declares input [{}] and {} classes, the data has {}", spec.label(),
                                         fmt::join(spec.input, ", "), spec.classes, shape.str()));
  std::unique_ptr<Model> model;
  if (spec.type == "builtin") {
    model = std::make_unique<BuiltinModel>(spec.arch, shape);
  } else if (spec.type == "torchscript") {
    if (!spec.content_hash.empty() && std::filesystem::exists(spec.path) &&
        file_content_hash(spec.path) != spec.content_hash)
      throw std::runtime_error(fmt::format("model file '{}' changed since the experiment was read", spec.path));
    auto ts = TorchScriptModel::load(spec.path, shape);
    if (spec.init == "seed") ts->reinitialize();
    model = std::move(ts);
  } else {
    throw std::invalid_argument(fmt::format("unknown model type '{}'", spec.type));
  }
  apply_keep_dense(*model, spec.keep_dense, spec.label());
  return model;
}

std::unique_ptr<Model> load_model(const std::string& path, const c10::Device& device, std::string* metadata) {
  if (!std::filesystem::is_regular_file(path)) throw std::runtime_error(fmt::format("no such model file: {}", path));
  // Read and checked once, for both readers: LibTorch's own reader skips the CRC check.
  const auto bytes = std::make_shared<const std::string>(read_checked_archive(path, "prunelab model file"));
  try {
    if (auto builtin = BuiltinModel::load(*bytes, device, metadata)) return builtin;
  } catch (const std::exception&) {
    // not a built-in model archive: try TorchScript below
  }
  if (auto ts = TorchScriptModel::load_saved(bytes, path, device, metadata)) return ts;
  throw std::runtime_error(fmt::format("{} is not a prunelab model file (no prunelab metadata in it)", path));
}

}  // namespace prunelab
