// prunelab_bench: the speed figures of issue 7, each next to a baseline measured on the same
// machine in the same session (scripts/bench.sh runs the PyTorch eager script and the grid
// timings first and passes their results in). Never run as a test: it only prints.
#include "bench_data.hpp"
#include "machine_peak.hpp"
#include "data/dataset.hpp"
#include "models/builtin_model.hpp"
#include "models/model_spec.hpp"
#include "prune/latency.hpp"
#include "prune/masks.hpp"
#include "prune/physical.hpp"
#include "prune/pruner.hpp"
#include "prune/stats.hpp"
#include "run/threads.hpp"
#include "train/trainer.hpp"
#include "plugin/registry.hpp"

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <torch/utils.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <dlfcn.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include <sys/resource.h>
#include <unistd.h>

using namespace prunelab;

namespace {

std::unique_ptr<BuiltinModel> make_builtin(const std::string& arch, const InputShape& shape) {
  return std::make_unique<BuiltinModel>(arch, shape);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Throughputs are the median of this many timed windows (the eager script does the same).
constexpr int kWindows = 3;

template <typename F>
double median_seconds(F&& timed) {
  std::vector<double> s;
  for (int i = 0; i < kWindows; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    timed();
    s.push_back(seconds_since(t0));
  }
  std::sort(s.begin(), s.end());
  return s[s.size() / 2];
}

struct Row {
  std::string benchmark, unit;
  double ours = NAN, baseline = NAN;
  std::string baseline_name, note;
};

struct TrainFigures {
  double images_per_s = 0, macs = 0;
};

/// Training throughput of our trainer: warm-up steps, then `steps` timed SGD steps. `model` is a
/// built-in's name, or a TorchScript file (a path ending in .pt).
TrainFigures train_throughput(const std::string& model, const DataSplits& data, int64_t batch, int64_t warmup,
                              int64_t steps) {
  torch::manual_seed(1);
  std::unique_ptr<Model> net;
  if (model.size() > 3 && model.compare(model.size() - 3, 3, ".pt") == 0) {
    ModelSpec spec;
    spec.type = "torchscript";
    spec.path = model;
    spec.name = model;
    spec.init = "seed";
    net = make_model(spec, data.shape);
  } else {
    net = make_builtin(model, data.shape);
  }
  const auto probe = to_model_layout(data.test.inputs(0, 1));
  const auto stats = measure(*net, probe);
  OptimSpec optim;
  optim.batch_size = batch;
  TrainSession session(*net, data.train, optim, warmup + kWindows * steps, 1, at::kCPU);
  session.run(warmup, nullptr, {});
  const double s = median_seconds([&] { session.run(steps, nullptr, {}); });
  return {double(steps * batch) / s, double(stats.macs)};
}

/// Training images/s of the built-in ResNet-20 and of its TorchScript twin, their timed windows
/// alternating so a change in the machine's load hits both alike: {built-in, TorchScript}.
std::pair<double, double> paired_training(const std::string& torchscript, const DataSplits& data, int64_t batch,
                                          int64_t warmup, int64_t steps) {
  torch::manual_seed(1);
  auto builtin = make_builtin("resnet20", data.shape);
  ModelSpec spec;
  spec.type = "torchscript";
  spec.path = torchscript;
  spec.name = "resnet20_ts";
  spec.init = "seed";
  torch::manual_seed(1);
  auto ts = make_model(spec, data.shape);
  OptimSpec optim;
  optim.batch_size = batch;
  TrainSession a(*builtin, data.train, optim, warmup + 2 * kWindows * steps, 1, at::kCPU);
  TrainSession b(*ts, data.train, optim, warmup + 2 * kWindows * steps, 1, at::kCPU);
  a.run(warmup, nullptr, {});
  b.run(warmup, nullptr, {});
  std::vector<double> ta, tb;
  for (int w = 0; w < 2 * kWindows; ++w) {
    auto t0 = std::chrono::steady_clock::now();
    a.run(steps, nullptr, {});
    ta.push_back(seconds_since(t0));
    t0 = std::chrono::steady_clock::now();
    b.run(steps, nullptr, {});
    tb.push_back(seconds_since(t0));
  }
  std::sort(ta.begin(), ta.end());
  std::sort(tb.begin(), tb.end());
  return {double(steps * batch) / ta[ta.size() / 2], double(steps * batch) / tb[tb.size() / 2]};
}

/// ResNet-20 training with and without augmentation, paired: two sessions (same initial weights)
/// alternate short windows, so a busy machine's drift hits both alike; {with, without} images/s,
/// each the median over the windows; `cpu` gets the same for images per CPU-second (all threads,
/// the prefetching one included): steadier than wall time on a shared machine.
std::pair<double, double> augmentation_throughput(const DataSplits& plain, const DataSplits& augmented, int64_t batch,
                                                  int64_t warmup, int64_t steps, int windows,
                                                  std::pair<double, double>& cpu) {
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  torch::manual_seed(1);
  auto a = make_builtin("resnet20", plain.shape), b = make_builtin("resnet20", plain.shape);
  copy_state(*a, *b);
  OptimSpec optim;
  optim.batch_size = batch;
  const int64_t total = warmup + windows * steps;
  TrainSession with(*a, augmented.train, optim, total, 1, at::kCPU), without(*b, plain.train, optim, total, 1, at::kCPU);
  with.run(warmup, nullptr, {});
  without.run(warmup, nullptr, {});
  std::vector<double> tw, to, cw, co;
  for (int w = 0; w < windows; ++w) {
    for (bool aug : {w % 2 == 0, w % 2 != 0}) {  // alternate which goes first
      const auto t0 = std::chrono::steady_clock::now();
      const double c0 = cpu_seconds();
      (aug ? with : without).run(steps, nullptr, {});
      (aug ? cw : co).push_back(cpu_seconds() - c0);
      (aug ? tw : to).push_back(seconds_since(t0));
    }
  }
  for (auto* v : {&tw, &to, &cw, &co}) std::sort(v->begin(), v->end());
  const double n = double(steps * batch);
  cpu = {n / cw[cw.size() / 2], n / co[co.size() / 2]};
  return {n / tw[tw.size() / 2], n / to[to.size() / 2]};
}

/// Fine-tuning step time of a 50%-pruned ResNet-20 with its masks enforced vs the same weights
/// trained without masks; returns {masked, plain} seconds per step.
std::pair<double, double> mask_overhead(const DataSplits& data, PluginRegistry& registry, int64_t steps) {
  auto run = [&](bool with_masks) {
    torch::manual_seed(1);
    auto net = make_builtin("resnet20", data.shape);
    MaskSet masks(*net);
    auto crit = registry.make_criterion("magnitude", {});
    auto pol = registry.make_ratio_policy("uniform", {});
    prune_step(masks, UnitLayout(masks, Granularity{}), *crit, *pol, 0.5, nullptr, nullptr, 0);
    OptimSpec optim;
    TrainSession session(*net, data.train, optim, steps + 3, 1, at::kCPU);
    session.run(3, with_masks ? &masks : nullptr, {});
    const auto t0 = std::chrono::steady_clock::now();
    session.run(steps, with_masks ? &masks : nullptr, {});
    return seconds_since(t0) / double(steps);
  };
  // Alternate twice so drift in the machine's load hits both alike; keep the faster of each.
  double masked = run(true), plain = run(false);
  masked = std::min(masked, run(true));
  plain = std::min(plain, run(false));
  return {masked, plain};
}

double eval_throughput(const std::string& model, const DataSplits& data, int64_t batch, bool fold_bn) {
  torch::manual_seed(1);
  auto net = make_builtin(model, data.shape);
  evaluate(*net, data.test, batch, at::kCPU, 2 * batch, fold_bn);  // warm-up
  return double(data.test.size()) / median_seconds([&] { evaluate(*net, data.test, batch, at::kCPU, 0, fold_bn); });
}

/// Physically channel-pruned ResNet-20 vs dense at batch 64: {measured, theoretical} speed-up.
std::pair<double, double> structured_speedup(const DataSplits& data, PluginRegistry& registry, double ratio,
                                             bool coupled, int repeats) {
  torch::manual_seed(1);
  auto dense = make_builtin("resnet20", data.shape);
  auto net = make_builtin("resnet20", data.shape);
  copy_state(*dense, *net);
  dense->eval();
  net->eval();
  MaskSet masks(*net);
  Granularity g{GranularityKind::Channel};
  g.coupled = coupled;
  auto crit = registry.make_criterion("magnitude", {});
  auto pol = registry.make_ratio_policy("uniform", {});
  prune_step(masks, UnitLayout(masks, g), *crit, *pol, ratio, nullptr, nullptr, 0);
  auto physical = physical_copy(*net);
  const auto probe = to_model_layout(data.test.inputs(0, 1));
  const double theoretical = double(measure(*dense, probe).macs) / double(measure(*physical, probe).macs);
  const auto lat = compare_latency(*dense, *physical, data.shape, 64, repeats, 3, at::kCPU);
  return {lat.a_ms / lat.b_ms, theoretical};
}

std::string fmt_value(double v) {
  if (!std::isfinite(v)) return "–";
  return std::abs(v) >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.3g}", v);
}

std::string markdown(const std::vector<Row>& rows, int threads) {
  std::string md = fmt::format("| benchmark ({} threads) | unit | ours | baseline | ratio | baseline is | note |\n"
                               "|---|---|---:|---:|---:|---|---|\n", threads);
  for (const auto& r : rows)
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", r.benchmark, r.unit, fmt_value(r.ours), fmt_value(r.baseline),
                      std::isfinite(r.ours / r.baseline) ? fmt::format("{:.3f}", r.ours / r.baseline) : "–", r.baseline_name, r.note);
  return md;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"prunelab speed benchmarks (issue 7): our figure, a baseline from the same run, their ratio"};
  int threads = 2;
  bool quick = false;
  std::string eager_json, out_md, plugin_dir = PLUGIN_DIR, torchscript_resnet20;
  double grid_cold = NAN, grid_warm = NAN;
  app.add_option("--threads", threads, "intra-op threads (the eager baseline must use the same)")->capture_default_str();
  app.add_flag("--quick", quick, "few steps: checks that everything runs, numbers are not meaningful");
  app.add_option("--eager", eager_json, "JSON written by bench/eager_baseline.py");
  app.add_option("--grid-cold", grid_cold, "seconds of experiments/quick.yaml with nothing cached");
  app.add_option("--grid-warm", grid_warm, "seconds of the same grid run again (everything cached)");
  app.add_option("--out", out_md, "also write the table as Markdown to this file");
  app.add_option("--torchscript-resnet20", torchscript_resnet20,
                 "ResNet-20 as TorchScript (tests/torchscript/make_models.py): its training throughput vs the built-in's");
  app.add_option("--plugin-dir", plugin_dir, "where the built-in plugins are")->capture_default_str();
  bool torchscript_only = false;
  app.add_flag("--torchscript-only", torchscript_only, "only the TorchScript vs built-in training comparison");
  std::string only = "all";
  app.add_option("--only", only, "all | data (only the data figures of issue 16) | augment (memory and augmentation rows only)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  threads = configure_threads(threads);
  YAML::Node eager;
  if (!eager_json.empty()) eager = YAML::LoadFile(eager_json);  // JSON is YAML
  const auto baseline = [&](const char* key) { return eager && eager[key] ? eager[key].as<double>() : NAN; };
  if (eager && eager["threads"] && eager["threads"].as<int>() != threads)
    fmt::print(stderr, "warning: the eager baseline ran with {} threads, this run with {}\n", eager["threads"].as<int>(), threads);

  PluginRegistry registry;
  registry.load_directory(plugin_dir);
  const int64_t warmup = quick ? 2 : 5, steps = quick ? 5 : 40;
  std::vector<Row> rows;
  if (torchscript_only) {
    const auto data = load_data(DataSpec{});
    const auto [builtin_ips, ts_ips] = paired_training(torchscript_resnet20, data, 128, warmup, steps);
    fmt::print("training resnet20 ({} threads): built-in {:.0f} images/s, TorchScript {:.0f} images/s, ratio {:.3f}\n",
               threads, builtin_ips, ts_ips, ts_ips / builtin_ips);
    return 0;
  }
  // Issue 16's data figures first: the memory figure wants a process that holds nothing yet.
  const auto scratch = std::filesystem::temp_directory_path() / fmt::format("prunelab_bench_{}", getpid());
  fmt::print(stderr, "memory of a CIFAR-10-sized set...\n");
  const auto mem = bench::cifar_memory((scratch / "cifar").string(), quick ? 5000 : 50000);
  rows.push_back({fmt::format("CIFAR-10 binary set ({} images) loaded: tensors", quick ? 15000 : 60000), "MB", mem.held_mb,
                  mem.raw_mb, "raw size (pixels + int64 labels)", "target ≤ 2×"});
  rows.push_back({"  … resident memory added", "MB", mem.steady_mb, mem.raw_mb, "raw size", "VmRSS after − before"});
  rows.push_back({"  … peak while loading", "MB", mem.peak_mb, mem.raw_mb, "raw size", fmt::format("load {:.2f} s", mem.load_s)});
  {
    auto plain = bench::cifar_sized_splits(quick ? 1024 : 8192);
    auto augmented = plain;
    augmented.train.augment = {4, true};
    fmt::print(stderr, "training throughput resnet20 32x32x3, augmented vs not...\n");
    std::pair<double, double> cpu;
    const auto [with, without] = augmentation_throughput(plain, augmented, 128, warmup, quick ? 2 : 10, quick ? 2 : 8, cpu);
    rows.push_back({"training resnet20 32×32×3 (batch 128), crop 4 + flip", "images/s", with, without,
                    "same, no augmentation", "target ≥ 0.95"});
    rows.push_back({"  … per CPU-second (all threads)", "images/s", cpu.first, cpu.second, "same, no augmentation",
                    "the cost, whatever else the machine runs"});
    rows.push_back({"batch assembly 128×3×32×32, crop 4 + flip (inline)", "µs/batch",
                    bench::batch_assembly_us(plain.train, 128, true, quick ? 20 : 200),
                    bench::batch_assembly_us(plain.train, 128, false, quick ? 20 : 200), "no augmentation",
                    "training runs it one batch ahead in a thread"});
  }
  if (only == "augment") {
    fmt::print("{}", markdown(rows, threads));
    return 0;
  }
  const int64_t n_small = quick ? 500 : 5000, n_large = quick ? 100 : 500;
  fmt::print(stderr, "image folder decode rates...\n");
  rows.push_back({fmt::format("image folder: {} PNG 32×32 RGB decoded", n_small), "images/s",
                  bench::folder_decode_rate((scratch / "png").string(), n_small, 32, false, 0, 3), NAN, "", "listing, reading, decoding, splitting"});
  rows.push_back({fmt::format("image folder: {} JPEG 32×32 RGB decoded", n_small), "images/s",
                  bench::folder_decode_rate((scratch / "jpg").string(), n_small, 32, true, 0, 3), NAN, "", "quality 90"});
  rows.push_back({fmt::format("image folder: {} JPEG 256×256 decoded, resized to 64", n_large), "images/s",
                  bench::folder_decode_rate((scratch / "jpg256").string(), n_large, 256, true, 64, 3), NAN, "",
                  "antialiased bilinear"});
  std::filesystem::remove_all(scratch);
  if (only == "data") {
    const auto md = markdown(rows, threads);
    fmt::print("{}", md);
    if (!out_md.empty()) std::ofstream(out_md) << md;
    return 0;
  }
  const auto data = load_data(DataSpec{});

  fmt::print(stderr, "machine peak...\n");
  // The machine's peak, not one kernel's: the theoretical FP32 rate for these threads, and the
  // best a large sgemm or oneDNN conv reaches here (bench/machine_peak.hpp).
  const auto theory = bench::theoretical_peak();
  const double theoretical = theory.gflops() / std::max(1, theory.cores) * threads;
  const auto measured = bench::measured_peak(threads, quick);
  const double peak = measured.best();
  rows.push_back({"theoretical FP32 peak", "GFLOP/s", theoretical, NAN, "",
                  fmt::format("{} thr x {:.2f} GHz x {} lanes x {} FMA x 2 ({})", threads, theory.ghz, theory.lanes,
                              theory.fma_units, theory.isa)});
  rows.push_back({"matmul (2048² sgemm)", "GFLOP/s", measured.sgemm_gflops, baseline("matmul_gflops"), "python3-torch at::mm", ""});
  rows.push_back({"conv 3x3 8x256x28² (oneDNN)", "GFLOP/s", measured.conv_gflops, theoretical, "theoretical peak",
                  "best measured kernel"});

  for (const std::string model : {"resnet20", "lenet300"}) {
    fmt::print(stderr, "training throughput {}...\n", model);
    const auto f = train_throughput(model, data, 128, warmup, steps);
    const double eager_ips = baseline(fmt::format("train_{}_img_s", model).c_str());
    rows.push_back({fmt::format("training {} (batch 128)", model), "images/s", f.images_per_s, eager_ips,
                    "PyTorch eager", "target ≥ 1.2× on resnet20"});
    if (model == "resnet20")
      rows.push_back({"training resnet20: PyTorch eager channels-last", "images/s",
                      baseline("train_resnet20_channels_last_img_s"), eager_ips, "PyTorch eager (NCHW)",
                      "the layout prunelab uses, in PyTorch"});
    if (model == "resnet20" && !torchscript_resnet20.empty()) {
      fmt::print(stderr, "training throughput resnet20 as TorchScript...\n");
      const auto [builtin_ips, ts_ips] = paired_training(torchscript_resnet20, data, 128, warmup, steps);
      rows.push_back({"training resnet20 as TorchScript (batch 128)", "images/s", ts_ips, builtin_ips,
                      "the built-in resnet20, windows alternating", "target ≥ 0.9×"});
      rows.push_back({"training resnet20 as TorchScript vs eager", "images/s", ts_ips, eager_ips,
                      "PyTorch eager (NCHW)", ""});
    }
    // Forward + backward ≈ 3 forward passes; 2 FLOPs per multiply-accumulate.
    const double gflops = f.images_per_s * 6.0 * f.macs / 1e9;
    rows.push_back({fmt::format("training {} achieved", model), "GFLOP/s", gflops, peak, "best measured kernel",
                    fmt::format("{:.0f} % of theoretical", 100 * gflops / theoretical)});
  }

  fmt::print(stderr, "mask overhead...\n");
  const auto [masked, plain] = mask_overhead(data, registry, quick ? 3 : 20);
  rows.push_back({"fine-tune step, 50% masked resnet20", "ms/step", 1000 * masked, 1000 * plain, "same weights, no masks",
                  "target: ratio ≤ 1.02"});

  for (const std::string model : {"resnet20", "lenet300"}) {
    fmt::print(stderr, "evaluation throughput {}...\n", model);
    const double ours = eval_throughput(model, data, 1000, true);
    rows.push_back({fmt::format("evaluation {} (batch 1000)", model), "images/s", ours,
                    baseline(fmt::format("eval_{}_img_s", model).c_str()), "PyTorch eager inference_mode",
                    model == "resnet20" ? "ours folds BatchNorm" : ""});
    if (model == "resnet20")
      rows.push_back({"evaluation resnet20: PyTorch eager channels-last", "images/s",
                      baseline("eval_resnet20_channels_last_img_s"), baseline("eval_resnet20_img_s"),
                      "PyTorch eager (NCHW)", "the layout prunelab uses, in PyTorch"});
    if (model == "resnet20")
      rows.push_back({"evaluation resnet20: BatchNorm folded vs not", "images/s", ours,
                      eval_throughput(model, data, 1000, false), "ours, BatchNorm not folded", "exact up to rounding"});
  }

  for (bool coupled : {false, true}) {
    for (double r : {0.3, 0.5, 0.7}) {
      fmt::print(stderr, "structured speed-up {} {}...\n", coupled ? "coupled" : "inner", r);
      const auto [measured, theoretical] = structured_speedup(data, registry, r, coupled, quick ? 3 : 20);
      rows.push_back({fmt::format("channel {} {:.0f}%: measured vs MACs speed-up (batch 64)", coupled ? "coupled" : "inner", 100 * r),
                      "×", measured, theoretical, "theoretical (MACs)", "target ratio ≥ 0.8"});
    }
  }
  if (std::isfinite(grid_cold) || std::isfinite(grid_warm))
    rows.push_back({"experiments/quick.yaml grid, warm vs cold", "s", grid_warm, grid_cold, "cold (nothing cached)",
                    "warm must train nothing"});

  const auto md = markdown(rows, threads);
  fmt::print("{}", md);
  if (!out_md.empty()) std::ofstream(out_md) << md;
  return 0;
}
