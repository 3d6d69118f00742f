#pragma once
/// Runs every run of an experiment grid, resuming from the database and never stopping on a failure.

#include "config/experiment.hpp"

#include <map>
#include <string>

namespace prunelab {

class PluginRegistry;

struct GridOptions {
  std::string db_path;    // results/<experiment>.db by default
  std::string models_dir;  // saved pruned models; <db dir>/models by default
  std::string cache_dir;  // dense checkpoints; <db dir>/cache by default
  int threads = 0;        // 0 = the experiment's setting
  std::string device;     // empty = the experiment's setting
  bool quiet = false;
  bool share_first_steps = true;  // runs with the same first pruning step compute it once
  bool train_dense = true;        // false: a dense model missing from the cache fails its runs
  bool wal = true;                // false: rollback journal (a shard database on a shared file system)
  std::map<std::string, std::string> meta;  // written into the database's meta table (store_ops.hpp)
};

struct GridSummary {
  int done = 0, skipped = 0, failed = 0;
  int held_elsewhere = 0;  // runs another live runner on the same database was doing
  int stopped_by = 0;      // the signal that stopped the grid early (core/stop_signal.hpp), 0 if none
};

GridSummary run_grid(const Experiment& exp, const PluginRegistry& registry, const GridOptions& options);

/// cpu | cuda | auto -> a concrete device (auto picks CUDA when LibTorch sees one).
c10::Device resolve_device(const std::string& name);

}  // namespace prunelab
