#pragma once
/// Which network a run prunes, as the config's `model:` entry says, and how to build it.

#include "models/model.hpp"

#include <memory>
#include <string>
#include <vector>

namespace prunelab {

struct ModelSpec {
  std::string type = "builtin";  // builtin | torchscript
  std::string arch;              // builtin: a builtin_model_names() entry
  std::string path;              // torchscript: the file
  std::string name;              // label in tables (builtin: the arch; torchscript: `name:` or the file stem)
  std::string content_hash;      // torchscript: hash of the file's bytes (part of every run hash)
  std::string init = "file";     // torchscript: file (the file's values) | seed (re-drawn per seed)
  std::vector<std::string> keep_dense;  // glob patterns of layer names never pruned
  // What the config declared (checked against the data; empty / 0 = take the data's).
  std::vector<int64_t> input;  // [channels, height, width]
  int64_t classes = 0;

  std::string label() const { return name; }
  /// Canonical JSON of what determines the network (not the path or the label: a moved or
  /// renamed file with the same content is the same model).
  std::string to_json() const;
};

/// Names of the built-in networks.
const std::vector<std::string>& builtin_model_names();

/// A fresh model for `shape` (initialised from the global torch seed where the spec says so),
/// with spec.keep_dense applied. Throws a one-line std::runtime_error naming the file on a bad
/// TorchScript file, a wrong shape, or a keep_dense pattern that matches no layer.
std::unique_ptr<Model> make_model(const ModelSpec& spec, const InputShape& shape);

/// Reads a model written by Model::save (either kind); `metadata` gets what was saved with it.
std::unique_ptr<Model> load_model(const std::string& path, const c10::Device& device, std::string* metadata);

/// Stable 64-bit content hash (FNV-1a) of a file's bytes, as 16 hex digits.
std::string file_content_hash(const std::string& path);

}  // namespace prunelab
