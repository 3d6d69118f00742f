#pragma once
/// Pruned models on disk: the masked model (dense shapes, with its masks) and the physically
/// pruned one (smaller shapes), each loadable on its own to evaluate or deploy.

#include "data/dataset.hpp"
#include "models/network.hpp"

#include <c10/core/Device.h>

#include <memory>
#include <string>
#include <vector>

namespace prunelab {

struct ModelFileInfo {
  std::string model;        // make_network() name
  InputShape shape;
  DataSpec data;            // what it was trained on (runner eval re-reads the test split)
  std::string kind;         // "masked" | "pruned"
  std::string run_hash;
  std::string granularity;
  double top1 = 0;          // test top-1 when saved
};

/// Writes `net` (and, for a masked model, its per-layer masks) with `info` to `path` atomically.
void save_model_file(const std::string& path, Network& net, const ModelFileInfo& info,
                     const std::vector<at::Tensor>* masks = nullptr);

struct LoadedModel {
  ModelFileInfo info;
  std::shared_ptr<Network> net;  // shapes as saved (physically pruned shapes load as they are)
  std::vector<at::Tensor> masks; // empty for a physically pruned model
};

LoadedModel load_model_file(const std::string& path, c10::Device device);

}  // namespace prunelab
