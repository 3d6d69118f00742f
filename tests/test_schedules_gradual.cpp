// AGP, lottery-ticket rewinding, rule-based iterative steps, distillation, and budget accounting.
#include "config/config_loader.hpp"
#include "run/model_file.hpp"
#include "run/dense_cache.hpp"
#include "run/grid_runner.hpp"
#include "run/plan.hpp"
#include "run/progress.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>

using namespace prunelab;

namespace {
std::vector<PruneStep> plan(const std::string& name, Params p, double target, int64_t budget, int64_t per_epoch = 50,
                            int64_t dense_steps = 1000) {
  return test::builtin_registry().make_schedule(name, p)->plan({target, budget, per_epoch, dense_steps});
}
int64_t total(const std::vector<PruneStep>& steps) {
  int64_t t = 0;
  for (const auto& s : steps) t += s.finetune_steps;
  return t;
}

const char* kSchedulesGrid = R"(version: 1
name: sched
seeds: [3]
threads: 1
data: {dataset: synthetic, val_size: 200, synthetic_train: 800, synthetic_test: 300}
model: lenet300
train: {epochs: 2, batch_size: 50, lr: 0.05}
finetune: {epochs: 1}
eval: {latency_repeats: 0}
prune:
  criterion: magnitude
  ratio_policy: global
  schedule: [one_shot, iterative, {type: iterative, count: 3, rule: geometric}, {type: agp, frequency: 2},
             {type: lottery, rounds: 2}, {type: lottery, rounds: 2, rewind: 5}, {type: lottery, rounds: 2, reinit: true}]
  sparsity: 0.8
)";
}  // namespace

TEST(Agp, FollowsTheCubicRampAndSpendsTheBudgetInOneSession) {
  // 1000 steps: prune from t0 = 0 to 3/4 of the training every 75 steps (n = 10), then recover.
  auto p = plan("agp", {}, 0.9, 1000);
  ASSERT_EQ(p.size(), 11u);
  for (size_t k = 0; k < p.size(); ++k) {
    const double frac = 1.0 - double(k) / 10.0;
    EXPECT_NEAR(p[k].target_sparsity, 0.9 + (0.0 - 0.9) * frac * frac * frac, 1e-9) << k;
    EXPECT_EQ(p[k].continue_training, k > 0);
    if (k < 10) EXPECT_EQ(p[k].finetune_steps, 75);
  }
  EXPECT_EQ(p.back().target_sparsity, 0.9);
  EXPECT_EQ(p.back().finetune_steps, 250);
  EXPECT_EQ(total(p), 1000);
  // Begin, end (epochs of 50 steps), frequency and an initial sparsity.
  auto q = plan("agp", Params({{"initial", 0.2}, {"begin", 2.0}, {"end", 12.0}, {"frequency", int64_t{100}}}), 0.8, 1000);
  ASSERT_EQ(q.size(), 7u);  // dense training to t0 = 100, then prunings at t = 100, 200, ..., 600
  EXPECT_EQ(q[0].target_sparsity, 0.0);
  EXPECT_EQ(q[0].finetune_steps, 100);
  EXPECT_NEAR(q[1].target_sparsity, 0.2, 1e-12);
  EXPECT_TRUE(q[1].continue_training);
  EXPECT_EQ(q[1].finetune_steps, 100);
  EXPECT_NEAR(q[3].target_sparsity, 0.8 + (0.2 - 0.8) * std::pow(1.0 - 2.0 / 5.0, 3), 1e-9);
  EXPECT_EQ(q.back().finetune_steps, 400);
  EXPECT_EQ(total(q), 1000);
  // A budget shorter than one pruning interval is still spent exactly.
  EXPECT_EQ(total(plan("agp", Params({{"frequency", int64_t{10}}}), 0.9, 5)), 5);
}

TEST(Iterative, CountStepsByLinearOrGeometricRule) {
  auto lin = plan("iterative", Params({{"count", int64_t{4}}}), 0.8, 100);
  ASSERT_EQ(lin.size(), 4u);
  EXPECT_NEAR(lin[0].target_sparsity, 0.2, 1e-12);
  EXPECT_NEAR(lin[2].target_sparsity, 0.6, 1e-12);
  auto geo = plan("iterative", Params({{"count", int64_t{3}}, {"rule", std::string("geometric")}}), 0.875, 99);
  ASSERT_EQ(geo.size(), 3u);  // keep 1/2, 1/4, 1/8: the same fraction of what is left each time
  EXPECT_NEAR(geo[0].target_sparsity, 0.5, 1e-12);
  EXPECT_NEAR(geo[1].target_sparsity, 0.75, 1e-12);
  EXPECT_EQ(total(geo), 99);
  EXPECT_THROW(test::builtin_registry().make_schedule(
                   "iterative", test::builtin_registry().validate(ComponentKind::Schedule, "iterative",
                                                                 Params({{"count", int64_t{2}}, {"steps", std::vector<double>{0.5}}}))),
               ParamError);
}

TEST(Lottery, GeometricRoundsEachRewinding) {
  auto p = plan("lottery", Params({{"rounds", int64_t{3}}, {"rewind", int64_t{20}}}), 0.875, 100);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_NEAR(p[0].target_sparsity, 0.5, 1e-9);
  EXPECT_NEAR(p[1].target_sparsity, 0.75, 1e-9);
  for (const auto& s : p) EXPECT_EQ(s.rewind_to_step, 20);
  EXPECT_EQ(total(p), 100);
  EXPECT_THROW(plan("lottery", Params({{"rewind", int64_t{2000}}}), 0.5, 10), ParamError);
}

