#pragma once
/// `runner dense`: trains each distinct dense model of a grid once into the shared cache, the
/// first array of a Slurm submission (one model per task), before the grid's tasks load them.

#include "config/experiment.hpp"
#include "run/shard.hpp"

#include <string>
#include <vector>

namespace prunelab {

struct DenseStageOptions {
  std::string cache_dir;  // the grid's dense cache
  int threads = 0;        // 0 = the experiment's setting
  std::string device;     // empty = the experiment's setting
  ShardSpec shard;        // models k with k % count == index
  bool quiet = false;
};

/// The first run of each distinct dense model, in grid order.
std::vector<const RunSpec*> distinct_dense_models(const Experiment& exp);

/// Trains (or finds in the cache) the models of `opt.shard`; returns how many it handled.
/// Throws StopRequested on SIGTERM (the lock goes with the process; nothing half-written stays).
int train_dense_models(const Experiment& exp, const DenseStageOptions& opt);

}  // namespace prunelab
