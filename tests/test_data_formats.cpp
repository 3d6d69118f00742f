// The data formats of issue 16 on files the tests write in exactly those formats: CIFAR binary
// records, image folders (PNG and JPEG), tensors files; every bad input named by file and record.
#include "config/config_loader.hpp"
#include "data/dataset.hpp"
#include "data/fingerprint.hpp"
#include "data/image_codec.hpp"
#include "data/readers.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <filesystem>
#include <fstream>

using namespace prunelab;
namespace fs = std::filesystem;

namespace {

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected\n  " << part << "\nin\n  " << text;
}

// Every write gets its own modification time: file digests are memoised by (path, size, mtime),
// and a rewrite within the file system's timestamp granularity would look unchanged.
void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  static int writes = 0;
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  fs::last_write_time(path, fs::file_time_type::clock::now() + std::chrono::seconds(++writes));
}

// ---- CIFAR ----

// Pixel i of record r of file f: every byte differs between neighbours, files and records.
uint8_t cifar_pixel(int f, int64_t r, int64_t i) { return uint8_t((f * 131 + r * 29 + i * 7 + i / 1024) % 256); }
int64_t cifar_label(int f, int64_t r, int64_t classes) { return (f * 3 + r) % classes; }

std::vector<uint8_t> cifar_records(int f, int64_t count, int label_bytes, int64_t classes) {
  std::vector<uint8_t> out;
  for (int64_t r = 0; r < count; ++r) {
    if (label_bytes == 2) out.push_back(uint8_t(cifar_label(f, r, 20)));  // coarse
    out.push_back(uint8_t(cifar_label(f, r, classes)));
    for (int64_t i = 0; i < 3072; ++i) out.push_back(cifar_pixel(f, r, i));
  }
  return out;
}

const std::vector<int64_t> kCifar10Counts = {3, 1, 4, 2, 5, 3};  // data_batch_1..5, test_batch

std::string write_cifar10(const std::string& dir) {
  for (int f = 0; f < 6; ++f)
    write_bytes(dir + "/" + (f < 5 ? fmt::format("data_batch_{}.bin", f + 1) : std::string("test_batch.bin")),
                cifar_records(f, kCifar10Counts[size_t(f)], 1, 10));
  return dir;
}

std::string data_config(const std::string& data) {
  return fmt::format(R"(version: 1
name: data
seeds: [1]
data: {}
model: lenet300
train: {{epochs: 1, batch_size: 4}}
prune: {{criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5}}
)", data);
}

Experiment parse(const std::string& data) {
  return parse_experiment(data_config(data), "data.yaml", test::builtin_registry());
}

