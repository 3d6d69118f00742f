#include "store/result_store.hpp"

#include "config/experiment.hpp"
#include "store/schema_guard.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <thread>

#include <signal.h>
#include <unistd.h>

#ifndef PRUNELAB_VERSION
#define PRUNELAB_VERSION "0.0.0"
#endif

namespace prunelab {

namespace {
constexpr const char* kSchema =
#include "store/schema.sql.inc"
    ;
// Created after the column migrations below: it names columns older databases lack.
constexpr const char* kResultsView =
#include "store/results_view.sql.inc"
    ;
constexpr int kSchemaVersion = 7;  // 7: sparse kernels (steps.sparse_layers_b1/_b64, kernel_max_diff); 6: top-5
}  // namespace

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {
/// Who holds a run: "host:pid".
std::string this_process_owner() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}", host, getpid());
}

bool owner_is_alive(const std::string& owner) {
  const auto colon = owner.rfind(':');
  if (colon == std::string::npos) return false;
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  // WAL databases only work between processes of one host, so another host's row is stale.
  if (owner.substr(0, colon) != host) return false;
  const pid_t pid = static_cast<pid_t>(std::stol(owner.substr(colon + 1)));
  // This process claims one run at a time, so a row it holds itself is left over from an
  // earlier grid in the same process that stopped abnormally.
  if (pid == getpid()) return false;
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}
}  // namespace

