#pragma once
/// Pruned models on disk: the masked model (dense shapes, pruned weights zero) and the physically
/// pruned one (smaller shapes), each loadable on its own to evaluate or deploy. A built-in model is
/// a LibTorch archive; a TorchScript model stays TorchScript (torch.jit.load in Python reads it).

#include "data/dataset.hpp"
#include "models/model.hpp"

#include <c10/core/Device.h>

#include <memory>
#include <string>

namespace prunelab {

struct ModelFileInfo {
  std::string model;        // the model's label
  InputShape shape;
  DataSpec data;            // what it was trained on (runner eval re-reads the test split)
  std::string kind;         // "masked" | "pruned"
  std::string run_hash;
  std::string granularity;
  double top1 = 0;          // test top-1 when saved
};

/// Writes `model` with `info` to `path` atomically.
void save_model_file(const std::string& path, Model& model, const ModelFileInfo& info);

struct LoadedModel {
  ModelFileInfo info;
  std::unique_ptr<Model> model;  // shapes as saved (physically pruned shapes load as they are)
};

LoadedModel load_model_file(const std::string& path, c10::Device device);

}  // namespace prunelab