// The config error `data` gives at validate time.
std::string config_error(const std::string& data) {
  try {
    parse(data);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no config error for " << data;
  return "";
}

std::string load_error(const DataSpec& spec) {
  try {
    load_data(spec);
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "no load error for " << spec.root;
  return "";
}

DataSpec cifar_spec(const std::string& dataset, const std::string& root) {
  DataSpec s;
  s.dataset = dataset;
  s.root = root;
  s.val_size = 2;
  return s;
}

}  // namespace

TEST(Fingerprint, HashIsXxh64) {
  EXPECT_EQ(data::hash_bytes("", 0), 0xef46db3751d8e999ULL);
  EXPECT_EQ(data::hash_bytes("abc", 3), 0x44bc2cf5ad770999ULL);
}

TEST(Cifar10, EveryImageAndLabelReadsBackExactlyIncludingEachFilesLastRecord) {
  const auto dir = write_cifar10(test::scratch_dir("cifar10"));
  const auto raw = data::read_cifar(cifar_spec("cifar10", dir));
  ASSERT_EQ(raw.train.images.sizes(), (std::vector<int64_t>{15, 3, 32, 32}));
  ASSERT_EQ(raw.test.images.sizes(), (std::vector<int64_t>{3, 3, 32, 32}));
  EXPECT_EQ(raw.classes, 10);
  int64_t k = 0;
  for (int f = 0; f < 6; ++f) {
    const auto& split = f < 5 ? raw.train : raw.test;
    if (f == 5) k = 0;
    for (int64_t r = 0; r < kCifar10Counts[size_t(f)]; ++r, ++k) {
      EXPECT_EQ(split.labels[k].item<int64_t>(), cifar_label(f, r, 10)) << "file " << f << " record " << r;
      const uint8_t* px = split.images[k].contiguous().data_ptr<uint8_t>();
      int64_t wrong = 0;
      for (int64_t i = 0; i < 3072; ++i) wrong += px[i] != cifar_pixel(f, r, i);
      EXPECT_EQ(wrong, 0) << "file " << f << " record " << r;
    }
  }
  // Through the loader: the shape comes from the data, pixels stay uint8.
  const auto d = load_data(cifar_spec("cifar10", dir));
  EXPECT_EQ(d.shape.channels, 3);
  EXPECT_EQ(d.shape.height, 32);
  EXPECT_EQ(d.shape.classes, 10);
  EXPECT_EQ(d.train.size() + d.val.size(), 15);
  EXPECT_EQ(d.test.size(), 3);
  EXPECT_EQ(d.train.images.scalar_type(), at::kByte);
  EXPECT_EQ(probe_data(cifar_spec("cifar10", dir)).shape.classes, 10);
  // The archive's own folder name is found too.
  const auto parent = test::scratch_dir("cifar10_parent");
  write_cifar10(parent + "/cifar-10-batches-bin");
  EXPECT_TRUE(at::equal(data::read_cifar(cifar_spec("cifar10", parent)).test.images, raw.test.images));
}

TEST(Cifar100, FineLabelsByDefaultCoarseOnRequest) {
  const auto dir = test::scratch_dir("cifar100");
  write_bytes(dir + "/train.bin", cifar_records(0, 7, 2, 100));
  write_bytes(dir + "/test.bin", cifar_records(1, 4, 2, 100));
  auto spec = cifar_spec("cifar100", dir);
  const auto fine = data::read_cifar(spec);
  spec.labels = "coarse";
  const auto coarse = data::read_cifar(spec);
  EXPECT_EQ(fine.classes, 100);
  EXPECT_EQ(coarse.classes, 20);
  for (int64_t r = 0; r < 7; ++r) {
    EXPECT_EQ(fine.train.labels[r].item<int64_t>(), cifar_label(0, r, 100));
    EXPECT_EQ(coarse.train.labels[r].item<int64_t>(), cifar_label(0, r, 20));
  }
  EXPECT_TRUE(at::equal(fine.test.images, coarse.test.images));
  EXPECT_EQ(fine.test.images[3].flatten()[3071].item<int64_t>(), cifar_pixel(1, 3, 3071));  // the last byte
  EXPECT_EQ(parse(fmt::format("{{dataset: cifar100, root: {}, val_size: 2, labels: coarse}}", dir)).runs[0].data.labels,
            "coarse");
}

TEST(Cifar10, BadFilesAreRefusedAtValidateNamingFileAndRecord) {
  const auto dir = write_cifar10(test::scratch_dir("cifar10_bad"));
  const auto yaml = fmt::format("{{dataset: cifar10, root: {}, val_size: 2}}", dir);
  EXPECT_EQ(parse(yaml).runs[0].data.dataset, "cifar10");  // the good set parses

  auto bytes = cifar_records(2, 4, 1, 10);
  write_bytes(dir + "/data_batch_3.bin", std::vector<uint8_t>(bytes.begin(), bytes.end() - 3072));  // last record: 1 byte
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}/data_batch_3.bin' is 9220 bytes, not a whole number of 3073-byte CIFAR-10 "
                                    "records: record 3 is truncated (1 of 3073 bytes)", dir)));
  EXPECT_TRUE(Contains(config_error(yaml), "data.root"));
  write_bytes(dir + "/data_batch_3.bin", {});
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}/data_batch_3.bin' is empty", dir)));
  write_bytes(dir + "/data_batch_3.bin", cifar_records(2, 4, 1, 10));

  bytes = cifar_records(4, 5, 1, 10);
  bytes[4 * 3073] = 10;  // the last record's label
  write_bytes(dir + "/data_batch_5.bin", bytes);
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}/data_batch_5.bin' record 4 (byte 12292): label 10 is out of "
                                                        "range (CIFAR-10 has 10 classes, 0-9)", dir)));
  // The same check guards the loader, for files changed after validation.
  EXPECT_TRUE(Contains(load_error(cifar_spec("cifar10", dir)), "data_batch_5.bin' record 4"));
  fs::remove(dir + "/data_batch_5.bin");
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}/data_batch_5.bin' is missing", dir)));
  EXPECT_TRUE(Contains(config_error(fmt::format("{{dataset: cifar10, root: {}/nowhere}}", dir)), "no CIFAR-10 binary files under"));
}

