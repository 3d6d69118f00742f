#include "config/config_loader.hpp"
#include "run/grid_runner.hpp"
#include "run/model_eval.hpp"
#include "store/result_store.hpp"
#include "test_support.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

using namespace prunelab;

namespace {
int64_t count(SQLite::Database& db, const std::string& sql) { return db.execAndGet(sql).getInt64(); }

GridOptions options(const std::string& dir) {
  GridOptions o;
  o.db_path = dir + "/r.db";
  o.quiet = true;
  return o;
}
}  // namespace

TEST(Grid, RunsEverythingThenSkipsFinishedRuns) {
  const auto dir = test::scratch_dir("grid");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  auto first = run_grid(exp, test::builtin_registry(), options(dir));
  EXPECT_EQ(first.done, 12);
  EXPECT_EQ(first.failed, 0);
  {
    SQLite::Database db(dir + "/r.db");
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs WHERE status = 'done'"), 12);
    // Every run logs one row per pruning step; iterative to 0.9 has 4 steps.
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.schedule = 'iterative' AND r.target_sparsity = 0.9"), 2 * 4);
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE is_final"), 12);
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE ABS(achieved_sparsity - target_sparsity) > 0.005"), 0);
    EXPECT_EQ(count(db, "SELECT COUNT(*) FROM layers WHERE run_id = 1"), 3);
    EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
  }
  auto again = run_grid(exp, test::builtin_registry(), options(dir));
  EXPECT_EQ(again.done, 0);
  EXPECT_EQ(again.skipped, 12);
}

TEST(Grid, ChannelRunsArePhysicallyPrunedCheckedTimedAndSaved) {
  const auto dir = test::scratch_dir("grid_channel");
  auto exp = parse_experiment(R"(version: 1
name: chan
seeds: [1]
threads: 1
data: {dataset: synthetic, val_size: 200, synthetic_train: 800, synthetic_test: 300}
model: lenet5
train: {epochs: 1, batch_size: 50, lr: 0.05}
finetune: {epochs: 0.25}
eval: {latency_repeats: 2}
prune:
  criterion: magnitude
  ratio_policy: uniform
  schedule: [one_shot, iterative]
  granularity: [channel, element]
  sparsity: 0.5
)", "chan.yaml", test::builtin_registry());
  auto summary = run_grid(exp, test::builtin_registry(), options(dir));
  ASSERT_EQ(summary.done, 4);
  SQLite::Database db(dir + "/r.db");
  // Channel runs: half the channels gone, a smaller physical model, equal outputs, timings.
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE granularity = 'channel' AND is_final AND ABS(achieved_sparsity - 0.5) < 0.02"), 2);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE granularity = 'channel' AND flops_physical = flops_effective AND flops_physical < flops AND params_physical < params AND weight_sparsity > 0.5"), count(db, "SELECT COUNT(*) FROM results WHERE granularity = 'channel'"));
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE physical_max_diff IS NULL OR physical_max_diff > 1e-3"), 0);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE latency_b64_ms > 0 AND dense_latency_b1_ms > 0 AND measured_speedup_b64 > 0"), count(db, "SELECT COUNT(*) FROM results"));
  // Element runs keep the dense shapes.
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE granularity = 'element' AND params_physical != params"), 0);
  // Both model files exist for every run, and the pruned one reloads to the recorded accuracy.
  SQLite::Statement q(db, "SELECT model_path, top1 FROM results WHERE is_final");
  int files = 0;
  while (q.executeStep()) {
    const std::string pruned = q.getColumn(0).getString();
    ASSERT_TRUE(std::filesystem::exists(pruned)) << pruned;
    EXPECT_TRUE(std::filesystem::exists(pruned.substr(0, pruned.size() - 10) + "-masked.pt"));
    // The physical copy runs other conv shapes: equal up to a near-tie on one of 300 images.
    EXPECT_NEAR(evaluate_model_file(pruned, c10::Device(c10::kCPU), 128, 0).top1, q.getColumn(1).getDouble(), 1.0 / 300 + 1e-12);
    ++files;
  }
  EXPECT_EQ(files, 4);
}

