// Batches from in-memory splits (issue 16): the same batches with and without the prefetching
// thread, the augmentation as a crop of the zero-padded image or its mirror, normalisation,
// Fashion-MNIST's numbers unchanged, the data's identity in the hashes, and top-5.
#include "config/config_loader.hpp"
#include "data/dataset.hpp"
#include "report/pivot.hpp"
#include "run/grid_runner.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

using namespace prunelab;
namespace fs = std::filesystem;

namespace {

// Image i of a [n, c, 8, 8] uint8 set; its label is i, so a batch tells which images it holds.
TensorDataset indexed_set(int64_t n, int64_t c, AugmentSpec augment) {
  TensorDataset d{at::randint(0, 256, {n, c, 8, 8}, at::kLong).to(at::kByte), at::arange(n, at::kLong)};
  d.lut = at::arange(256, at::kFloat).unsqueeze(0).expand({c, 256}).contiguous();  // pixel v -> v
  d.pad.assign(size_t(c), -1.0f);  // padding shows as -1
  d.augment = augment;
  return d;
}

// XORs one byte of a file in place and moves its modification time on by `hours`.
void flip_byte(const std::string& path, int64_t offset, char mask, int hours) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  char c = 0;
  f.seekg(offset);
  f.read(&c, 1);
  c = char(c ^ mask);
  f.seekp(offset);
  f.write(&c, 1);
  f.close();
  fs::last_write_time(path, fs::file_time_type::clock::now() + std::chrono::hours(hours));
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  static int writes = 0;  // a distinct modification time per write (digests are memoised by it)
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  fs::last_write_time(path, fs::file_time_type::clock::now() + std::chrono::seconds(++writes));
}

// A CIFAR-10 binary set of `per_file` random records per file (labels cycling through 0-9).
std::string cifar_set(const std::string& dir, int64_t per_file, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (int f = 0; f < 6; ++f) {
    const auto px = at::randint(0, 256, {per_file, 3072}, gen, at::kLong).to(at::kByte);
    std::vector<uint8_t> bytes;
    for (int64_t r = 0; r < per_file; ++r) {
      bytes.push_back(uint8_t((f + r) % 10));
      bytes.insert(bytes.end(), px[r].data_ptr<uint8_t>(), px[r].data_ptr<uint8_t>() + 3072);
    }
    write_bytes(dir + "/" + (f < 5 ? fmt::format("data_batch_{}.bin", f + 1) : std::string("test_batch.bin")), bytes);
  }
  return dir;
}

