#pragma once
/// The SQLite results database: runs, pruning steps, per-layer sparsity, and the `results` view.

#include "prune/stats.hpp"

#include <prunelab/plugin_api.hpp>

#include <SQLiteCpp/Database.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace prunelab {

struct RunSpec;

/// What a run records before its first step (the dense model it starts from).
struct DenseRecord {
  std::string hash;
  double top1 = 0, top1_val = 0;
  int64_t params = 0, flops = 0;
  double top5 = std::nan("");
};

struct StepRecord {
  int step = 0;  // 1-based pruning step
  double target_sparsity = 0, achieved_sparsity = 0;
  double top1 = 0, top1_val = 0, loss = 0, train_loss = 0;
  double top5 = std::nan(""), top5_val = std::nan("");
  int64_t finetune_steps = 0;
  bool pruned_from_cache = false;  // the pruning came from FirstStepCache
  double wall_s = 0;
  ModelStats stats;     // the masked model (dense shapes)
  ModelStats physical; // the physically pruned model (dead channels removed)
  double physical_max_diff = std::nan("");  // max |output| difference masked vs physical
  // Median inference milliseconds per batch of 1 and of 64; NaN when not measured.
  double latency_b1_ms = std::nan(""), latency_b64_ms = std::nan("");
  double dense_latency_b1_ms = std::nan(""), dense_latency_b64_ms = std::nan("");
  // Layers of the pruned model that ran sparse kernels in those timings (-1: not measured), and
  // the largest relative sparse-vs-dense difference of a layer's output (NaN: none ran).
  int64_t sparse_layers_b1 = -1, sparse_layers_b64 = -1;
  double kernel_max_diff = std::nan("");
  std::vector<double> ratios;  // per layer, what the policy chose for the unit the layer produces
};

struct RunEnvironment {
  int threads = 0;
  std::string device;
};

/// The outcome of ResultStore::claim_run: the new run id, or why the run was left alone.
struct RunClaim {
  enum class Skip { None, Done, HeldElsewhere, FailedElsewhere };
  std::optional<int64_t> run_id;
  Skip skip = Skip::None;
  std::string skipped_because;  // for the progress line
};

class ResultStore {
 public:
  /// Opens (creating if needed) the database in WAL mode and brings the schema up to date.
  /// `path` may be ":memory:" (a private in-memory database, for tests). Throws
  /// SchemaTooNewError, before changing anything, if a newer prunelab wrote the database.
  /// `wal` false: a rollback journal instead, for a file on a network file system that one
  /// process writes and other hosts read (a shard database: WAL needs one host's shared memory).
  explicit ResultStore(const std::string& path, bool wal = true);
  /// The schema version this build writes (meta.schema_version).
  static int schema_version();

  /// Takes the run for this process: replaces any failed or abandoned attempt (a `running` row
  /// whose process is gone) with a fresh `running` row. Nothing is taken when the run is done
  /// or another live runner holds it, so several runners can share one grid and database.
  RunClaim claim_run(const RunSpec& run, const RunEnvironment& env);
  void set_dense(int64_t run_id, const DenseRecord& dense);
  void add_step(int64_t run_id, const StepRecord& step);
  void set_model_path(int64_t run_id, const std::string& path);
  /// The schedule's planned steps (JSON), logged before the first step runs.
  void set_plan(int64_t run_id, const std::string& plan_json);
  /// Throws if another runner took the run over meanwhile (then nothing is written).
  void finish_run(int64_t run_id, double wall_s);
  void fail_run(int64_t run_id, const std::string& error, double wall_s);

  /// Search results shared across runs (table `curves`), see SearchStore.
  std::vector<CurvePoint> load_curves(const std::string& kind, const std::string& key);
  void save_curves(const std::string& kind, const std::string& key, const std::vector<CurvePoint>& points);
  /// Appends a row to the run's search log for a pruning step (1-based).
  void add_search_log(int64_t run_id, int step, const std::string& kind, const std::string& json);

  SQLite::Database& db() { return db_; }

 private:
  /// Throws if `run_id` is no longer this process's (another runner took it over).
  void check_still_ours(int64_t run_id);

  SQLite::Database db_;
  std::string owner_;      // host:pid of this process
  std::string opened_at_;  // UTC time this store was opened (same format as runs.finished_at)
};

/// The current UTC time as ISO 8601.
std::string utc_now();

}  // namespace prunelab
