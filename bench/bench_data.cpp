#include "bench_data.hpp"

#include "data/image_codec.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <malloc.h>

namespace prunelab::bench {

namespace {

namespace fs = std::filesystem;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// VmRSS or VmHWM of this process, in MB.
double proc_status_mb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stod(line.substr(field.size() + 1)) / 1024.0;
  return NAN;
}

void write_file(const fs::path& path, const std::vector<uint8_t>& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

// A smooth random image (random gradients plus noise): compresses like a photo, not like noise.
std::vector<uint8_t> photo_like(int64_t size, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto coeffs = at::rand({3, 3}, gen);
  const auto noise = at::randint(0, 24, {size, size, 3}, gen, at::kLong);
  std::vector<uint8_t> px(size_t(size * size * 3));
  const auto* c = coeffs.data_ptr<float>();
  const auto* nz = noise.data_ptr<int64_t>();
  for (int64_t y = 0; y < size; ++y)
    for (int64_t x = 0; x < size; ++x)
      for (int64_t k = 0; k < 3; ++k) {
        const double v = 200.0 * (c[k * 3] * x + c[k * 3 + 1] * y) / double(size) + 40.0 * c[k * 3 + 2];
        px[size_t((y * size + x) * 3 + k)] = uint8_t(std::clamp<double>(v + double(nz[(y * size + x) * 3 + k]), 0, 255));
      }
  return px;
}

}  // namespace

DataSplits cifar_sized_splits(int64_t images) {
  DataSplits d;
  d.train = TensorDataset{at::randint(0, 256, {images, 3, 32, 32}, at::kLong).to(at::kByte),
                          at::randint(0, 10, {images}, at::kLong)};
  auto lut = at::empty({3, 256}, at::kFloat);
  for (int64_t c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v) lut[c][v] = float((v / 255.0 - 0.48) / 0.25);
  d.train.lut = lut;
  d.train.pad.assign(3, float(-0.48 / 0.25));
  d.test = d.train;
  d.val = d.train;
  d.shape = {3, 32, 32, 10};
  return d;
}

MemoryFigures cifar_memory(const std::string& dir, int64_t train) {
  const int64_t per_file = train / 5;
  {
    std::vector<uint8_t> bytes;
    for (int f = 0; f < 6; ++f) {
      const int64_t n = f < 5 ? per_file : 10000;
      const auto px = at::randint(0, 256, {n, 3073}, at::kLong).to(at::kByte);
      bytes.assign(px.data_ptr<uint8_t>(), px.data_ptr<uint8_t>() + px.numel());
      for (int64_t r = 0; r < n; ++r) bytes[size_t(r * 3073)] = uint8_t(r % 10);
      write_file(fs::path(dir) / (f < 5 ? fmt::format("data_batch_{}.bin", f + 1) : std::string("test_batch.bin")), bytes);
    }
  }
  MemoryFigures m;
  m.raw_mb = double((5 * per_file + 10000) * (3072 + 8)) / 1048576.0;  // pixels, labels as int64
  malloc_trim(0);  // what writing the files freed goes back to the system: the baseline is what is in use
  std::ofstream("/proc/self/clear_refs") << "5";  // restart the peak (VmHWM) from the current size
  const double before = proc_status_mb("VmRSS");
  DataSpec spec;
  spec.dataset = "cifar10";
  spec.root = dir;
  spec.val_size = std::min<int64_t>(5000, train / 10);
  const auto t0 = std::chrono::steady_clock::now();
  {
    const auto data = load_data(spec);
    m.load_s = seconds_since(t0);
    m.steady_mb = proc_status_mb("VmRSS") - before;
    m.peak_mb = proc_status_mb("VmHWM") - before;
    for (const auto* s : {&data.train, &data.val, &data.test})
      m.held_mb += double(s->images.nbytes() + s->labels.nbytes() + s->lut.nbytes()) / 1048576.0;
  }
  fs::remove_all(dir);
  return m;
}

double folder_decode_rate(const std::string& dir, int64_t images, int64_t size, bool jpeg, int64_t resize, int repeats) {
  for (int64_t i = 0; i < images + 10; ++i) {
    const auto px = photo_like(size, uint64_t(i));
    const auto bytes = jpeg ? data::encode_jpeg(px.data(), size, size, 3, 90) : data::encode_png(px.data(), size, size, 3);
    const auto split = i < images ? "train" : "test";
    write_file(fs::path(dir) / split / fmt::format("class{}", i % 10) / fmt::format("{:06d}.{}", i, jpeg ? "jpg" : "png"), bytes);
  }
  DataSpec spec;
  spec.dataset = "image_folder";
  spec.root = dir;
  spec.val_size = 10;
  spec.resize = resize;
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto data = load_data(spec);
    best = std::min(best, seconds_since(t0));
  }
  fs::remove_all(dir);
  return double(images + 10) / best;
}

double batch_assembly_us(const TensorDataset& data, int64_t batch, bool augment, int batches) {
  TensorDataset d = data;
  d.augment = augment ? AugmentSpec{4, true} : AugmentSpec{};
  BatchSampler sampler(d, batch, 1, {true, false});
  for (int i = 0; i < 5; ++i) sampler.next();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < batches; ++i) sampler.next();
  return 1e6 * seconds_since(t0) / double(batches);
}

}  // namespace prunelab::bench
