// Grids split over processes and Slurm array tasks: shard balancing, merging shard databases,
// stop requests (SIGTERM), file locks on the shared caches, the batch scripts.

#include "config/config_loader.hpp"
#include "core/stop_signal.hpp"
#include "run/file_lock.hpp"
#include "run/grid_runner.hpp"
#include "run/shard.hpp"
#include "run/shard_status.hpp"
#include "run/slurm.hpp"
#include "run/subprocess.hpp"
#include "store/merge.hpp"
#include "store/result_store.hpp"
#include "train/trainer.hpp"
#include "test_support.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

#include <sys/wait.h>
#include <unistd.h>

using namespace prunelab;

namespace {
int64_t count(SQLite::Database& db, const std::string& sql) { return db.execAndGet(sql).getInt64(); }

GridOptions quiet_grid(const std::string& db) {
  GridOptions o;
  o.db_path = db;
  o.quiet = true;
  return o;
}

// Runs part `shard` of `exp` as `runner --shard` does, into <dir>/r.shards/I.db.
GridSummary run_shard(Experiment exp, const std::string& dir, const std::string& shard) {
  auto o = quiet_grid(dir + "/r.db");
  select_grid_part(exp, test::builtin_registry(), o, shard, "");
  return run_grid(exp, test::builtin_registry(), o);
}

// Every step's numbers of a run, by hash, for comparing databases.
std::string run_numbers(SQLite::Database& db, const std::string& hash) {
  return db.execAndGet("SELECT COALESCE(group_concat(s.step || ':' || s.top1 || ':' || s.top1_val || ':' || s.loss || ':' || "
                       "s.params_nonzero, ','), '') FROM (SELECT * FROM steps ORDER BY step) s JOIN runs r ON r.id = s.run_id "
                       "WHERE r.hash = '" + hash + "'")
      .getString();
}

std::vector<RunWork> uniform_work(size_t n, double cost = 1.0) {
  std::vector<RunWork> w(n);
  for (size_t i = 0; i < n; ++i) w[i] = {cost, 0.0, fmt::format("g{}", i), "d"};
  return w;
}

double load_of(const std::vector<RunWork>& work, const std::vector<size_t>& part) {
  double l = 0;
  std::set<std::string> groups;
  for (size_t i : part) {
    l += work[i].cost - work[i].shared_cost;
    if (groups.insert(work[i].group).second) l += work[i].shared_cost;
  }
  return l;
}
}  // namespace

TEST(Shard, ParsesIOverNAndRefusesAnythingElse) {
  const auto s = ShardSpec::parse("2/4");
  EXPECT_EQ(s.index, 2);
  EXPECT_EQ(s.count, 4);
  EXPECT_EQ(s.text(), "2/4");
  for (const char* bad : {"4/4", "1/0", "x/2", "1", "-1/3", "1/2/3", ""}) EXPECT_THROW(ShardSpec::parse(bad), std::invalid_argument) << bad;
}

TEST(Shard, EveryRunLandsInExactlyOnePartAndThePartsAreBalanced) {
  std::vector<RunWork> work;
  for (int i = 0; i < 37; ++i) work.push_back({1.0 + (i % 5), 0.0, fmt::format("g{}", i), fmt::format("d{}", i % 3)});
  const auto parts = balance_shards(work, 4);
  ASSERT_EQ(parts.size(), 4u);
  std::multiset<size_t> seen;
  double total = 0, most = 0;
  for (const auto& p : parts) {
    EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));
    seen.insert(p.begin(), p.end());
    most = std::max(most, load_of(work, p));
    total += load_of(work, p);
  }
  EXPECT_EQ(seen.size(), 37u);
  EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), 37u);
  // Largest-first placement: no part exceeds the fair share by more than the largest run.
  EXPECT_LE(most, total / 4 + 5.0);
  EXPECT_EQ(balance_shards(work, 4), parts) << "not deterministic";
  // More parts than runs: the extra parts are empty.
  const auto many = balance_shards(uniform_work(3), 5);
  int empty = 0;
  for (const auto& p : many) empty += p.empty();
  EXPECT_EQ(empty, 2);
}