ResultStore::ResultStore(const std::string& path, bool wal)
    : db_(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, /*busy_timeout_ms=*/10000), owner_(this_process_owner()), opened_at_(utc_now()) {
  // Before anything is changed: a newer runner's database is left as it is.
  refuse_newer_schema(db_, path, kSchemaVersion);
  // WAL: readers (reports) never block the running grid, and a killed writer leaves a
  // consistent file; every multi-row write below is one transaction.
  // Switching a new file to WAL takes an exclusive lock and does not wait for a busy handler:
  // when several runners create the database at once, the others retry until it is done.
  for (int attempt = 0;; ++attempt) {
    try {
      const std::string mode = wal ? "wal" : "delete";
      if (db_.execAndGet("PRAGMA journal_mode").getString() != mode) db_.exec("PRAGMA journal_mode=" + mode);
      break;
    } catch (const SQLite::Exception& e) {
      if ((e.getErrorCode() != SQLITE_BUSY && e.getErrorCode() != SQLITE_LOCKED) || attempt >= 400) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }
  db_.exec("PRAGMA synchronous=NORMAL");
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  refuse_newer_schema(db_, path, kSchemaVersion);  // again under the write lock: a newer runner may have upgraded it
  db_.exec(kSchema);
  // Columns added after schema version 1: databases written by older runners gain them here.
  struct Added { const char *table, *column, *type; };
  for (const auto& a : {Added{"layers", "bn_gamma_abs_mean", "REAL"}, Added{"layers", "bn_gamma_small", "REAL"},
                        Added{"runs", "model_path", "TEXT"}, Added{"runs", "plan", "TEXT"}, Added{"runs", "owner", "TEXT"}, Added{"steps", "weight_sparsity", "REAL"},
                        Added{"steps", "params_physical", "INTEGER"}, Added{"steps", "flops_physical", "INTEGER"},
                        Added{"steps", "physical_max_diff", "REAL"}, Added{"steps", "latency_b1_ms", "REAL"},
                        Added{"steps", "latency_b64_ms", "REAL"}, Added{"steps", "dense_latency_b1_ms", "REAL"},
                        Added{"steps", "dense_latency_b64_ms", "REAL"},
                        Added{"steps", "pruned_from_cache", "INTEGER"},
                        // schema 6 (from 5): top-5 accuracy; rows of older runs keep NULL there.
                        Added{"steps", "top5", "REAL"}, Added{"steps", "top5_val", "REAL"},
                        Added{"runs", "dense_top5", "REAL"},
                        // schema 7 (from 6): which layers ran sparse kernels in the latency figures.
                        Added{"steps", "sparse_layers_b1", "INTEGER"}, Added{"steps", "sparse_layers_b64", "INTEGER"},
                        Added{"steps", "kernel_max_diff", "REAL"}})
    if (!db_.execAndGet(fmt::format("SELECT COUNT(*) FROM pragma_table_info('{}') WHERE name = '{}'", a.table, a.column)).getInt())
      db_.exec(fmt::format("ALTER TABLE {} ADD COLUMN {} {}", a.table, a.column, a.type));
  db_.exec(kResultsView);
  SQLite::Statement meta(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)");
  meta.bind(1, std::to_string(kSchemaVersion));
  meta.exec();
  tx.commit();
}

int ResultStore::schema_version() { return kSchemaVersion; }

RunClaim ResultStore::claim_run(const RunSpec& run, const RunEnvironment& env) {
  // IMMEDIATE: the check and the insert happen under one write lock, so two runners on the
  // same database never both take a run.
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  const std::string hash = run.hash();
  // A fresh id, never the replaced row's: a runner that lost the run must not write into ours.
  const int64_t new_id = db_.execAndGet("SELECT COALESCE(MAX(id), 0) + 1 FROM runs").getInt64();
  SQLite::Statement old(db_, "SELECT id, status, owner, COALESCE(finished_at, '') FROM runs WHERE hash = ?");
  old.bind(1, hash);
  if (old.executeStep()) {
    const std::string status = old.getColumn(1).getString();
    const std::string owner = old.getColumn(2).isNull() ? "" : old.getColumn(2).getString();
    if (status == "done") return {std::nullopt, RunClaim::Skip::Done, "already done"};
    if (status == "running" && owner_is_alive(owner))
      return {std::nullopt, RunClaim::Skip::HeldElsewhere, fmt::format("running in process {}", owner)};
    // Failed while this runner was already going: a concurrent runner tried it; a later
    // invocation retries it (resume semantics), this one does not run it a second time.
    if (status == "failed" && old.getColumn(3).getString() > opened_at_)
      return {std::nullopt, RunClaim::Skip::FailedElsewhere, fmt::format("failed in process {} during this grid", owner)};
    const int64_t id = old.getColumn(0).getInt64();
    for (const char* sql : {"DELETE FROM layers WHERE run_id = ?", "DELETE FROM steps WHERE run_id = ?",
                            "DELETE FROM search_log WHERE run_id = ?", "DELETE FROM runs WHERE id = ?"}) {
      SQLite::Statement del(db_, sql);
      del.bind(1, id);
      del.exec();
    }
  }
  SQLite::Statement ins(db_, R"(INSERT INTO runs
      (id, hash, experiment, grid_index, config_json, seed, model, dataset, criterion, ratio_policy,
       schedule, granularity, target_sparsity, status, started_at, framework_version, torch_version,
       threads, device, owner)
      VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,'running',?,?,?,?,?,?))");
  int i = 1;
  ins.bind(i++, new_id);
  ins.bind(i++, hash);
  ins.bind(i++, run.experiment);
  ins.bind(i++, static_cast<int64_t>(run.index));
  ins.bind(i++, run.canonical_json());
  ins.bind(i++, static_cast<int64_t>(run.seed));
  ins.bind(i++, run.model.label());
  ins.bind(i++, run.data.dataset);
  ins.bind(i++, run.criterion.label());
  ins.bind(i++, run.ratio_policy.label());
  ins.bind(i++, run.schedule.label());
  ins.bind(i++, run.granularity.name());
  ins.bind(i++, run.sparsity);
  ins.bind(i++, utc_now());
  ins.bind(i++, PRUNELAB_VERSION);
  ins.bind(i++, TORCH_VERSION);
  ins.bind(i++, env.threads);
  ins.bind(i++, env.device);
  ins.bind(i++, owner_);
  ins.exec();
  tx.commit();
  return {new_id, RunClaim::Skip::None, ""};
}