TEST(Cifar100, OutOfRangeCoarseLabelIsNamed) {
  const auto dir = test::scratch_dir("cifar100_bad");
  auto train = cifar_records(0, 3, 2, 100);
  train[1 * 3074] = 20;  // record 1's coarse label
  write_bytes(dir + "/train.bin", train);
  write_bytes(dir + "/test.bin", cifar_records(1, 2, 2, 100));
  EXPECT_TRUE(Contains(config_error(fmt::format("{{dataset: cifar100, root: {}, val_size: 1}}", dir)), fmt::format("'{}/train.bin' record 1 (byte 3074): coarse label 20 is out of range (CIFAR-100 has "
                                    "20 classes, 0-19)", dir)));
}

// ---- image folders ----

namespace {

// A w x h image with `c` channels whose every pixel differs: value = seed + 3x + 5y + 11c.
std::vector<uint8_t> pattern(int64_t w, int64_t h, int64_t c, int seed) {
  std::vector<uint8_t> px(size_t(w * h * c));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t k = 0; k < c; ++k) px[size_t((y * w + x) * c + k)] = uint8_t(seed + 3 * x + 5 * y + 11 * k);
  return px;
}

void write_png(const std::string& path, int64_t w, int64_t h, int64_t c, int seed) {
  const auto px = pattern(w, h, c, seed);
  write_bytes(path, data::encode_png(px.data(), w, h, c));
}

// root/train/{cat,dog}/ and root/test/{cat,dog}/, grey 6x5 PNGs named so that file order mixes classes.
std::string small_folder(const std::string& root) {
  write_png(root + "/train/dog/a.png", 6, 5, 1, 1);
  write_png(root + "/train/cat/b.png", 6, 5, 1, 2);
  write_png(root + "/train/dog/c.png", 6, 5, 1, 3);
  write_png(root + "/train/cat/d.png", 6, 5, 1, 4);
  write_png(root + "/test/cat/e.png", 6, 5, 1, 5);
  write_png(root + "/test/dog/f.png", 6, 5, 1, 6);
  return root;
}

DataSpec folder_spec(const std::string& root) {
  DataSpec s;
  s.dataset = "image_folder";
  s.root = root;
  s.val_size = 1;
  return s;
}

// The [C, H, W] planes of an interleaved image.
at::Tensor planes(const std::vector<uint8_t>& px, int64_t w, int64_t h, int64_t c) {
  return at::from_blob(const_cast<uint8_t*>(px.data()), {h, w, c}, at::kByte).permute({2, 0, 1}).contiguous();
}

}  // namespace

TEST(ImageFolder, ClassesSortedByNameImagesInFileNameOrderPixelsExact) {
  const auto root = small_folder(test::scratch_dir("folder"));
  const auto raw = data::read_image_folder(folder_spec(root));
  EXPECT_EQ(raw.classes, 2);  // cat = 0, dog = 1
  EXPECT_EQ(raw.train.images.sizes(), (std::vector<int64_t>{4, 1, 5, 6}));
  EXPECT_TRUE(at::equal(raw.train.labels, at::tensor(std::vector<int64_t>{1, 0, 1, 0})));
  EXPECT_TRUE(at::equal(raw.test.labels, at::tensor(std::vector<int64_t>{0, 1})));
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(at::equal(raw.train.images[i], planes(pattern(6, 5, 1, i + 1), 6, 5, 1))) << "image " << i;
  EXPECT_TRUE(at::equal(raw.test.images[1], planes(pattern(6, 5, 1, 6), 6, 5, 1)));
  const auto d = load_data(folder_spec(root));
  EXPECT_EQ(d.shape.channels, 1);
  EXPECT_EQ(d.shape.height, 5);
  EXPECT_EQ(d.shape.width, 6);
  EXPECT_EQ(d.shape.classes, 2);
  const auto nominal = probe_data(folder_spec(root)).shape;
  EXPECT_EQ(std::vector<int64_t>({nominal.channels, nominal.height, nominal.width, nominal.classes}),
            std::vector<int64_t>({1, 5, 6, 2}));
}