TEST(Grid, ResumesARunLeftRunningByACrash) {
  const auto dir = test::scratch_dir("resume");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  run_grid(exp, test::builtin_registry(), options(dir));
  double top1_before;
  {
    // Simulate a process killed mid-run: one run still 'running' with half its steps.
    SQLite::Database db(dir + "/r.db", SQLite::OPEN_READWRITE);
    top1_before = db.execAndGet("SELECT top1 FROM results WHERE run_id = 6 AND is_final").getDouble();
    db.exec("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = 6");
    db.exec("DELETE FROM steps WHERE run_id = 6 AND step > 1");
  }
  auto resumed = run_grid(exp, test::builtin_registry(), options(dir));
  EXPECT_EQ(resumed.done, 1);
  EXPECT_EQ(resumed.skipped, 11);
  SQLite::Database db(dir + "/r.db");
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs WHERE status = 'done'"), 12);
  // The redone run replaced the partial one, with the same numbers (same seed, same work).
  const auto hash = exp.runs[5].hash();
  SQLite::Statement q(db, "SELECT s.top1 FROM runs r JOIN steps s ON s.run_id = r.id WHERE r.hash = ? ORDER BY s.step DESC LIMIT 1");
  q.bind(1, hash);
  ASSERT_TRUE(q.executeStep());
  EXPECT_DOUBLE_EQ(q.getColumn(0).getDouble(), top1_before);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs"), 12);
}

TEST(Grid, LeavesARunToTheLiveRunnerHoldingItAndRedoesAnAbandonedOne) {
  const auto dir = test::scratch_dir("owners");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  run_grid(exp, test::builtin_registry(), options(dir));
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  auto mark_running = [&](const std::string& owner) {
    SQLite::Database db(dir + "/r.db", SQLite::OPEN_READWRITE);
    SQLite::Statement q(db, "UPDATE runs SET status = 'running', finished_at = NULL, owner = ? WHERE id = 6");
    q.bind(1, owner);
    q.exec();
  };
  // Process 1 (init) is alive: another runner is doing run 6, so it is left alone.
  mark_running(fmt::format("{}:1", host));
  auto held = run_grid(exp, test::builtin_registry(), options(dir));
  EXPECT_EQ(held.done, 0);
  EXPECT_EQ(held.skipped, 11);
  EXPECT_EQ(held.held_elsewhere, 1);
  // A process id above pid_max belongs to no process: the run was abandoned and is redone.
  mark_running(fmt::format("{}:{}", host, 1 << 30));
  auto redone = run_grid(exp, test::builtin_registry(), options(dir));
  EXPECT_EQ(redone.done, 1);
  EXPECT_EQ(redone.held_elsewhere, 0);
  SQLite::Database db(dir + "/r.db");
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs WHERE status = 'done'"), 12);
  EXPECT_EQ(db.execAndGet("SELECT owner FROM runs WHERE hash = '" + exp.runs[5].hash() + "'").getString(),
            fmt::format("{}:{}", host, getpid()));
}

