#pragma once
/// Dense models trained once per (model, data, training, seed) and kept on disk for every grid.

#include "config/experiment.hpp"
#include "data/dataset.hpp"
#include "models/model.hpp"

#include <c10/core/Device.h>

#include <map>
#include <memory>
#include <string>

namespace prunelab {

class Progress;

struct DenseModel {
  std::string hash;
  std::shared_ptr<Model> net;
  double top1 = 0, top1_val = 0;  // test and validation accuracy, 0..1
  double top5 = 0;                // test top-5
  double train_seconds = 0;       // when it was trained (0 if it came from the cache)
  bool from_cache = false;
};

class DenseCache {
 public:
  /// `train_missing` false: a model not in `dir` fails the run instead of being trained (grid
  /// tasks on a cluster, whose dense models an earlier job trained).
  explicit DenseCache(std::string dir, bool train_missing = true) : dir_(std::move(dir)), train_missing_(train_missing) {}
  /// The dense model of `run`: from memory, else from `dir`, else trained now and saved. A file
  /// lock next to the checkpoint makes a second process wait for the first one's training.
  const DenseModel& get(const RunSpec& run, const DataSplits& data, const c10::Device& device,
                        Progress& progress);
  std::string checkpoint_path(const RunSpec& run) const;
  /// The dense training's state after `step` optimizer steps (0 = the initialisation), for
  /// lottery-ticket rewinding. Training is deterministic, so the first `step` steps are replayed
  /// (same seed, batch order and LR schedule as the full training) and the result cached.
  std::shared_ptr<Model> snapshot(const RunSpec& run, const DataSplits& data, const c10::Device& device,
                                    Progress& progress, int64_t step);

 private:
  std::string dir_;
  bool train_missing_ = true;
  std::map<std::string, DenseModel> memo_;
};

/// The run's model, freshly initialised from the run's seed (or as its file has it), on `device`.
std::shared_ptr<Model> initial_model(const RunSpec& run, const InputShape& shape, const c10::Device& device,
                                     int64_t seed);

}  // namespace prunelab