TEST(ImageFolder, ColourJpegAndGreyPngMixToThreeChannelsAndResizeCrops) {
  const auto root = test::scratch_dir("folder_rgb");
  write_png(root + "/train/a/0.png", 8, 8, 3, 10);
  write_png(root + "/train/b/1.png", 8, 8, 1, 20);  // grey: replicated to three channels
  const auto px = pattern(8, 8, 3, 30);
  write_bytes(root + "/train/b/2.jpg", data::encode_jpeg(px.data(), 8, 8, 3, 95));
  write_png(root + "/test/a/3.png", 8, 8, 3, 40);
  const auto raw = data::read_image_folder(folder_spec(root));
  EXPECT_EQ(raw.train.images.sizes(), (std::vector<int64_t>{3, 3, 8, 8}));
  EXPECT_TRUE(at::equal(raw.train.images[0], planes(pattern(8, 8, 3, 10), 8, 8, 3)));
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(at::equal(raw.train.images[1][c], planes(pattern(8, 8, 1, 20), 8, 8, 1)[0]));
  // JPEG is lossy: close to what was written, not equal.
  const auto diff = (raw.train.images[2].to(at::kInt) - planes(px, 8, 8, 3).to(at::kInt)).abs().to(at::kFloat).mean();
  EXPECT_LT(diff.item<double>(), 6.0);
  // Forced grey.
  auto spec = folder_spec(root);
  spec.channels = 1;
  EXPECT_EQ(data::read_image_folder(spec).train.images.size(1), 1);
  // Resize the shorter side to 4, centre-crop 4x2 (height 4, width 2): a constant image stays constant.
  const auto flat = test::scratch_dir("folder_resize");
  std::vector<uint8_t> grey(16 * 8, 77);
  write_bytes(flat + "/train/x/0.png", data::encode_png(grey.data(), 16, 8, 1));  // 16 wide, 8 high
  write_bytes(flat + "/train/x/1.png", data::encode_png(grey.data(), 8, 16, 1));  // 8 wide, 16 high
  write_bytes(flat + "/test/x/2.png", data::encode_png(grey.data(), 16, 8, 1));
  spec = folder_spec(flat);
  spec.resize = 4;
  spec.image_height = 4;
  spec.image_width = 2;
  const auto resized = data::read_image_folder(spec);
  EXPECT_EQ(resized.train.images.sizes(), (std::vector<int64_t>{2, 1, 4, 2}));
  EXPECT_EQ(resized.train.images.min().item<int64_t>(), 77);
  EXPECT_EQ(resized.train.images.max().item<int64_t>(), 77);
  // The resize filter keeps a linear ramp's mean.
  const auto ramp = pattern(16, 16, 1, 0);
  const auto half = data::resize_image(ramp, 16, 16, 1, 8, 8);
  double mean_in = 0, mean_out = 0;
  for (auto v : ramp) mean_in += v / 256.0;
  for (auto v : half) mean_out += v / 64.0;
  EXPECT_NEAR(mean_in, mean_out, 0.6);
}