TEST(Shard, RunsSharingAFirstStepStayTogetherUnlessTheyAloneExceedAPart) {
  // Four groups of three runs whose first step is half their cost: each group stays in one part.
  std::vector<RunWork> work;
  for (int i = 0; i < 12; ++i) work.push_back({2.0, 1.0, fmt::format("g{}", i % 4), "d"});
  for (const auto& p : balance_shards(work, 4)) {
    ASSERT_EQ(p.size(), 3u);
    for (size_t i : p) EXPECT_EQ(work[i].group, work[p.front()].group);
  }
  // One group holding everything is cut, or three parts would idle.
  std::vector<RunWork> one(12, RunWork{2.0, 0.5, "g", "d"});
  for (const auto& p : balance_shards(one, 3)) EXPECT_EQ(p.size(), 4u);
}

TEST(Shard, APartAlreadyHoldingTheDenseModelIsPreferredWhenItCostsNoBalance) {
  // Two dense models, eight equal runs, interleaved in the grid: two parts get one model each.
  std::vector<RunWork> work;
  for (int i = 0; i < 8; ++i) work.push_back({1.0, 0.0, fmt::format("g{}", i), fmt::format("d{}", i % 2)});
  const auto parts = balance_shards(work, 2);
  for (const auto& p : parts) {
    ASSERT_EQ(p.size(), 4u);
    for (size_t i : p) EXPECT_EQ(work[i].dense, work[p.front()].dense);
  }
}

TEST(Shard, ARealGridIsSplitByItsPlannedCost) {
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  const auto work = estimate_work(exp, test::builtin_registry());
  ASSERT_EQ(work.size(), 12u);
  // Prune-only runs fine-tune nothing: cheaper than the one-shot run they share a step with.
  for (size_t i = 0; i < exp.runs.size(); ++i)
    if (exp.runs[i].schedule.label() == "one_shot(epochs=0)") EXPECT_LT(work[i].cost, 0.5 * work[i + 2].cost) << i;
  const auto parts = plan_shards(exp, test::builtin_registry(), 3);
  size_t n = 0;
  for (const auto& p : parts) n += p.size();
  EXPECT_EQ(n, 12u);
  // A worker takes its own part first, then the others'.
  const auto order = worker_order(parts, 1);
  ASSERT_EQ(order.size(), 12u);
  EXPECT_TRUE(std::equal(parts[1].begin(), parts[1].end(), order.begin()));
}