void ResultStore::set_dense(int64_t run_id, const DenseRecord& d) {
  SQLite::Statement q(db_, R"(UPDATE runs SET dense_hash = ?, dense_top1 = ?, dense_top1_val = ?,
                              dense_params = ?, dense_flops = ?, dense_top5 = ? WHERE id = ?)");
  q.bind(1, d.hash);
  q.bind(2, d.top1);
  q.bind(3, d.top1_val);
  q.bind(4, d.params);
  q.bind(5, d.flops);
  if (std::isnan(d.top5)) q.bind(6);
  else q.bind(6, d.top5);
  q.bind(7, run_id);
  q.exec();
}

void ResultStore::check_still_ours(int64_t run_id) {
  SQLite::Statement q(db_, "SELECT COUNT(*) FROM runs WHERE id = ? AND owner = ?");
  q.bind(1, run_id);
  q.bind(2, owner_);
  q.executeStep();
  if (q.getColumn(0).getInt() == 0)
    throw std::runtime_error(fmt::format("run {} was taken over by another runner (this process was thought gone)", run_id));
}

void ResultStore::add_step(int64_t run_id, const StepRecord& s) {
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  check_still_ours(run_id);
  SQLite::Statement q(db_, R"(INSERT INTO steps
      (run_id, step, target_sparsity, achieved_sparsity, top1_val, top1, loss, train_loss, params,
       params_nonzero, prunable, prunable_nonzero, flops, flops_effective, finetune_steps, wall_s,
       weight_sparsity, params_physical, flops_physical, physical_max_diff, latency_b1_ms,
       latency_b64_ms, dense_latency_b1_ms, dense_latency_b64_ms, pruned_from_cache, top5, top5_val,
       sparse_layers_b1, sparse_layers_b64, kernel_max_diff)
      VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?))");
  int i = 1;
  q.bind(i++, run_id);
  q.bind(i++, s.step);
  q.bind(i++, s.target_sparsity);
  q.bind(i++, s.achieved_sparsity);
  q.bind(i++, s.top1_val);
  q.bind(i++, s.top1);
  q.bind(i++, s.loss);
  q.bind(i++, s.train_loss);
  q.bind(i++, s.stats.params);
  q.bind(i++, s.stats.params_nonzero);
  q.bind(i++, s.stats.prunable);
  q.bind(i++, s.stats.prunable_nonzero);
  q.bind(i++, s.stats.macs);
  q.bind(i++, s.stats.macs_effective);
  q.bind(i++, s.finetune_steps);
  q.bind(i++, s.wall_s);
  q.bind(i++, s.stats.sparsity());
  q.bind(i++, s.physical.params);
  q.bind(i++, s.physical.macs);
  for (double v : {s.physical_max_diff, s.latency_b1_ms, s.latency_b64_ms, s.dense_latency_b1_ms, s.dense_latency_b64_ms}) {
    if (std::isnan(v)) q.bind(i++);  // not measured
    else q.bind(i++, v);
  }
  q.bind(i++, s.pruned_from_cache ? 1 : 0);
  for (double v : {s.top5, s.top5_val}) {
    if (std::isnan(v)) q.bind(i++);
    else q.bind(i++, v);
  }
  for (int64_t n : {s.sparse_layers_b1, s.sparse_layers_b64}) {
    if (n < 0) q.bind(i++);
    else q.bind(i++, n);
  }
  if (std::isnan(s.kernel_max_diff)) q.bind(i++);
  else q.bind(i++, s.kernel_max_diff);
  q.exec();
  SQLite::Statement l(db_, R"(INSERT INTO layers
      (run_id, step, layer, kind, params, nonzero, sparsity, ratio, flops, flops_effective,
       bn_gamma_abs_mean, bn_gamma_small)
      VALUES (?,?,?,?,?,?,?,?,?,?,?,?))");
  for (size_t k = 0; k < s.stats.layers.size(); ++k) {
    const auto& layer = s.stats.layers[k];
    int j = 1;
    l.bind(j++, run_id);
    l.bind(j++, s.step);
    l.bind(j++, layer.name);
    l.bind(j++, layer.kind);
    l.bind(j++, layer.params);
    l.bind(j++, layer.nonzero);
    l.bind(j++, layer.sparsity());
    if (k < s.ratios.size() && !std::isnan(s.ratios[k])) l.bind(j++, s.ratios[k]);
    else l.bind(j++);  // the layer is in no prune unit (e.g. a stream conv under scope: inner)
    l.bind(j++, layer.macs);
    l.bind(j++, layer.macs_effective);
    for (double v : {layer.bn_gamma_abs_mean, layer.bn_gamma_small}) {
      if (std::isnan(v)) l.bind(j++);
      else l.bind(j++, v);
    }
    l.exec();
    l.reset();
  }
  tx.commit();
}

