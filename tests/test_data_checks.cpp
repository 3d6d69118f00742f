// Sizes in a config against the data they refer to (config/data_checks): what `runner validate`
// and the start of a grid refuse, reading only the label file.
#include "config/config_loader.hpp"
#include "config/data_checks.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace prunelab;

namespace {
// An IDX file of unsigned bytes with the given shape (zeros; labels cycle through 4 classes).
void write_idx(const std::string& path, const std::vector<uint32_t>& shape) {
  std::ofstream out(path, std::ios::binary);
  const unsigned char magic[4] = {0, 0, 0x08, static_cast<unsigned char>(shape.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  size_t count = 1;
  for (uint32_t d : shape) {
    const unsigned char be[4] = {static_cast<unsigned char>(d >> 24), static_cast<unsigned char>(d >> 16),
                                 static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
    count *= d;
  }
  for (size_t i = 0; i < count; ++i) out.put(static_cast<char>(shape.size() == 1 ? i % 4 : 0));
}

// A tiny MNIST-format data set: 300 training and 50 test images of 8x8.
std::string tiny_dataset() {
  const auto dir = test::scratch_dir("tiny_idx");
  write_idx(dir + "/train-images-idx3-ubyte", {300, 8, 8});
  write_idx(dir + "/train-labels-idx1-ubyte", {300});
  write_idx(dir + "/t10k-images-idx3-ubyte", {50, 8, 8});
  write_idx(dir + "/t10k-labels-idx1-ubyte", {50});
  return dir;
}

std::string config(const std::string& root, const std::string& data, const std::string& extra = "") {
  return "version: 1\nname: d\nmodel: lenet300\ndata: {dataset: mnist_format, root: " + root + ", " + data +
         "}\n" + extra + "prune: {criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5}\n";
}

ConfigError check_error(const std::string& text) {
  const auto exp = parse_experiment(text, "d.yaml", test::builtin_registry());
  try {
    check_against_data(exp, text);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << text;
  return ConfigError("", 0, 0, "", "");
}
}  // namespace

TEST(DataChecks, AValidationSplitAsLargeAsTheTrainingFileIsRefusedAtItsKey) {
  const auto root = tiny_dataset();
  auto e = check_error(config(root, "val_size: 300"));
  EXPECT_EQ(e.key, "data.val_size");
  EXPECT_EQ(e.line, 4);
  EXPECT_NE(std::string(e.what()).find("300 validation images leave no training images: the training file has 300 "
                                       "(use at most 299)"), std::string::npos) << e.what();
  // The default val_size (5000) against a 300-image file: pointed at the data section.
  auto d = check_error(config(root, "split_seed: 1"));
  EXPECT_EQ(d.key, "data.val_size");
  EXPECT_EQ(d.line, 4);
}

TEST(DataChecks, TrainingLimitAndBatchSizesAgainstTheTrainingSplit) {
  const auto root = tiny_dataset();
  auto limit = check_error(config(root, "val_size: 100, train_limit: 250"));
  EXPECT_EQ(limit.key, "data.train_limit");
  EXPECT_NE(std::string(limit.what()).find("250 is more than the 200 training images there are after the validation split"),
            std::string::npos) << limit.what();
  auto batch = check_error(config(root, "val_size: 100", "train: {batch_size: 256}\n"));
  EXPECT_EQ(batch.key, "train.batch_size");
  EXPECT_EQ(batch.line, 5);
  EXPECT_NE(std::string(batch.what()).find("256 is larger than the training split (200 images)"), std::string::npos);
  auto ft = check_error(config(root, "val_size: 100, train_limit: 50", "train: {batch_size: 32}\nfinetune: {batch_size: 64}\n"));
  EXPECT_EQ(ft.key, "finetune.batch_size");
  // Sizes that fit pass, with nothing to note.
  const auto ok = config(root, "val_size: 100, train_limit: 150", "train: {batch_size: 150}\n");
  EXPECT_TRUE(check_against_data(parse_experiment(ok, "d.yaml", test::builtin_registry()), ok).empty());
}

TEST(DataChecks, SyntheticDataAndMissingDataSets) {
  auto classes = check_error("version: 1\nmodel: lenet300\ndata: {dataset: synthetic, synthetic_classes: 1}\n"
                             "prune: {criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5}\n");
  EXPECT_EQ(classes.key, "data.synthetic_classes");
  // Not available here: a note, not an error (the runs will say what is missing).
  // (Debian's Fashion-MNIST elsewhere; a fingerprinted set must be present to be hashed at all.)
  auto missing = config("/nonexistent/data", "val_size: 10");
  missing.replace(missing.find("mnist_format"), 12, "fashion_mnist");
  const auto notes = check_against_data(parse_experiment(missing, "d.yaml", test::builtin_registry()), missing);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("not checked"), std::string::npos) << notes[0];
}
