// Sparsity training: L1 on BatchNorm scales and group lasso, and their logging.
#include "config/config_loader.hpp"
#include "models/network.hpp"
#include "prune/stats.hpp"
#include "store/result_store.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/utils.h>

using namespace prunelab;

TEST(Regularizers, BnL1GradientIsLambdaTimesSignOfGamma) {
  torch::manual_seed(0);
  auto net = test::make_builtin("resnet20", {1, 12, 12, 4});
  std::vector<std::shared_ptr<torch::nn::BatchNorm2dImpl>> bns;
  {
    at::NoGradGuard g;
    for (const auto& m : net->network().modules(false))
      if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) {
        bn->weight.copy_(at::randn_like(bn->weight));  // both signs
        bns.push_back(bn);
      }
  }
  ASSERT_EQ(bns.size(), 21u);  // 19 convs + 2 shortcuts, each followed by a BatchNorm
  OptimSpec spec;
  spec.bn_l1 = 1e-3;
  add_regularizer_gradients(*net, spec);
  for (const auto& bn : bns) EXPECT_TRUE(at::allclose(bn->weight.grad(), 1e-3 * bn->weight.sign()));
  // Conv weights are untouched by the BN penalty.
  EXPECT_FALSE(net->layers()[0].weight.grad().defined());
}

TEST(Regularizers, GroupLassoGradientIsLambdaTimesTheUnitChannel) {
  auto net = test::make_builtin("lenet300", {1, 2, 2, 2});
  auto& w = net->layers()[2].weight;  // fc3: [2, 100]
  {
    at::NoGradGuard g;
    w.zero_();
    w[0][0] = 3;
    w[0][1] = 4;  // ||W_0|| = 5
    w[1][5] = -2;
  }
  OptimSpec spec;
  spec.group_lasso = 0.1;
  add_regularizer_gradients(*net, spec);
  auto g = w.grad();
  EXPECT_NEAR(g[0][0].item<float>(), 0.1 * 3 / 5, 1e-7);
  EXPECT_NEAR(g[0][1].item<float>(), 0.1 * 4 / 5, 1e-7);
  EXPECT_NEAR(g[1][5].item<float>(), -0.1, 1e-7);
  EXPECT_EQ(g[1][0].item<float>(), 0.0f);
}

TEST(Regularizers, BnL1TrainingShrinksGammaAndIsLogged) {
  DataSpec d;
  d.dataset = "synthetic";
  d.val_size = 100;
  d.synthetic_train = 400;
  auto data = load_data(d);
  auto gamma_mean = [&](double lambda) {
    torch::manual_seed(1);
    auto net = test::make_builtin("resnet20", data.shape);
    OptimSpec o;
    o.lr = 0.05;
    o.batch_size = 50;
    o.bn_l1 = lambda;
    train_steps(*net, data.train, o, 40, 1, nullptr, {}, at::kCPU);
    auto s = measure(*net, data.val.inputs(0, 1));
    EXPECT_FALSE(std::isnan(s.layers[0].bn_gamma_abs_mean));
    EXPECT_TRUE(std::isnan(s.layers.back().bn_gamma_abs_mean));  // fc has no BatchNorm
    double m = 0;
    for (size_t i = 0; i + 1 < s.layers.size(); ++i) m += s.layers[i].bn_gamma_abs_mean;
    return m;
  };
  EXPECT_LT(gamma_mean(2e-2), gamma_mean(0.0));
}

TEST(Regularizers, ConfigKeysHashesAndFineTuneDefaults) {
  const std::string base = R"(version: 1
model: lenet300
prune: {criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5}
)";
  auto plain = parse_experiment(base, "a.yaml", test::builtin_registry());
  auto zero = parse_experiment(base + "train: {bn_l1: 0}\n", "a.yaml", test::builtin_registry());
  auto slim = parse_experiment(base + "train: {bn_l1: 1.0e-4}\n", "a.yaml", test::builtin_registry());
  EXPECT_EQ(plain.runs[0].hash(), zero.runs[0].hash());  // unused options do not change hashes
  EXPECT_NE(plain.runs[0].dense_hash(), slim.runs[0].dense_hash());
  EXPECT_DOUBLE_EQ(slim.runs[0].train.optim.bn_l1, 1e-4);
  EXPECT_DOUBLE_EQ(slim.runs[0].finetune.optim.bn_l1, 0.0);  // not inherited by fine-tuning
  try {
    parse_experiment(base + "finetune: {group_lasso: -1}\n", "a.yaml", test::builtin_registry());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key, "finetune.group_lasso");
    EXPECT_EQ(e.line, 4);
  }
}

