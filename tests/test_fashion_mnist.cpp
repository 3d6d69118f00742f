// Integration: real Fashion-MNIST from Debian's dataset-fashion-mnist, real training and pruning.
#include "config/config_loader.hpp"
#include "data/dataset.hpp"
#include "run/grid_runner.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

using namespace prunelab;

// These tests need Debian's dataset-fashion-mnist, which the test command (scripts/run-tests.sh,
// through scripts/setup.sh) installs: without it they fail, saying how to get it.
#define REQUIRE_FASHION_MNIST()                                                                         \
  ASSERT_TRUE(std::filesystem::exists(default_fashion_mnist_root() + "/train-images-idx3-ubyte.gz"))    \
      << "needs Debian's dataset-fashion-mnist in " << default_fashion_mnist_root()                     \
      << " (apt-get install dataset-fashion-mnist; scripts/setup.sh does)"

TEST(FashionMnist, IdxFilesLoadWithTheDocumentedShapes) {
  REQUIRE_FASHION_MNIST();
  auto labels = read_idx(default_fashion_mnist_root() + "/t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(labels.sizes(), (std::vector<int64_t>{10000}));
  DataSpec spec;
  spec.val_size = 5000;
  auto d = load_data(spec);
  EXPECT_EQ(d.train.size(), 55000);
  EXPECT_EQ(d.val.size(), 5000);
  EXPECT_EQ(d.test.size(), 10000);
  EXPECT_EQ(d.train.images.sizes(), (std::vector<int64_t>{55000, 1, 28, 28}));
  EXPECT_EQ(d.shape.classes, 10);
  // Normalised with the training statistics; all ten classes present in validation.
  EXPECT_EQ(d.train.images.scalar_type(), at::kByte);  // decoded once, as stored
  EXPECT_NEAR(d.train.inputs(0, d.train.size()).mean().item<double>(), 0.0, 1e-3);
  EXPECT_EQ(std::get<0>(at::_unique(d.val.labels)).numel(), 10);
}

TEST(FashionMnist, TrainsPrunesAndHitsTheTargetSparsity) {
  REQUIRE_FASHION_MNIST();
  const auto dir = test::scratch_dir("fmnist");
  auto exp = parse_experiment(R"(version: 1
name: fmnist_subset
seeds: [1]
threads: 2
data: {dataset: fashion_mnist, val_size: 2000, train_limit: 8000, test_limit: 2000}
model: lenet300
train: {epochs: 2, batch_size: 64, lr: 0.05}
finetune: {epochs: 1}
prune:
  criterion: magnitude
  ratio_policy: [uniform, global]
  schedule: [one_shot, iterative]
  sparsity: 0.9
)", "fmnist.yaml", test::builtin_registry());
  GridOptions o;
  o.db_path = dir + "/f.db";
  o.quiet = true;
  auto s = run_grid(exp, test::builtin_registry(), o);
  EXPECT_EQ(s.done, 4);
  SQLite::Database db(o.db_path);
  // Real learning: chance is 10 %.
  EXPECT_GT(db.execAndGet("SELECT MIN(dense_top1) FROM runs").getDouble(), 0.75);
  EXPECT_GT(db.execAndGet("SELECT MIN(top1) FROM results WHERE is_final").getDouble(), 0.70);
  EXPECT_LT(db.execAndGet("SELECT MAX(ABS(achieved_sparsity - 0.9)) FROM results WHERE is_final").getDouble(), 0.005);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE is_final AND params_nonzero < params").getInt(), 4);
}
