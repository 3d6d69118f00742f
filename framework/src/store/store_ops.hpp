#pragma once
/// Small operations on a results database beyond one run's writes: the grid's identity in
/// `meta`, forgetting an interrupted run, counting runs by status.

#include <SQLiteCpp/Database.h>

#include <map>
#include <set>
#include <string>

namespace prunelab {

/// Keys of `meta` that identify what a database holds (written by every grid run):
/// experiment, grid_hash (the ordered run hashes of the whole grid), grid_runs, and for a shard
/// database shard ("I/N") and shard_runs.
void write_meta(SQLite::Database& db, const std::map<std::string, std::string>& entries);
std::map<std::string, std::string> read_meta(SQLite::Database& db);

/// Deletes the run and its steps, layers and search log in one transaction: the run is pending
/// again and the next invocation redoes it. Safe against a takeover: a run taken over by another
/// runner has another id.
void forget_run(SQLite::Database& db, int64_t run_id);
/// The same deletes inside the caller's transaction.
void delete_run_rows(SQLite::Database& db, int64_t run_id);

struct RunCounts {
  int64_t done = 0, running = 0, failed = 0;
  int64_t total() const { return done + running + failed; }
};
RunCounts count_runs(SQLite::Database& db);
/// Hashes of the runs whose status is `done`.
std::set<std::string> done_hashes(SQLite::Database& db);

}  // namespace prunelab