TEST(ImageFolder, BadImagesAndFoldersAreNamed) {
  const auto root = small_folder(test::scratch_dir("folder_bad"));
  const auto yaml = fmt::format("{{dataset: image_folder, root: {}, val_size: 1}}", root);
  EXPECT_EQ(parse(yaml).runs[0].data.dataset, "image_folder");

  write_bytes(root + "/train/dog/g.png", {1, 2, 3, 4, 5, 6, 7, 8, 9});
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("image '{}/train/dog/g.png': not a readable image (neither a PNG "
                                                        "nor a JPEG file", root)));
  fs::remove(root + "/train/dog/g.png");

  write_png(root + "/train/cat/h.png", 5, 5, 1, 0);
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("image '{}/train/cat/h.png': 5×5 (width × height), but "
                                                        "'{}/train/dog/a.png' is 6×5", root, root)));
  EXPECT_TRUE(Contains(config_error(fmt::format("{{dataset: image_folder, root: {}, val_size: 1, image_size: [5, 6]}}", root)), fmt::format("image '{}/train/cat/h.png': 5×5 (width × height) is smaller than data.image_size "
                                    "6×5", root)));
  // A centre crop to the smaller size brings them to one size.
  EXPECT_EQ(parse(fmt::format("{{dataset: image_folder, root: {}, val_size: 1, image_size: 5}}", root)).runs.size(), 1u);
  fs::remove(root + "/train/cat/h.png");

  fs::create_directories(root + "/train/emu");
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("class folder '{}/train/emu' holds no images", root)));
  fs::remove(root + "/train/emu");

  write_bytes(root + "/train/cat/notes.txt", {'h', 'i'});
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}/train/cat/notes.txt' is not a .png, .jpg or .jpeg file", root)));
  fs::remove(root + "/train/cat/notes.txt");
  write_bytes(root + "/train/.DS_Store", {0});  // hidden files are skipped
  EXPECT_EQ(parse(yaml).runs.size(), 1u);

  write_png(root + "/train/stray.png", 6, 5, 1, 0);
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}/train/stray.png' is not inside a class folder", root)));
  fs::remove(root + "/train/stray.png");

  write_png(root + "/test/emu/z.png", 6, 5, 1, 0);
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}/test/emu' is not a class of the training split (its classes: "
                                                        "cat, dog)", root)));
  fs::remove_all(root + "/test/emu");

  // A header that reads but data that does not: found when the images are decoded.
  auto broken = data::encode_png(pattern(6, 5, 1, 9).data(), 6, 5, 1);
  const std::string idat = "IDAT";
  const auto at = std::search(broken.begin(), broken.end(), idat.begin(), idat.end()) - broken.begin();
  broken[size_t(at) + 6] ^= 0xff;  // compressed data: the checksum no longer matches
  write_bytes(root + "/train/dog/i.png", broken);
  EXPECT_TRUE(Contains(load_error(folder_spec(root)), fmt::format("image '{}/train/dog/i.png': cannot be decoded (libpng:", root)));
  fs::remove(root + "/train/dog/i.png");

  EXPECT_TRUE(Contains(config_error(fmt::format("{{dataset: image_folder, root: {}/train, val_size: 1}}", root)), "has no 'train' folder"));
  EXPECT_TRUE(Contains(config_error(fmt::format("{{dataset: cifar10, root: {}, image_size: 4}}", root)), "data.image_size: applies to dataset image_folder only"));
}

// ---- tensors files ----

namespace {

void save_dict(const std::string& path, const std::vector<std::pair<std::string, c10::IValue>>& entries) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [k, v] : entries) d.insert(k, v);
  const auto bytes = torch::pickle_save(c10::IValue(d));
  write_bytes(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

std::string tensor_set(const std::string& root, const at::Tensor& train_images, const at::Tensor& train_labels) {
  save_dict(root + "/train.pt", {{"images", train_images}, {"labels", train_labels}});
  save_dict(root + "/test.pt", {{"images", train_images.narrow(0, 0, 2)}, {"labels", train_labels.narrow(0, 0, 2)}});
  return root;
}

DataSpec tensors_spec(const std::string& root) {
  DataSpec s;
  s.dataset = "tensors";
  s.root = root;
  s.val_size = 1;
  return s;
}

}  // namespace

TEST(TensorFiles, Uint8AndFloatImagesReadBackExactly) {
  const auto images = at::randint(0, 256, {5, 3, 4, 6}, at::kLong).to(at::kByte);
  const auto labels = at::tensor(std::vector<int64_t>{0, 4, 2, 1, 4});
  const auto root = tensor_set(test::scratch_dir("tensors"), images, labels);
  const auto raw = data::read_tensor_files(tensors_spec(root));
  EXPECT_TRUE(at::equal(raw.train.images, images));
  EXPECT_TRUE(at::equal(raw.train.labels, labels));
  EXPECT_EQ(raw.classes, 5);
  const auto d = load_data(tensors_spec(root));
  EXPECT_EQ(d.shape.channels, 3);
  EXPECT_EQ(d.shape.height, 4);
  EXPECT_EQ(d.shape.width, 6);
  const auto nominal = probe_data(tensors_spec(root)).shape;
  EXPECT_EQ(std::vector<int64_t>({nominal.channels, nominal.height, nominal.width, nominal.classes}),
            std::vector<int64_t>({3, 4, 6, 5}));
  // Float images (and a strided view: saved as such by torch.save) are made contiguous.
  const auto floats = at::rand({6, 2, 3, 3}).transpose(2, 3);
  const auto froot = tensor_set(test::scratch_dir("tensors_float"), floats, at::arange(6, at::kLong));
  auto spec = tensors_spec(froot);
  spec.normalize.mode = "none";
  const auto fd = load_data(spec);
  EXPECT_EQ(fd.test.images.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(fd.test.inputs(0, 2), floats.narrow(0, 0, 2).contiguous()));
  // 'classes' given: a class may be absent from the data.
  save_dict(froot + "/test.pt", {{"images", floats.narrow(0, 0, 2)}, {"labels", at::arange(2, at::kLong)}, {"classes", 10}});
  EXPECT_EQ(load_data(spec).shape.classes, 10);
}

