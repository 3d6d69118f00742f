// Proof on real pixels (issue 16): Fashion-MNIST re-written by scripts/export-fashion-mnist.py as
// an IDX slice, a PNG image folder and a torch.save tensors file (by Python's own torch.save)
// trains to bit-identical accuracy through each loader; experiments/cifar10.yaml is valid on
// generated CIFAR-10 files.
#include "config/config_loader.hpp"
#include "data/dataset.hpp"
#include "run/grid_runner.hpp"
#include "run/plan.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

using namespace prunelab;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string grid_yaml(const std::string& name, const std::string& data) {
  return fmt::format(R"(version: 1
name: {}
seeds: [3]
threads: 1
data: {}
model: lenet300
train: {{epochs: 2, batch_size: 50, lr: 0.05}}
eval: {{latency_repeats: 0, save_models: false}}
prune: {{criterion: magnitude, ratio_policy: uniform, schedule: {{type: one_shot, epochs: 0}}, sparsity: 0.7}}
)", name, data);
}

}  // namespace

TEST(RealPixels, FashionMnistAsIdxPngAndTensorsTrainsBitIdentically) {
  const auto dir = test::scratch_dir("real_pixels");
  const std::string cmd = fmt::format("/usr/bin/python3 {}/scripts/export-fashion-mnist.py {} --train 700 --test 300 > {}/export.log 2>&1",
                                      SOURCE_DIR, dir, dir);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_text(dir + "/export.log") << "(needs python3-torch: scripts/setup.sh installs it)";
  // The IDX slice is the first images of Debian's files, unchanged.
  const auto debian = read_idx(default_fashion_mnist_root() + "/train-images-idx3-ubyte.gz").narrow(0, 0, 700);
  ASSERT_TRUE(at::equal(read_idx(dir + "/idx/train-images-idx3-ubyte"), debian));

  // One recipe for all three: per-channel normalisation (the new formats' default), augmentation.
  const std::string recipe = "val_size: 100, normalize: per_channel, augment: {crop_padding: 2, flip: true}";
  const std::vector<std::pair<std::string, std::string>> formats = {
      {"mnist_format", dir + "/idx"}, {"image_folder", dir + "/png"}, {"tensors", dir + "/tensors"}};
  std::vector<DataSplits> splits;
  std::vector<std::string> dbs;
  for (const auto& [dataset, root] : formats) {
    auto exp = parse_experiment(grid_yaml(dataset, fmt::format("{{dataset: {}, root: {}, {}}}", dataset, root, recipe)),
                                dataset + ".yaml", test::builtin_registry());
    splits.push_back(load_data(exp.runs[0].data));
    // What the config checks can know without loading is what loading gives.
    const auto nominal = probe_data(exp.runs[0].data).shape;
    const auto& got = splits.back().shape;
    EXPECT_EQ(std::vector<int64_t>({nominal.channels, nominal.height, nominal.width, nominal.classes}),
              std::vector<int64_t>({got.channels, got.height, got.width, got.classes})) << dataset;
    GridOptions o;
    o.db_path = dir + "/" + dataset + ".db";
    o.cache_dir = dir + "/cache";
    o.quiet = true;
    ASSERT_EQ(run_grid(exp, test::builtin_registry(), o).done, 1) << dataset;
    dbs.push_back(o.db_path);
  }
  for (size_t k = 1; k < splits.size(); ++k) {
    const auto& a = splits[0];
    const auto& b = splits[k];
    EXPECT_EQ(b.shape.channels, 1);
    EXPECT_EQ(b.shape.classes, a.shape.classes);
    for (auto [x, y] : {std::pair{&a.train, &b.train}, std::pair{&a.val, &b.val}, std::pair{&a.test, &b.test}}) {
      EXPECT_TRUE(at::equal(x->images, y->images)) << formats[k].first;
      EXPECT_TRUE(at::equal(x->labels, y->labels)) << formats[k].first;
      EXPECT_TRUE(at::equal(x->lut, y->lut)) << formats[k].first;
    }
  }
  // Three dense models trained from three loaders (three fingerprints, three cache entries):
  // the same accuracy to the last bit, and the same pruned accuracy.
  auto metrics = [](const std::string& db_path) {
    SQLite::Database db(db_path);
    SQLite::Statement q(db, "SELECT dense_top1, dense_top5, top1, top5, top1_val, loss, dense_hash FROM results");
    EXPECT_TRUE(q.executeStep());
    std::vector<double> v;
    for (int i = 0; i < 6; ++i) v.push_back(q.getColumn(i).getDouble());
    return std::pair{v, q.getColumn(6).getString()};
  };
  const auto [idx, idx_hash] = metrics(dbs[0]);
  EXPECT_GT(idx[0], 0.5);  // it learnt (chance is 0.1)
  for (size_t k = 1; k < dbs.size(); ++k) {
    const auto [other, hash] = metrics(dbs[k]);
    EXPECT_NE(hash, idx_hash);  // really trained again
    for (size_t i = 0; i < idx.size(); ++i) EXPECT_EQ(other[i], idx[i]) << formats[k].first << " metric " << i;
  }
}

