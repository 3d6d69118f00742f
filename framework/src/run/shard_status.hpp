#pragma once
/// `runner status`: done / running / failed / pending per shard, read from the shard databases
/// (read-only: safe while the array tasks write them).

#include "store/store_ops.hpp"

#include <string>
#include <vector>

namespace prunelab {

struct ShardState {
  std::string name;   // "0/4", or the file name
  std::string path;
  bool exists = false;
  int64_t runs = -1;  // assigned to the shard; -1 unknown
  RunCounts counts;
  std::vector<std::string> notes;  // running runs (who, since when), failed runs (error)
  int64_t pending() const { return runs < 0 ? -1 : std::max<int64_t>(0, runs - counts.total()); }
};

struct GridStatus {
  std::string experiment, dir;
  int64_t grid_runs = -1;
  std::vector<ShardState> shards;
  std::string merged_path;  // empty: none
  RunCounts merged;
  std::string jobs;  // the last submission's job ids (<db>.slurm/jobs), empty if none
};

/// Reads every *.db of `dir`. `expected_runs` (optional, by shard index) fills in shards whose
/// database does not exist yet; `merged_db` is reported too when it exists.
GridStatus read_grid_status(const std::string& dir, const std::vector<int64_t>& expected_runs,
                            const std::string& merged_db, const std::string& jobs_file);

std::string format_grid_status(const GridStatus& status);

}  // namespace prunelab