void ResultStore::set_model_path(int64_t run_id, const std::string& path) {
  SQLite::Statement q(db_, "UPDATE runs SET model_path = ? WHERE id = ?");
  q.bind(1, path);
  q.bind(2, run_id);
  q.exec();
}

void ResultStore::set_plan(int64_t run_id, const std::string& plan_json) {
  SQLite::Statement q(db_, "UPDATE runs SET plan = ? WHERE id = ?");
  q.bind(1, plan_json);
  q.bind(2, run_id);
  q.exec();
}

void ResultStore::finish_run(int64_t run_id, double wall_s) {
  SQLite::Statement q(db_, "UPDATE runs SET status = 'done', finished_at = ?, wall_s = ? WHERE id = ? AND owner = ?");
  q.bind(1, utc_now());
  q.bind(2, wall_s);
  q.bind(3, run_id);
  q.bind(4, owner_);
  if (q.exec() == 0) check_still_ours(run_id);  // throws: the run is not ours any more
}

void ResultStore::fail_run(int64_t run_id, const std::string& error, double wall_s) {
  SQLite::Statement q(db_, "UPDATE runs SET status = 'failed', error = ?, finished_at = ?, wall_s = ? WHERE id = ? AND owner = ?");
  q.bind(1, error);
  q.bind(2, utc_now());
  q.bind(3, wall_s);
  q.bind(4, run_id);
  q.bind(5, owner_);
  q.exec();  // a run another runner took over is left to it
}

std::vector<CurvePoint> ResultStore::load_curves(const std::string& kind, const std::string& key) {
  SQLite::Statement q(db_, "SELECT label, x, y FROM curves WHERE kind = ? AND key = ? ORDER BY rowid");
  q.bind(1, kind);
  q.bind(2, key);
  std::vector<CurvePoint> out;
  while (q.executeStep()) out.push_back({q.getColumn(0).getString(), q.getColumn(1).getDouble(), q.getColumn(2).getDouble()});
  return out;
}

void ResultStore::save_curves(const std::string& kind, const std::string& key, const std::vector<CurvePoint>& points) {
  SQLite::Transaction tx(db_, SQLite::TransactionBehavior::IMMEDIATE);
  SQLite::Statement del(db_, "DELETE FROM curves WHERE kind = ? AND key = ?");
  del.bind(1, kind);
  del.bind(2, key);
  del.exec();
  SQLite::Statement ins(db_, "INSERT OR REPLACE INTO curves(kind, key, label, x, y) VALUES (?,?,?,?,?)");
  for (const auto& p : points) {
    ins.bind(1, kind);
    ins.bind(2, key);
    ins.bind(3, p.label);
    ins.bind(4, p.x);
    ins.bind(5, p.y);
    ins.exec();
    ins.reset();
  }
  tx.commit();
}

void ResultStore::add_search_log(int64_t run_id, int step, const std::string& kind, const std::string& json) {
  SQLite::Statement q(db_, R"(INSERT INTO search_log(run_id, step, seq, kind, data)
      VALUES (?, ?, (SELECT COUNT(*) FROM search_log WHERE run_id = ? AND step = ?), ?, ?))");
  q.bind(1, run_id);
  q.bind(2, step);
  q.bind(3, run_id);
  q.bind(4, step);
  q.bind(5, kind);
  q.bind(6, json);
  q.exec();
}

}  // namespace prunelab