Experiment parse_data(const std::string& data) {
  return parse_experiment(fmt::format(R"(version: 1
name: d
seeds: [1]
data: {}
model: lenet300
train: {{epochs: 1}}
prune: {{criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5}}
)", data), "d.yaml", test::builtin_registry());
}

std::string config_error(const std::string& data) {
  try {
    parse_data(data);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(BatchPipeline, PrefetchingGivesExactlyTheInlineBatches) {
  const auto d = indexed_set(50, 3, {2, true});
  BatchSampler inline_(d, 8, 7, {true, false}), ahead(d, 8, 7, SamplerOptions::training());
  EXPECT_EQ(ahead.batches_per_epoch(), 6);
  for (int i = 0; i < 20; ++i) {  // more than three epochs
    const auto [x1, y1] = inline_.next();
    const auto [x2, y2] = ahead.next();
    ASSERT_TRUE(at::equal(x1, x2)) << "batch " << i;
    ASSERT_TRUE(at::equal(y1, y2)) << "batch " << i;
  }
}

TEST(BatchPipeline, OrderIsTheRandpermOfEarlierVersions) {
  // Seed s, epoch e: randperm(n) under generator s * 1000003 + e; the last partial batch dropped.
  const auto d = indexed_set(20, 1, {});
  BatchSampler s(d, 6, 3);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3 * 1000003ULL + epoch);
    const auto perm = at::randperm(20, gen, at::kLong);
    for (int b = 0; b < 3; ++b) EXPECT_TRUE(at::equal(s.next().second, perm.narrow(0, 6 * b, 6)));
  }
}

TEST(BatchPipeline, AugmentedImagesAreCropsOfTheZeroPaddedImageOrTheirMirror) {
  const int64_t p = 2;
  const auto d = indexed_set(40, 3, {p, true});
  BatchSampler s(d, 10, 11, SamplerOptions::training());
  std::set<std::tuple<int64_t, int64_t, bool>> seen;
  for (int b = 0; b < 8; ++b) {
    const auto [x, y] = s.next();
    for (int64_t i = 0; i < x.size(0); ++i) {
      const auto padded = at::constant_pad_nd(d.images[y[i].item<int64_t>()].to(at::kFloat), {p, p, p, p}, -1.0);
      bool found = false;
      for (int64_t dy = 0; dy <= 2 * p && !found; ++dy)
        for (int64_t dx = 0; dx <= 2 * p && !found; ++dx)
          for (bool flip : {false, true}) {
            auto crop = padded.narrow(1, dy, 8).narrow(2, dx, 8);
            if (flip) crop = crop.flip({2});
            if (at::equal(crop, x[i])) {
              found = true;
              seen.insert({dy, dx, flip});
              break;
            }
          }
      ASSERT_TRUE(found) << "batch " << b << " sample " << i;
    }
  }
  EXPECT_GT(seen.size(), 20u);  // of the 50 possible (offset, flip) pairs, most occur in 80 draws
  // Deterministic for a seed, different for another.
  BatchSampler again(d, 10, 11, SamplerOptions::training()), other(d, 10, 12, SamplerOptions::training());
  BatchSampler first(d, 10, 11, SamplerOptions::training());
  const auto a = first.next().first;
  EXPECT_TRUE(at::equal(a, again.next().first));
  EXPECT_FALSE(at::equal(a, other.next().first));
}

TEST(BatchPipeline, OnlyTrainingBatchesAreAugmented) {
  const auto d = indexed_set(30, 3, {4, true});
  BatchSampler plain(d, 10, 5);  // calibration, BatchNorm recalibration: the images as they are
  const auto [x, y] = plain.next();
  for (int64_t i = 0; i < 10; ++i) EXPECT_TRUE(at::equal(x[i], d.inputs(y[i].item<int64_t>(), 1)[0]));
  EXPECT_TRUE(at::equal(d.inputs(0, 30), d.images.to(at::kFloat)));  // evaluation: never augmented
}

TEST(BatchPipeline, BatchesTheCallerKeepsAreNeverOverwritten) {
  const auto d = indexed_set(64, 3, {2, true});
  BatchSampler s(d, 8, 1, SamplerOptions::training());
  std::vector<at::Tensor> kept, copies;
  for (int i = 0; i < 6; ++i) {
    kept.push_back(s.next().first);
    copies.push_back(kept.back().clone());
  }
  for (int i = 0; i < 24; ++i) s.next();  // buffers the caller dropped are reused
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(at::equal(kept[size_t(i)], copies[size_t(i)])) << "batch " << i;
}

TEST(DataNormalisation, FashionMnistDefaultIsBitIdenticalToTheFloatPathBeforeUint8Storage) {
  DataSpec spec;
  spec.val_size = 5000;
  spec.train_limit = 20000;
  const auto d = load_data(spec);
  // What load_data computed before issue 16: float images x / 255, the split, the limit, then
  // (x - mean) / std with the training split's mean and std.
  const auto root = default_fashion_mnist_root();
  const auto full = read_idx(root + "/train-images-idx3-ubyte.gz").unsqueeze(1).to(at::kFloat).div_(255.0);
  auto test = read_idx(root + "/t10k-images-idx3-ubyte.gz").unsqueeze(1).to(at::kFloat).div_(255.0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const auto perm = at::randperm(full.size(0), gen, at::kLong);
  const auto val_idx = std::get<0>(perm.narrow(0, 0, 5000).sort());
  const auto train_idx = std::get<0>(perm.narrow(0, 5000, full.size(0) - 5000).sort());
  const auto train = full.index_select(0, train_idx).narrow(0, 0, 20000);
  const double mean = train.mean().item<double>(), stdev = train.std().item<double>();
  EXPECT_TRUE(at::equal(d.train.inputs(0, d.train.size()), ((train - mean) / stdev).contiguous()));
  EXPECT_TRUE(at::equal(d.val.inputs(0, d.val.size()), ((full.index_select(0, val_idx) - mean) / stdev).contiguous()));
  EXPECT_TRUE(at::equal(d.test.inputs(0, d.test.size()), ((test - mean) / stdev).contiguous()));
  // Stored as decoded: one byte per pixel.
  EXPECT_EQ(d.train.images.scalar_type(), at::kByte);
  EXPECT_EQ(d.test.images.nbytes(), 10000u * 784u);
}

TEST(DataNormalisation, PerChannelGivenAndNone) {
  const auto dir = cifar_set(test::scratch_dir("norm_cifar"), 300, 1);
  DataSpec spec;
  spec.dataset = "cifar10";
  spec.root = dir;
  spec.val_size = 100;
  auto d = load_data(spec);  // per_channel: the default for CIFAR
  const auto x = d.train.inputs(0, d.train.size()).to(at::kDouble);
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(x.select(1, c).mean().item<double>(), 0.0, 1e-5) << c;
    EXPECT_NEAR(x.select(1, c).std().item<double>(), 1.0, 1e-5) << c;
  }
  EXPECT_EQ(d.train.pad.size(), 3u);
  EXPECT_FLOAT_EQ(d.train.pad[1], d.train.lut[1][0].item<float>());  // crop padding is a zero (black) pixel
  spec.normalize = {"given", {0.5, 0.25, 0.125}, {0.2, 0.3, 0.4}};
  d = load_data(spec);
  const auto raw = d.test.images.to(at::kDouble).div(255.0);
  const auto m = at::tensor(std::vector<double>{0.5, 0.25, 0.125}).view({1, 3, 1, 1});
  const auto s = at::tensor(std::vector<double>{0.2, 0.3, 0.4}).view({1, 3, 1, 1});
  EXPECT_TRUE(at::equal(d.test.inputs(0, d.test.size()), ((raw - m) / s).to(at::kFloat)));
  spec.normalize = {"none", {}, {}};
  d = load_data(spec);
  EXPECT_TRUE(at::equal(d.val.inputs(0, d.val.size()), d.val.images.to(at::kDouble).div(255.0).to(at::kFloat)));
  // A 50 000-image 32x32x3 set in memory is its raw size: uint8 pixels, labels aside.
  int64_t bytes = 0;
  for (const auto* split : {&d.train, &d.val, &d.test}) bytes += int64_t(split->images.nbytes());
  EXPECT_EQ(bytes, 6 * 300 * 3072);
}

TEST(DataConfig, KeysParseAndBadValuesAreRefused) {
  const auto dir = cifar_set(test::scratch_dir("cfg_cifar"), 20, 2);
  const auto d = parse_data(fmt::format("{{dataset: cifar10, root: {}, val_size: 10, augment: {{crop_padding: 4, flip: true}},"
                                         " normalize: {{mean: [0.49, 0.48, 0.45], std: 0.25}}}}", dir)).runs[0].data;
  EXPECT_EQ(d.augment.crop_padding, 4);
  EXPECT_TRUE(d.augment.flip);
  EXPECT_EQ(d.normalize.mode, "given");
  EXPECT_EQ(d.normalize.mean.size(), 3u);
  EXPECT_EQ(d.fingerprint.size(), 16u);
  const std::string root = fmt::format("dataset: cifar10, root: {}, val_size: 10", dir);
  EXPECT_NE(config_error("{" + root + ", augment: {crop_padding: -1}}").find("data.augment.crop_padding: must be >= 0"), std::string::npos);
  EXPECT_NE(config_error("{" + root + ", augment: {crop: 4}}").find("unknown key 'crop'"), std::string::npos);
  EXPECT_NE(config_error("{" + root + ", normalize: zscore}").find("'zscore' is not one of: global, per_channel, none"), std::string::npos);
  EXPECT_NE(config_error("{" + root + ", normalize: {mean: 0.5}}").find("data.normalize.std: missing"), std::string::npos);
  EXPECT_NE(config_error("{" + root + ", normalize: {mean: [0.5, 0.5], std: [0.2, 0.2, 0.2]}}").find("mean and std need as many values"), std::string::npos);
  EXPECT_NE(config_error("{" + root + ", normalize: {mean: 0.5, std: 0}}").find("every std must be > 0"), std::string::npos);
  EXPECT_NE(config_error("{" + root + ", labels: coarse}").find("data.labels: applies to dataset cifar100 only"), std::string::npos);
  EXPECT_NE(config_error("{" + root + ", resize: 32}").find("data.resize: applies to dataset image_folder only"), std::string::npos);
  EXPECT_NE(config_error("{dataset: tensors}").find("tensors needs data.root"), std::string::npos);
  EXPECT_NE(config_error(fmt::format("{{dataset: image_folder, root: {}, channels: 2}}", dir)).find("must be 1 (grey) or 3 (RGB)"), std::string::npos);
  // A crop padding as large as the image is refused when the data's size is known.
  auto spec = d;
  spec.augment.crop_padding = 32;
  EXPECT_THROW(load_data(spec), std::runtime_error);
}

TEST(DataConfig, HashesFollowTheContentTheRecipeAndNothingElse) {
  // Runs from before issue 16 keep their hashes: none of the new keys appears at the defaults.
  const auto fm = parse_data("{dataset: fashion_mnist, val_size: 5000}").runs[0];
  for (const char* key : {"normalize", "augment", "fingerprint", "root"})
    EXPECT_EQ(fm.canonical_json().find(key), std::string::npos) << key;
  EXPECT_NE(parse_data("{dataset: fashion_mnist, augment: {flip: true}}").runs[0].dense_hash(), fm.dense_hash());
  EXPECT_NE(parse_data("{dataset: fashion_mnist, normalize: per_channel}").runs[0].dense_hash(), fm.dense_hash());
  EXPECT_EQ(parse_data("{dataset: fashion_mnist, normalize: global}").runs[0].hash(), fm.hash());

  const auto dir = cifar_set(test::scratch_dir("hash_cifar"), 20, 3);
  const auto yaml = [](const std::string& root, const std::string& extra = "") {
    return fmt::format("{{dataset: cifar10, root: {}, val_size: 10{}}}", root, extra);
  };
  const auto base = parse_data(yaml(dir)).runs[0];
  EXPECT_NE(parse_data(yaml(dir, ", augment: {crop_padding: 4}")).runs[0].dense_hash(), base.dense_hash());
  EXPECT_NE(parse_data(yaml(dir, ", augment: {crop_padding: 4}")).runs[0].hash(), base.hash());
  EXPECT_NE(parse_data(yaml(dir, ", normalize: global")).runs[0].dense_hash(), base.dense_hash());
  // A copy elsewhere (new paths, new modification times) is the same data: the same dense model.
  const auto copy = test::scratch_dir("hash_cifar_copy") + "/moved";
  fs::copy(dir, copy);
  EXPECT_EQ(parse_data(yaml(copy)).runs[0].dense_hash(), base.dense_hash());
  // One pixel changed is other data: retrained.
  flip_byte(copy + "/data_batch_4.bin", 3073 * 7 + 100, 1, 1);
  const auto changed = parse_data(yaml(copy)).runs[0];
  EXPECT_NE(changed.dense_hash(), base.dense_hash());
  EXPECT_NE(changed.hash(), base.hash());
  // Changed again after the experiment was read: the run refuses to train on other data.
  flip_byte(copy + "/data_batch_4.bin", 3073 * 7 + 100, 2, 2);
  try {
    load_data(changed.data);
    ADD_FAILURE() << "changed files were loaded";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("changed since the experiment was read"), std::string::npos) << e.what();
  }
}