TEST(TensorFiles, WrongKeysDtypesAndLabelsAreNamed) {
  const auto root = test::scratch_dir("tensors_bad");
  const auto images = at::zeros({4, 1, 3, 3}, at::kByte);
  const auto labels = at::tensor(std::vector<int64_t>{0, 1, 2, 1});
  tensor_set(root, images, labels);
  const auto yaml = fmt::format("{{dataset: tensors, root: {}, val_size: 1}}", root);
  EXPECT_EQ(parse(yaml).runs.size(), 1u);
  const std::string train = root + "/train.pt";
  auto expect = [&](const std::vector<std::pair<std::string, c10::IValue>>& entries, const std::string& message) {
    save_dict(train, entries);
    EXPECT_TRUE(Contains(config_error(yaml), message));
  };
  expect({{"images", images}}, fmt::format("'{}' has no 'labels' entry (its keys: images; expected 'images' and 'labels')", train));
  expect({{"images", images}, {"labels", labels}, {"mean", 0.5}},
         fmt::format("'{}': unexpected key 'mean' (expected 'images', 'labels' and optionally 'classes')", train));
  expect({{"images", images.to(at::kInt)}, {"labels", labels}},
         fmt::format("'{}': 'images' are int32, expected uint8 or float32", train));
  expect({{"images", images}, {"labels", labels.to(at::kInt)}},
         fmt::format("'{}': 'labels' are int32, expected int64 (convert with .long())", train));
  expect({{"images", images}, {"labels", labels.narrow(0, 0, 3)}},
         fmt::format("'{}': 'images' holds 4 images but 'labels' 3 labels", train));
  expect({{"images", images}, {"labels", at::tensor(std::vector<int64_t>{0, 1, -1, 1})}},
         fmt::format("'{}': label -1 of image 2 is negative", train));
  expect({{"images", images}, {"labels", labels}, {"classes", 2}},
         fmt::format("'{}': label 2 of image 2 is out of range ('classes' is 2: labels 0-1)", train));
  expect({{"images", images.reshape({4, 9})}, {"labels", labels}},
         fmt::format("'{}': 'images' has shape [4, 9], expected [N, C, H, W] (or [N, H, W])", train));
  expect({{"images", at::zeros({4, 2, 3, 3}, at::kByte)}, {"labels", labels}},
         fmt::format("'{}/test.pt' images are uint8 [1, 3, 3] per image, '{}' images uint8 [2, 3, 3]", root, train));
  {
    c10::List<int64_t> list({1, 2});
    const auto bytes = torch::pickle_save(c10::IValue(list));
    write_bytes(train, std::vector<uint8_t>(bytes.begin(), bytes.end()));
    EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}' holds a list, expected a dict", train)));
  }
  write_bytes(train, {'n', 'o', 't', ' ', 'a', ' ', 'z', 'i', 'p'});
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}' is not a file torch.save writes", train)));
  fs::remove(train);
  EXPECT_TRUE(Contains(config_error(yaml), fmt::format("'{}' is missing", train)));
}

TEST(IdxFiles, LabelCountThatDoesNotMatchIsNamed) {
  const auto root = test::scratch_dir("idx_bad");
  auto idx = [](std::vector<int64_t> shape) {
    std::vector<uint8_t> b = {0, 0, 8, uint8_t(shape.size())};
    size_t n = 1;
    for (auto s : shape) {
      for (int k = 3; k >= 0; --k) b.push_back(uint8_t((s >> (8 * k)) & 255));
      n *= size_t(s);
    }
    b.resize(b.size() + n, 0);
    return b;
  };
  write_bytes(root + "/train-images-idx3-ubyte", idx({5, 4, 4}));
  write_bytes(root + "/train-labels-idx1-ubyte", idx({4}));
  write_bytes(root + "/t10k-images-idx3-ubyte", idx({2, 4, 4}));
  write_bytes(root + "/t10k-labels-idx1-ubyte", idx({2}));
  DataSpec spec;
  spec.dataset = "mnist_format";
  spec.root = root;
  spec.val_size = 1;
  EXPECT_TRUE(Contains(load_error(spec), fmt::format("'{}/train-images-idx3-ubyte' holds 5 images but "
                                                      "'{}/train-labels-idx1-ubyte' 4 labels", root, root)));
}