TEST(Store, OlderDatabasesGainNewColumns) {
  const auto dir = test::scratch_dir("migrate");
  {
    SQLite::Database old(dir + "/old.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    old.exec("CREATE TABLE layers (run_id INTEGER NOT NULL, step INTEGER NOT NULL, layer TEXT NOT NULL, kind TEXT NOT NULL,"
             " params INTEGER NOT NULL, nonzero INTEGER NOT NULL, sparsity REAL NOT NULL, ratio REAL,"
             " flops INTEGER NOT NULL, flops_effective INTEGER NOT NULL, PRIMARY KEY (run_id, step, layer))");
    // A schema-2 steps table, with a row: it must keep its data and gain the physical columns.
    old.exec("CREATE TABLE steps (run_id INTEGER NOT NULL, step INTEGER NOT NULL, target_sparsity REAL NOT NULL,"
             " achieved_sparsity REAL NOT NULL, top1_val REAL NOT NULL, top1 REAL NOT NULL, loss REAL NOT NULL,"
             " train_loss REAL, params INTEGER NOT NULL, params_nonzero INTEGER NOT NULL, prunable INTEGER NOT NULL,"
             " prunable_nonzero INTEGER NOT NULL, flops INTEGER NOT NULL, flops_effective INTEGER NOT NULL,"
             " finetune_steps INTEGER NOT NULL, wall_s REAL NOT NULL, PRIMARY KEY (run_id, step))");
    old.exec("INSERT INTO steps VALUES (1, 1, 0.5, 0.5, 0.9, 0.9, 0.3, 0.2, 10, 5, 10, 5, 100, 50, 0, 1)");
    // A schema-2 runs table with one finished run, so the recreated view has a row to show.
    old.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, experiment TEXT NOT NULL,"
             " grid_index INTEGER NOT NULL, config_json TEXT NOT NULL, seed INTEGER NOT NULL, model TEXT NOT NULL,"
             " dataset TEXT NOT NULL, criterion TEXT NOT NULL, ratio_policy TEXT NOT NULL, schedule TEXT NOT NULL,"
             " granularity TEXT NOT NULL, target_sparsity REAL NOT NULL, status TEXT NOT NULL, error TEXT,"
             " started_at TEXT NOT NULL, finished_at TEXT, wall_s REAL, dense_hash TEXT, dense_top1 REAL,"
             " dense_top1_val REAL, dense_params INTEGER, dense_flops INTEGER, framework_version TEXT NOT NULL,"
             " torch_version TEXT NOT NULL, threads INTEGER, device TEXT)");
    old.exec("INSERT INTO runs VALUES (1, 'h', 'e', 0, '{}', 1, 'lenet300', 'synthetic', 'magnitude', 'global',"
             " 'one_shot', 'element', 0.5, 'done', NULL, 't0', 't1', 1.0, 'd', 0.95, 0.95, 10, 100, '0.1', '1.13', 1, 'cpu')");
  }
  ResultStore store(dir + "/old.db");
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM pragma_table_info('layers') WHERE name LIKE 'bn_gamma%'").getInt(), 2);
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM pragma_table_info('steps') WHERE name LIKE '%latency%' OR name LIKE '%physical%'").getInt(), 7);
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM steps WHERE flops_physical IS NULL AND top1 = 0.9").getInt(), 1);
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name IN ('model_path', 'plan', 'owner')").getInt(), 3);
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM pragma_table_info('steps') WHERE name = 'pruned_from_cache'").getInt(), 1);
  // The old row shows through the new view, with the columns it never had as NULL.
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM results WHERE measured_speedup_b64 IS NULL AND model_path IS NULL AND top1 = 0.9").getInt(), 1);
  // Tables added later (searches) exist and are empty.
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM curves").getInt() + store.db().execAndGet("SELECT COUNT(*) FROM search_log").getInt(), 0);
  // Schema 6: top-5 accuracy, NULL for rows written before it was measured.
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM pragma_table_info('steps') WHERE name IN ('top5', 'top5_val')").getInt(), 2);
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM pragma_table_info('runs') WHERE name = 'dense_top5'").getInt(), 1);
  EXPECT_EQ(store.db().execAndGet("SELECT COUNT(*) FROM results WHERE top5 IS NULL AND dense_top5 IS NULL AND top1 = 0.9").getInt(), 1);
  EXPECT_EQ(store.db().execAndGet("SELECT value FROM meta WHERE key = 'schema_version'").getString(), "7");
}