TEST(TopFive, EvaluatedLoggedAndReported) {
  const auto dir = test::scratch_dir("top5");
  auto exp = parse_experiment(R"(version: 1
name: top5
seeds: [1]
threads: 1
data: {dataset: synthetic, val_size: 200, synthetic_train: 600, synthetic_test: 300, synthetic_classes: 10}
model: lenet300
train: {epochs: 1, batch_size: 50, lr: 0.05}
finetune: {epochs: 0.2}
eval: {latency_repeats: 0, save_models: false}
prune: {criterion: magnitude, ratio_policy: uniform, schedule: [one_shot], sparsity: [0.5, 0.9]}
)", "top5.yaml", test::builtin_registry());
  GridOptions o;
  o.db_path = dir + "/t.db";
  o.cache_dir = dir + "/cache";
  o.quiet = true;
  ASSERT_EQ(run_grid(exp, test::builtin_registry(), o).done, 2);
  SQLite::Database db(o.db_path);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE top5 >= top1 AND top5 <= 1 AND top5_val >= top1_val "
                          "AND dense_top5 > 0 AND top5 > top1").getInt(), 2);
  PivotSpec spec;
  spec.metric = "top5";
  spec.rows = {"model"};
  const auto t = make_pivot(db, spec);
  ASSERT_EQ(t.cells.size(), 1u);
  EXPECT_DOUBLE_EQ(t.cells[0][1].mean, 100.0 * db.execAndGet("SELECT top5 FROM results WHERE run_target_sparsity = 0.9").getDouble());
  EXPECT_NE(caption(t).find("Dense test top-5"), std::string::npos) << caption(t);
  // Fewer than five classes: every label is in the top five.
  DataSpec four;
  four.dataset = "synthetic";
  four.val_size = 50;
  const auto data = load_data(four);
  auto net = test::make_builtin("lenet300", data.shape);
  EXPECT_DOUBLE_EQ(evaluate(*net, data.test, 64, at::kCPU).top5, 1.0);
}
