#pragma once
/// Shared helpers for the test suite: plugin loading, scratch directories, a tiny config.

#include "models/builtin_model.hpp"
#include "plugin/registry.hpp"

#include <filesystem>
#include <string>

namespace prunelab::test {

/// A registry with every plugin the build produced.
inline PluginRegistry& builtin_registry() {
  static PluginRegistry registry = [] {
    PluginRegistry r;
    auto refused = r.load_directory(PLUGIN_DIR);
    if (!refused.empty()) throw std::runtime_error(refused.front());
    return r;
  }();
  return registry;
}

/// A freshly initialised built-in model (global torch seed) behind the Model interface.
inline std::unique_ptr<BuiltinModel> make_builtin(const std::string& arch, const InputShape& shape) {
  return std::make_unique<BuiltinModel>(arch, shape);
}

/// A fresh empty directory under the system temp dir.
inline std::string scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("prunelab_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

/// A small, fast experiment on synthetic data (seconds on one core).
inline std::string tiny_config(const std::string& extra_prune = "") {
  return R"(version: 1
name: tiny
seeds: [1]
threads: 1
data: {dataset: synthetic, val_size: 200, synthetic_train: 800, synthetic_test: 300}
model: lenet300
train: {epochs: 2, batch_size: 50, lr: 0.05}
finetune: {epochs: 0.5}
prune:
  criterion: magnitude
  ratio_policy: [uniform, global]
  schedule: [{type: one_shot, epochs: 0}, one_shot, iterative]
  sparsity: [0.5, 0.9]
)" + extra_prune;
}

}  // namespace prunelab::test
