#pragma once
/// `runner merge`: shard databases (one per array task) into one results database, with every
/// table carried and run ids remapped.

#include "store/store_ops.hpp"

#include <string>
#include <vector>

namespace prunelab {

/// Refusals (another schema version, another experiment definition, not a results database).
struct MergeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct MergeSummary {
  int shards = 0;
  int64_t added = 0;     // runs new to the output
  int64_t replaced = 0;  // runs whose copy in the output was not done and the shard's was better
  int64_t kept = 0;      // runs the output already had as good (done stays done)
  RunCounts merged;      // the output after the merge
  int64_t grid_runs = -1;  // runs in the experiment's grid (meta), -1 unknown
};

/// Merges `shards` into `out` (created if missing; rollback journal, for shared file systems).
/// Idempotent: a run (by hash) already in `out` is replaced only by a better copy (done >
/// failed > running), so merging again, or a run in several shards, keeps one done copy. Steps,
/// layers and search logs follow their run under its new id; curves are shared by key. Every
/// shard is checked before anything is written: they must carry this runner's schema version
/// and the same experiment definition (meta grid_hash) as each other and as `out`.
MergeSummary merge_databases(const std::string& out, const std::vector<std::string>& shards);

/// Arguments as given, with each directory replaced by its *.db files in numeric-then-name order.
std::vector<std::string> expand_shard_paths(const std::vector<std::string>& args);

/// The schema version this build writes.
int current_schema_version();

}  // namespace prunelab