TEST(Merge, ShardsMergeIntoTheRowsOfASingleProcessRunAndMergingAgainChangesNothing) {
  const auto dir = test::scratch_dir("merge");
  std::string cfg = test::tiny_config();
  // A searching policy: search logs and curves must be carried too.
  cfg.replace(cfg.find("ratio_policy: [uniform, global]"), 31, "ratio_policy: [uniform, {type: sensitivity, samples: 100}]");
  auto exp = parse_experiment(cfg, "tiny.yaml", test::builtin_registry());
  auto ref_opt = quiet_grid(dir + "/ref/ref.db");
  ASSERT_EQ(run_grid(exp, test::builtin_registry(), ref_opt).done, 12);
  int done = 0;
  for (const char* shard : {"0/3", "1/3", "2/3"}) done += run_shard(exp, dir, shard).done;
  EXPECT_EQ(done, 12);
  EXPECT_TRUE(std::filesystem::exists(dir + "/r.shards/0.db"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/cache")) << "shards share the cache next to the merged database";
  {
    SQLite::Database shard(dir + "/r.shards/1.db");
    EXPECT_EQ(shard.execAndGet("PRAGMA journal_mode").getString(), "delete") << "no WAL on a shared file system";
    EXPECT_EQ(read_meta(shard).at("shard"), "1/3");
  }
  const auto merged = merge_databases(dir + "/r.db", expand_shard_paths({dir + "/r.shards"}));
  EXPECT_EQ(merged.shards, 3);
  EXPECT_EQ(merged.added, 12);
  EXPECT_EQ(merged.merged.done, 12);
  EXPECT_EQ(merged.grid_runs, 12);
  SQLite::Database out(dir + "/r.db"), ref(dir + "/ref/ref.db");
  for (const char* table : {"steps", "layers", "search_log", "curves"})
    EXPECT_EQ(count(out, fmt::format("SELECT COUNT(*) FROM {}", table)), count(ref, fmt::format("SELECT COUNT(*) FROM {}", table))) << table;
  for (const auto& run : exp.runs) EXPECT_EQ(run_numbers(out, run.hash()), run_numbers(ref, run.hash())) << run.summary();
  // Children follow their run's new id: nothing points at a missing run, ids are unique.
  EXPECT_EQ(count(out, "SELECT COUNT(*) FROM steps WHERE run_id NOT IN (SELECT id FROM runs)"), 0);
  EXPECT_EQ(count(out, "SELECT COUNT(*) FROM layers WHERE run_id NOT IN (SELECT id FROM runs)"), 0);
  EXPECT_EQ(count(out, "SELECT COUNT(*) FROM search_log WHERE run_id NOT IN (SELECT id FROM runs)"), 0);
  EXPECT_EQ(count(out, "SELECT COUNT(*) FROM results WHERE is_final"), 12);
  const std::string layers_sql = "SELECT group_concat(r.hash || l.step || l.layer || l.nonzero, ',') FROM "
                                 "(SELECT * FROM layers ORDER BY run_id, step, layer) l JOIN runs r ON r.id = l.run_id";
  const auto before = out.execAndGet(layers_sql).getString();
  const auto again = merge_databases(dir + "/r.db", expand_shard_paths({dir + "/r.shards"}));
  EXPECT_EQ(again.added, 0);
  EXPECT_EQ(again.kept, 12);
  EXPECT_EQ(count(out, "SELECT COUNT(*) FROM runs"), 12);
  EXPECT_EQ(out.execAndGet(layers_sql).getString(), before);
  EXPECT_EQ(out.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

TEST(Merge, ARunInSeveralShardsKeepsItsDoneCopy) {
  const auto dir = test::scratch_dir("merge_dup");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  keep_runs(exp, {0, 1});
  run_shard(exp, dir, "0/1");
  // A second copy where run 0 failed and run 1 is still running (a task that was killed).
  std::filesystem::copy_file(dir + "/r.shards/0.db", dir + "/bad.db");
  {
    SQLite::Database bad(dir + "/bad.db", SQLite::OPEN_READWRITE);
    bad.exec(fmt::format("UPDATE runs SET status = 'failed', error = 'boom' WHERE hash = '{}'", exp.runs[0].hash()));
    bad.exec(fmt::format("UPDATE runs SET status = 'running' WHERE hash = '{}'", exp.runs[1].hash()));
  }
  for (const auto& order : {std::vector<std::string>{dir + "/bad.db", dir + "/r.shards/0.db"},
                            std::vector<std::string>{dir + "/r.shards/0.db", dir + "/bad.db"}}) {
    const std::string out = dir + fmt::format("/out{}.db", order.front() == dir + "/bad.db");
    const auto s = merge_databases(out, order);
    EXPECT_EQ(s.merged.done, 2);
    SQLite::Database db(out);
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs WHERE status = 'done'"), 2);
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM steps WHERE run_id NOT IN (SELECT id FROM runs)"), 0);
  }
}

TEST(Merge, RefusesShardsOfAnotherSchemaVersionOrExperimentDefinition) {
  const auto dir = test::scratch_dir("merge_refuse");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  keep_runs(exp, {0});
  run_shard(exp, dir, "0/1");
  const std::string good = dir + "/r.shards/0.db";
  auto message = [&](const std::vector<std::string>& shards) {
    try {
      merge_databases(dir + "/out.db", shards);
    } catch (const MergeError& e) {
      return std::string(e.what());
    }
    return std::string("merged");
  };
  std::filesystem::copy_file(good, dir + "/old.db");
  {
    SQLite::Database old(dir + "/old.db", SQLite::OPEN_READWRITE);
    old.exec("UPDATE meta SET value = '4' WHERE key = 'schema_version'");
  }
  EXPECT_NE(message({good, dir + "/old.db"}).find("schema version 4, this runner writes version"), std::string::npos);
  // Another definition: the same name, another sparsity.
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("sparsity: [0.5, 0.9]"), 20, "sparsity: [0.6]");
  auto other = parse_experiment(cfg, "tiny.yaml", test::builtin_registry());
  keep_runs(other, {0});
  run_shard(other, dir + "/other", "0/1");
  EXPECT_NE(message({good, dir + "/other/r.shards/0.db"}).find("another experiment definition"), std::string::npos);
  std::ofstream(dir + "/junk.db") << "not a database";
  EXPECT_NE(message({good, dir + "/junk.db"}), "merged");
  EXPECT_NE(message({good, dir + "/missing.db"}).find("does not exist"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.db")) << "a refused merge writes nothing";
  // The output itself must hold the same experiment.
  merge_databases(dir + "/out.db", {good});
  EXPECT_NE(message({dir + "/other/r.shards/0.db"}).find("holds another experiment definition"), std::string::npos);
}

TEST(Stop, ARequestStopsTrainingBeforeTheNextOptimizerStep) {
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  const auto data = load_data(exp.runs[0].data);
  auto net = test::make_builtin("lenet300", data.shape);
  const auto before = net->parameters().front().clone();
  TrainSession session(*net, data.train, exp.runs[0].train.optim, 10, 1, c10::Device(c10::kCPU));
  request_stop(SIGTERM);
  try {
    session.run(10, nullptr, {});
    ADD_FAILURE() << "no StopRequested";
  } catch (const StopRequested& e) {
    EXPECT_EQ(e.signal(), SIGTERM);
  }
  clear_stop_request();
  EXPECT_EQ(session.steps_done(), 0);
  EXPECT_TRUE(net->parameters().front().equal(before)) << "a step was taken after the stop request";
}

TEST(Stop, NothingIsClaimedAfterAStopRequestAndTheResumeRunsTheRest) {
  const auto dir = test::scratch_dir("stop");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  keep_runs(exp, {0, 2, 4});  // prune-only, one-shot, iterative at 0.5
  auto opt = quiet_grid(dir + "/r.db");
  Experiment first = exp;
  keep_runs(first, {0});
  ASSERT_EQ(run_grid(first, test::builtin_registry(), opt).done, 1);
  request_stop(SIGTERM);
  const auto stopped = run_grid(exp, test::builtin_registry(), opt);
  clear_stop_request();
  EXPECT_EQ(stopped.stopped_by, SIGTERM);
  EXPECT_EQ(stopped.done + stopped.skipped, 0);
  {
    SQLite::Database db(dir + "/r.db");
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs"), 1) << "nothing claimed after the stop request";
  }
  const auto resumed = run_grid(exp, test::builtin_registry(), opt);
  EXPECT_EQ(resumed.done, 2);
  EXPECT_EQ(resumed.skipped, 1);
}

TEST(Stop, ARunSignalledMidwayIsLeftPendingAndRedoneWithTheSameNumbers) {
  // The criterion raises SIGTERM the first time it scores: after the run is claimed and its dense
  // model trained, before its fine-tuning, whose first optimizer step must not be taken.
  install_stop_handlers();
  PluginRegistry registry;
  registry.load_directory(PLUGIN_DIR);
  registry.load_file(SIGNALLING_PLUGIN);
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("criterion: magnitude"), 20, "criterion: signalling");
  auto exp = parse_experiment(cfg, "tiny.yaml", registry);
  keep_runs(exp, {2, 3});  // one-shot at 0.5 and 0.9
  const auto dir = test::scratch_dir("stop_mid");
  auto opt = quiet_grid(dir + "/r.db");
  const auto stopped = run_grid(exp, registry, opt);
  clear_stop_request();
  EXPECT_EQ(stopped.stopped_by, SIGTERM);
  EXPECT_EQ(stopped.done + stopped.failed, 0);
  {
    SQLite::Database db(dir + "/r.db");
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs"), 0) << "the interrupted run must be pending, not running or failed";
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM steps") + count(db, "SELECT COUNT(*) FROM layers"), 0);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  const auto resumed = run_grid(exp, registry, opt);
  EXPECT_EQ(resumed.done, 2);
  EXPECT_EQ(resumed.stopped_by, 0);
  // The same grid without interruption (the criterion signals only once per process).
  auto ref_opt = quiet_grid(dir + "/ref/ref.db");
  ASSERT_EQ(run_grid(exp, registry, ref_opt).done, 2);
  SQLite::Database db(dir + "/r.db"), ref(dir + "/ref/ref.db");
  for (const auto& run : exp.runs) {
    EXPECT_FALSE(run_numbers(db, run.hash()).empty());
    EXPECT_EQ(run_numbers(db, run.hash()), run_numbers(ref, run.hash())) << run.summary();
  }
}

TEST(FileLock, ASecondHolderWaitsAndAKilledHolderHoldsNothing) {
  const auto dir = test::scratch_dir("lock");
  const std::string path = dir + "/x.lock";
  {
    FileLock a = FileLock::acquire(path);
    ASSERT_TRUE(a.held());
    EXPECT_FALSE(FileLock::try_acquire(path).held()) << "two holders at once";
    // Another process cannot take it either.
    const pid_t child = fork();
    if (child == 0) _exit(FileLock::try_acquire(path).held() ? 1 : 0);
    int status = 0;
    waitpid(child, &status, 0);
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  EXPECT_TRUE(FileLock::try_acquire(path).held()) << "released with its holder";
  // A holder that is killed leaves the lock free.
  const pid_t child = fork();
  if (child == 0) {
    FileLock held = FileLock::acquire(path);
    pause();
    _exit(0);
  }
  for (int i = 0; i < 200 && FileLock::try_acquire(path).held(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(FileLock::try_acquire(path).held());
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(FileLock::acquire(path).held());
  // A stop request ends a wait.
  FileLock mine = FileLock::acquire(path);
  request_stop(SIGTERM);
  const pid_t waiter = fork();
  if (waiter == 0) {
    try {
      FileLock::acquire(path);
    } catch (const StopRequested&) {
      _exit(3);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(waiter, &status, 0);
  clear_stop_request();
  EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST(DenseCache, AGridTaskThatFindsItsDenseModelMissingFailsItsRunsNamingIt) {
  const auto dir = test::scratch_dir("require_dense");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  keep_runs(exp, {0, 1});
  auto opt = quiet_grid(dir + "/r.db");
  opt.train_dense = false;
  const auto s = run_grid(exp, test::builtin_registry(), opt);
  EXPECT_EQ(s.failed, 2);
  SQLite::Database db(dir + "/r.db");
  EXPECT_EQ(count(db, fmt::format("SELECT COUNT(*) FROM runs WHERE status = 'failed' AND error LIKE '%dense model lenet300 seed 1 "
                                  "is missing from the cache: {}/cache/dense-lenet300-{}.pt%'",
                                  dir, exp.runs[0].dense_hash())),
            2);
}

TEST(Slurm, ScriptsChainTheDenseArrayTheShardedGridAndTheMerge) {
  const auto dir = test::scratch_dir("slurm");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  SlurmOptions opt;
  opt.config = dir + "/tiny.yaml";
  opt.db_path = dir + "/results/tiny.db";
  opt.cache_dir = dir + "/results/cache";
  opt.models_dir = dir + "/results/models";
  opt.runner = "/opt/prunelab/bin/runner";
  opt.workdir = dir;
  opt.tasks = 4;
  opt.parallel = 2;
  opt.partition = "short";
  opt.time = "01:00:00";
  opt.extra = split_shell_words("--account=abc --comment 'two words'");
  const auto s = write_slurm_scripts(exp, opt);
  EXPECT_EQ(s.dir, dir + "/results/tiny.slurm");
  EXPECT_EQ(s.grid_tasks, 4);
  EXPECT_EQ(s.dense_tasks, 1);
  auto text = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto grid = text(s.grid);
  for (const char* want : {"#SBATCH --array=0-3%2", "#SBATCH --cpus-per-task=1", "#SBATCH --partition=short",
                           "#SBATCH --time=01:00:00", "#SBATCH --requeue", "#SBATCH --signal=B:USR1@120",
                           "#SBATCH --open-mode=append", "--shard \"${SLURM_ARRAY_TASK_ID}/4\"", "--require-dense",
                           "--requeue", "exec /opt/prunelab/bin/runner"})
    EXPECT_NE(grid.find(want), std::string::npos) << want << "\n" << grid;
  EXPECT_NE(text(s.dense).find("#SBATCH --array=0-0"), std::string::npos);
  EXPECT_NE(text(s.dense).find(" dense "), std::string::npos);
  EXPECT_NE(text(s.merge).find("merge " + opt.db_path + " " + dir + "/results/tiny.shards"), std::string::npos);
  const auto cmds = sbatch_commands(s, opt, "11", "12");
  ASSERT_EQ(cmds.size(), 3u);
  EXPECT_EQ(cmds[1][2], "--dependency=afterok:11");
  EXPECT_EQ(cmds[2][2], "--dependency=afterany:12");
  EXPECT_EQ(cmds[0][2], "--account=abc");
  EXPECT_EQ(cmds[0][4], "two words");
  EXPECT_EQ(cmds[0].back(), s.dense);
  // Shards of another split in the directory: refused (the merge would mix two assignments).
  keep_runs(exp, {0});
  auto o = quiet_grid(opt.db_path);
  select_grid_part(exp, test::builtin_registry(), o, "0/2", "");
  run_grid(exp, test::builtin_registry(), o);
  auto full = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  EXPECT_THROW(write_slurm_scripts(full, opt), std::runtime_error);
}

TEST(Slurm, ShellWordsSplitLikeAShell) {
  EXPECT_EQ(split_shell_words(" a  'b c' \"d \\\"e\\\"\" f\\ g "), (std::vector<std::string>{"a", "b c", "d \"e\"", "f g"}));
  EXPECT_EQ(split_shell_words(""), std::vector<std::string>{});
  EXPECT_THROW(split_shell_words("'open"), std::invalid_argument);
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("/a/b.yaml"), "/a/b.yaml");
}

TEST(Status, CountsEachShardFromItsDatabase) {
  const auto dir = test::scratch_dir("status");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  run_shard(exp, dir, "1/3");
  const auto parts = plan_shards(exp, test::builtin_registry(), 3);
  const auto st = read_grid_status(dir + "/r.shards", {int64_t(parts[0].size()), int64_t(parts[1].size()), int64_t(parts[2].size())},
                                   "", "");
  ASSERT_EQ(st.shards.size(), 3u);
  EXPECT_FALSE(st.shards[0].exists);
  EXPECT_EQ(st.shards[1].counts.done, int64_t(parts[1].size()));
  EXPECT_EQ(st.shards[1].pending(), 0);
  EXPECT_EQ(st.shards[2].pending(), int64_t(parts[2].size()));
  EXPECT_EQ(st.grid_runs, 12);
  const auto text = format_grid_status(st);
  EXPECT_NE(text.find("experiment tiny: 12 runs in 3 shards"), std::string::npos) << text;
  EXPECT_NE(text.find("(not started)"), std::string::npos) << text;
}