TEST(Store, ARunTakenOverByAnotherRunnerGetsAFreshIdAndTheLoserCannotWriteIntoIt) {
  const auto dir = test::scratch_dir("takeover");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  ResultStore mine(dir + "/r.db");
  const auto claim = mine.claim_run(exp.runs[0], {1, "cpu"});
  ASSERT_TRUE(claim.run_id);
  // Another runner decided this process was gone and took the run (here: by hand).
  ResultStore theirs(dir + "/r.db");
  theirs.db().exec("UPDATE runs SET owner = 'elsewhere:1' WHERE id = " + std::to_string(*claim.run_id));
  const auto taken = theirs.claim_run(exp.runs[0], {1, "cpu"});
  ASSERT_TRUE(taken.run_id);
  EXPECT_NE(*taken.run_id, *claim.run_id);  // never the old id, even though it was the highest
  EXPECT_THROW(mine.add_step(*claim.run_id, StepRecord{}), std::runtime_error);
  EXPECT_THROW(mine.finish_run(*claim.run_id, 1.0), std::runtime_error);
  EXPECT_EQ(count(theirs.db(), "SELECT COUNT(*) FROM steps"), 0);
  EXPECT_EQ(count(theirs.db(), "SELECT COUNT(*) FROM runs WHERE status = 'running'"), 1);
  // A run that failed while a runner was going (in a concurrent runner) is not run again by it;
  // a runner started after the failure retries it.
  theirs.fail_run(*taken.run_id, "boom", 1.0);
  theirs.db().exec("UPDATE runs SET finished_at = '2999-01-01T00:00:00Z' WHERE id = " + std::to_string(*taken.run_id));
  EXPECT_FALSE(theirs.claim_run(exp.runs[0], {1, "cpu"}).run_id);
  theirs.db().exec("UPDATE runs SET finished_at = '2000-01-01T00:00:00Z' WHERE id = " + std::to_string(*taken.run_id));
  EXPECT_TRUE(theirs.claim_run(exp.runs[0], {1, "cpu"}).run_id);
}

TEST(Grid, RunsSharingTheirFirstPruningStepComputeItOnceWithTheSameResults) {
  // Per policy and target, prune-only and one-shot share their only step, and the two iterative
  // runs share their first step (to 0.3): 6 of the 12 runs load it.
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("ratio_policy: [uniform, global]"), 31, "ratio_policy: [uniform, {type: sensitivity, samples: 100}]");
  auto exp = parse_experiment(cfg, "tiny.yaml", test::builtin_registry());
  const auto shared_dir = test::scratch_dir("shared_steps"), own_dir = test::scratch_dir("own_steps");
  auto own = options(own_dir);
  own.share_first_steps = false;
  ASSERT_EQ(run_grid(exp, test::builtin_registry(), options(shared_dir)).done, 12);
  ASSERT_EQ(run_grid(exp, test::builtin_registry(), own).done, 12);
  SQLite::Database shared(shared_dir + "/r.db"), alone(own_dir + "/r.db");
  EXPECT_EQ(count(shared, "SELECT COUNT(*) FROM steps WHERE pruned_from_cache = 1"), 6);
  EXPECT_EQ(count(shared, "SELECT COUNT(*) FROM steps WHERE pruned_from_cache = 1 AND step > 1"), 0);
  EXPECT_EQ(count(alone, "SELECT COUNT(*) FROM steps WHERE pruned_from_cache = 1"), 0);
  // Every step of every run has the same numbers either way.
  for (const auto& run : exp.runs) {
    const std::string sql = "SELECT group_concat(s.top1 || ':' || s.top1_val || ':' || s.params_nonzero, ',') FROM steps s "
                            "JOIN runs r ON r.id = s.run_id WHERE r.hash = '" + run.hash() + "'";
    EXPECT_EQ(shared.execAndGet(sql).getString(), alone.execAndGet(sql).getString()) << run.summary();
  }
  // A run that loaded its first step names the run that searched, and did not search itself.
  EXPECT_EQ(count(shared, "SELECT COUNT(*) FROM search_log WHERE kind = 'first_step_reused' AND json_extract(data, '$.from_run') "
                          "IN (SELECT hash FROM runs)"), 6);  // every loading run
  EXPECT_EQ(count(shared, "SELECT COUNT(*) FROM search_log l JOIN steps s ON s.run_id = l.run_id AND s.step = l.step "
                          "WHERE s.pruned_from_cache = 1 AND l.kind != 'first_step_reused'"), 0);
  EXPECT_EQ(count(alone, "SELECT COUNT(*) FROM search_log WHERE kind = 'first_step_reused'"), 0);
}