TEST(Distillation, IsCrossEntropyAtWeightZeroAndKlAtWeightOne) {
  torch::manual_seed(1);
  auto s = at::randn({8, 5}), t = at::randn({8, 5});
  auto y = at::randint(0, 5, {8}, at::kLong);
  EXPECT_TRUE(at::equal(distillation_loss(s, t, y, {0.0, 4.0}), at::cross_entropy_loss(s, y)));
  // Weight 1: T^2 * KL(softmax(t/T) || softmax(s/T)), by hand.
  const double T = 3.0;
  auto pt = at::softmax(t / T, 1);
  auto kl = (pt * (pt.log() - at::log_softmax(s / T, 1))).sum(1).mean() * (T * T);
  EXPECT_NEAR(distillation_loss(s, t, y, {1.0, T}).item<double>(), kl.item<double>(), 1e-5);
  // A student equal to its teacher has zero distillation term.
  EXPECT_NEAR(distillation_loss(t, t, y, {1.0, T}).item<double>(), 0.0, 1e-6);
}

TEST(TrainSession, SplitRunsEqualOneRunAndReplayTheDenseTraining) {
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.val_size = 100;
  spec.synthetic_train = 400;
  const auto data = load_data(spec);
  OptimSpec o;
  o.lr = 0.05;
  const c10::Device cpu(c10::kCPU);
  torch::manual_seed(2);
  auto a = test::make_builtin("lenet300", data.shape);
  auto b = test::make_builtin("lenet300", data.shape);
  copy_state(*a, *b);
  train_steps(*a, data.train, o, 30, 9, nullptr, {}, cpu);
  TrainSession session(*b, data.train, o, 30, 9, cpu);
  EXPECT_EQ(session.run(12, nullptr, {}).steps, 12);
  EXPECT_EQ(session.run(100, nullptr, {}).steps, 18);  // never beyond the session's total
  for (size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_TRUE(at::equal(a->parameters()[i], b->parameters()[i])) << i;
}

TEST(Grid, SchedulesSpendExactlyTheirBudgetAndLotteryRewinds) {
  const auto dir = test::scratch_dir("sched");
  auto exp = parse_experiment(kSchedulesGrid, "sched.yaml", test::builtin_registry());
  GridOptions o;
  o.db_path = dir + "/s.db";
  o.quiet = true;
  auto summary = run_grid(exp, test::builtin_registry(), o);
  ASSERT_EQ(summary.done, 7) << summary.failed;
  SQLite::Database db(dir + "/s.db");
  // Optimizer steps actually taken (logged per step), summed per run: the same total budget.
  SQLite::Statement q(db, "SELECT r.schedule, SUM(s.finetune_steps), COUNT(*), MAX(r.plan) FROM runs r JOIN steps s ON s.run_id = r.id GROUP BY r.id");
  int rows = 0;
  while (q.executeStep()) {
    EXPECT_EQ(q.getColumn(1).getInt64(), 16) << q.getColumn(0).getString();  // 1 epoch of 800/50
    EXPECT_FALSE(q.getColumn(3).getString().empty());
    ++rows;
  }
  EXPECT_EQ(rows, 7);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE schedule LIKE 'agp%'").getInt(), 7);  // t = 0, 2, ..., 12 (the first at s_i = 0)
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE is_final AND ABS(achieved_sparsity - 0.8) > 0.01").getInt(), 0);

  // Rewinding: with no retraining, the survivors of a lottery round hold exactly the dense
  // training's values at the rewind step (here the initialisation), the pruned ones zero.
  auto zero = parse_experiment(std::string(kSchedulesGrid).replace(std::string(kSchedulesGrid).find("finetune: {epochs: 1}"), 21, "finetune: {epochs: 0}"),
                               "sched.yaml", test::builtin_registry());
  std::vector<RunSpec> lottery;
  for (const auto& r : zero.runs)
    if (r.schedule.type == "lottery" && !r.schedule.params.get_bool("reinit")) lottery.push_back(r);
  ASSERT_EQ(lottery.size(), 2u);
  zero.runs = lottery;
  o.db_path = dir + "/z.db";
  ASSERT_EQ(run_grid(zero, test::builtin_registry(), o).done, 2);
  SQLite::Database zdb(dir + "/z.db");
  const auto data = load_data(zero.runs[0].data);
  DenseCache cache(dir + "/replay");  // a cache of its own: the snapshot is replayed, not reread
  Progress quiet(1, /*quiet=*/true);
  for (const auto& run : zero.runs) {
    const std::string path = zdb.execAndGet(fmt::format("SELECT model_path FROM runs WHERE hash = '{}'", run.hash())).getString();
    auto masked = load_model_file(path.substr(0, path.size() - 10) + "-masked.pt", c10::Device(c10::kCPU));
    auto start = cache.snapshot(run, data, c10::Device(c10::kCPU), quiet, run.schedule.params.get_int("rewind"));
    // The saved masked model holds the rewound survivors: the replayed snapshot wherever a weight
    // survived (pruned weights are saved as zeros).
    const auto layers = masked.model->layers();
    const auto reference = start->layers();
    for (size_t i = 0; i < layers.size(); ++i)
      EXPECT_TRUE(at::equal(layers[i].weight, reference[i].weight * layers[i].weight.ne(0))) << run.summary() << " " << layers[i].name;
  }
}