TEST(RealPixels, Cifar10ExperimentIsValidOnGeneratedFiles) {
  // 5 x 1001 training records (5005 images: the file's val_size of 5000 leaves 5) and 10 test.
  const auto dir = test::scratch_dir("cifar10_yaml") + "/cifar-10-batches-bin";
  fs::create_directories(dir);
  for (int f = 0; f < 6; ++f) {
    const int64_t n = f < 5 ? 1001 : 10;
    std::vector<char> bytes(size_t(n * 3073), char(7));
    for (int64_t r = 0; r < n; ++r) {
      bytes[size_t(r * 3073)] = char((r + f) % 10);
      for (int64_t i = 0; i < 3072; ++i) bytes[size_t(r * 3073 + 1 + i)] = char((i * 7 + r + f) & 255);
    }
    std::ofstream(dir + "/" + (f < 5 ? fmt::format("data_batch_{}.bin", f + 1) : std::string("test_batch.bin")),
                  std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  }
  std::string text = read_text(std::string(SOURCE_DIR) + "/experiments/cifar10.yaml");
  const std::regex root_line(R"(root: data/cifar-10-batches-bin)");
  ASSERT_TRUE(std::regex_search(text, root_line)) << "the experiment documents data/cifar-10-batches-bin";
  text = std::regex_replace(text, root_line, "root: " + fs::path(dir).parent_path().string());  // the archive's folder is found
  const auto exp = parse_experiment(text, "experiments/cifar10.yaml", test::builtin_registry());
  ASSERT_EQ(exp.runs.size(), 36u);
  const auto& run = exp.runs[0];
  EXPECT_EQ(run.model.label(), "resnet20");
  EXPECT_EQ(run.data.dataset, "cifar10");
  EXPECT_EQ(run.data.augment.crop_padding, 4);
  EXPECT_TRUE(run.data.augment.flip);
  EXPECT_EQ(normalize_mode(run.data), "per_channel");
  EXPECT_GE(run.train.epochs, 160);
  EXPECT_LE(run.train.epochs, 200);
  EXPECT_DOUBLE_EQ(run.train.optim.lr, 0.1);
  EXPECT_EQ(run.train.optim.lr_schedule, "step");
  EXPECT_EQ(train_split_size(run.data), 5);
  for (const auto& r : exp.runs) EXPECT_NO_THROW(plan_run(r, test::builtin_registry(), 45000)) << r.summary();
  const auto d = load_data(run.data);
  EXPECT_EQ(d.shape.channels, 3);
  EXPECT_EQ(d.shape.height, 32);
  EXPECT_EQ(d.shape.classes, 10);
  EXPECT_EQ(d.train.augment.crop_padding, 4);
}