TEST(Grid, AFailedRunIsRecordedAndTheGridGoesOn) {
  const auto dir = test::scratch_dir("failing");
  PluginRegistry registry;
  registry.load_directory(PLUGIN_DIR);
  registry.load_file(EXPLODING_PLUGIN);
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("criterion: magnitude"), 20, "criterion: [exploding, magnitude]");
  auto exp = parse_experiment(cfg, "tiny.yaml", registry);
  auto s = run_grid(exp, registry, options(dir));
  EXPECT_EQ(s.failed, 12);
  EXPECT_EQ(s.done, 12);
  SQLite::Database db(dir + "/r.db");
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs WHERE status = 'failed' AND error LIKE '%boom%' AND criterion = 'exploding'"), 12);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM results WHERE criterion = 'exploding'"), 0);
}

TEST(Grid, DivergingTrainingFailsTheRunWithItsError) {
  const auto dir = test::scratch_dir("nan");
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("finetune: {epochs: 0.5}"), 23, "finetune: {epochs: 0.5, lr: 1.0e+12, lr_schedule: constant}");
  auto exp = parse_experiment(cfg, "tiny.yaml", test::builtin_registry());
  auto s = run_grid(exp, test::builtin_registry(), options(dir));
  // Prune-only runs never fine-tune, so they finish; every fine-tuned run diverges.
  EXPECT_EQ(s.done, 4);
  EXPECT_EQ(s.failed, 8);
  SQLite::Database db(dir + "/r.db");
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs WHERE status = 'failed' AND (error LIKE '%loss became%' OR error LIKE '%not finite%')"), 8);
}

TEST(Grid, DenseModelIsTrainedOnceAndReusedAcrossInvocations) {
  const auto dir = test::scratch_dir("dense");
  auto exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  run_grid(exp, test::builtin_registry(), options(dir));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/cache"))
    files += e.path().extension() == ".pt" && e.path().filename().string().rfind("dense-", 0) == 0;
  EXPECT_EQ(files, 1);
  std::filesystem::path checkpoint;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/cache"))
    if (e.path().extension() == ".pt" && e.path().filename().string().rfind("dense-", 0) == 0) checkpoint = e.path();
  const auto written = std::filesystem::last_write_time(checkpoint);
  // A second experiment file with the same dense settings but another pruning grid uses the same checkpoint.
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("sparsity: [0.5, 0.9]"), 20, "sparsity: [0.7]");
  auto other = parse_experiment(cfg, "tiny.yaml", test::builtin_registry());
  EXPECT_EQ(other.runs[0].dense_hash(), exp.runs[0].dense_hash());
  run_grid(other, test::builtin_registry(), options(dir));
  files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/cache"))
    files += e.path().extension() == ".pt" && e.path().filename().string().rfind("dense-", 0) == 0;
  EXPECT_EQ(files, 1);
  EXPECT_EQ(std::filesystem::last_write_time(checkpoint), written) << "the dense model was trained again";
  SQLite::Database db(dir + "/r.db");
  EXPECT_EQ(count(db, "SELECT COUNT(DISTINCT dense_top1) FROM runs"), 1);
}

TEST(Grid, ARunThatMissesItsTargetSparsityFails) {
  // lenet300 on 12x12 inputs: fc1 holds 43200 of 73600 weights, so sparing it caps the model at 41 %.
  const auto dir = test::scratch_dir("unreachable");
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("ratio_policy: [uniform, global]"), 31, "ratio_policy: {type: uniform, skip_first: true}");
  cfg.replace(cfg.find("sparsity: [0.5, 0.9]"), 20, "sparsity: [0.3, 0.5]");
  auto exp = parse_experiment(cfg, "tiny.yaml", test::builtin_registry());
  auto s = run_grid(exp, test::builtin_registry(), options(dir));
  EXPECT_EQ(s.done, 3);    // 0.3 is reachable
  EXPECT_EQ(s.failed, 3);  // 0.5 is not
  SQLite::Database db(dir + "/r.db");
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs WHERE status = 'failed' AND target_sparsity = 0.5 AND error LIKE '%reached sparsity 0.41%'"), 3);
}
