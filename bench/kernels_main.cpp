// prunelab_kernels: what sparsity is worth at inference (issue 18). Prints Markdown:
//  1. the machine's FP32 peak (theoretical and best measured kernel);
//  2. per layer shape, sparse kernel vs dense LibTorch (oneDNN / OpenBLAS) at densities from 50 %
//     down to 5 % and 2:4, at batch 1 and 64: the ratio and the break-even sparsity;
//  3. whole models (ResNet-20, LeNet-300-100) at 50-95 % element sparsity and 2:4, BatchNorm
//     folded, every layer by its measured-faster kernel, against the dense model timed in the
//     same interleaved passes;
//  4. where one ResNet-20 training step's time goes (LibTorch's profiler).
// Each at the thread counts given. Speed is never asserted: this only prints.
#include "kernels/measured_choice.hpp"
#include "kernels/sparse_conv.hpp"
#include "kernels/sparse_rows.hpp"
#include "machine_peak.hpp"
#include "models/builtin_model.hpp"
#include "prune/latency.hpp"
#include "run/threads.hpp"
#include "training_profile.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <vector>

using namespace prunelab;

namespace {

double median_ms(int reps, const std::function<void()>& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Keeps the largest-magnitude `density` of each row of `w` (per output channel), or 2 of every 4
// consecutive weights along the input when `two_of_four`.
at::Tensor magnitude_mask(const at::Tensor& w, double density, bool two_of_four) {
  if (two_of_four) {
    auto g = w.reshape({-1, 4}).abs();
    auto keep = at::zeros_like(g).scatter_(1, std::get<1>(g.topk(2, 1)), 1.0);
    return keep.reshape(w.sizes());
  }
  auto flat = w.reshape({w.size(0), -1}).abs();
  const int64_t k = std::max<int64_t>(1, static_cast<int64_t>(std::llround(density * flat.size(1))));
  auto keep = at::zeros_like(flat).scatter_(1, std::get<1>(flat.topk(k, 1)), 1.0);
  return keep.reshape(w.sizes());
}

struct LayerShape {
  std::string name;
  int64_t in, out, hw, kernel, stride, padding;
  bool linear = false;
};

struct Density {
  std::string label;
  double density;
  bool two_of_four;
};

const std::vector<Density>& densities() {
  static const std::vector<Density> d = {{"50 %", 0.5, false}, {"2:4", 0.5, true}, {"70 %", 0.3, false},
                                         {"80 %", 0.2, false}, {"90 %", 0.1, false}, {"95 %", 0.05, false}};
  return d;
}

void layer_table(int threads, bool quick) {
  const std::vector<LayerShape> shapes = {
      {"ResNet-20 3x3 16->16 @32", 16, 16, 32, 3, 1, 1},  {"ResNet-20 3x3 16->32 s2 @32", 16, 32, 32, 3, 2, 1},
      {"ResNet-20 3x3 32->32 @16", 32, 32, 16, 3, 1, 1},  {"ResNet-20 3x3 64->64 @8", 64, 64, 8, 3, 1, 1},
      {"ResNet-20 1x1 16->32 s2 @32", 16, 32, 32, 1, 2, 0}, {"LeNet-300-100 fc 784->300", 784, 300, 1, 1, 1, 0, true},
      {"LeNet-300-100 fc 300->100", 300, 100, 1, 1, 1, 0, true}};
  at::set_num_threads(threads);
  fmt::print("\n### Layers: dense time / sparse time ({} thread{})\n\n", threads, threads > 1 ? "s" : "");
  fmt::print("| layer | batch | dense ms |");
  for (const auto& d : densities()) fmt::print(" {} |", d.label);
  fmt::print(" break-even |\n|---|---|---|");
  for (size_t i = 0; i < densities().size(); ++i) fmt::print("---|");
  fmt::print("---|\n");
  c10::InferenceMode guard;
  for (const auto& s : shapes)
    for (int64_t batch : {1, 64}) {
      at::manual_seed(1);
      auto w = s.linear ? at::randn({s.out, s.in}) : at::randn({s.out, s.in, s.kernel, s.kernel});
      auto x = s.linear ? at::randn({batch, s.in})
                        : at::randn({batch, s.in, s.hw, s.hw}).contiguous(at::MemoryFormat::ChannelsLast);
      auto dense = [&](const at::Tensor& weight) {
        return s.linear ? at::linear(x, weight) : at::conv2d(x, weight, {}, s.stride, s.padding);
      };
      const int reps = quick ? 5 : (batch == 1 ? 200 : 30);
      const double dense_ms = median_ms(reps, [&] { dense(w); });
      fmt::print("| {} | {} | {:.4f} |", s.name, batch, dense_ms);
      std::string break_even = "none";
      for (const auto& d : densities()) {
        const auto wm = w * magnitude_mask(w, d.density, d.two_of_four);
        kernels::SparseConv sparse(wm, {}, {s.stride, s.padding, 1, 1});
        const double sparse_ms = median_ms(reps, [&] { sparse.forward(x); });
        const double ratio = dense_ms / sparse_ms;
        fmt::print(" {:.2f}x |", ratio);
        if (ratio > 1 && break_even == "none" && !d.two_of_four) break_even = d.label;
      }
      fmt::print(" {} |\n", break_even);
    }
}

void prune_model(Model& m, double density, bool two_of_four) {
  at::NoGradGuard no_grad;
  for (auto& l : m.layers()) l.weight.mul_(magnitude_mask(l.weight, density, two_of_four));
}

void model_table(int threads, bool quick) {
  struct Net {
    std::string label, arch;
    InputShape shape;
  };
  const std::vector<Net> nets = {{"ResNet-20 (3x32x32)", "resnet20", {3, 32, 32, 10}},
                                 {"ResNet-20 (1x28x28)", "resnet20", {1, 28, 28, 10}},
                                 {"LeNet-300-100", "lenet300", {1, 28, 28, 10}}};
  at::set_num_threads(threads);
  fmt::print("\n### Whole models: dense latency / pruned latency ({} thread{}; sparse kernels where measured faster)\n\n",
             threads, threads > 1 ? "s" : "");
  fmt::print("| model | batch | dense ms |");
  for (const auto& d : densities()) fmt::print(" {} |", d.label);
  fmt::print("\n|---|---|---|");
  for (size_t i = 0; i < densities().size(); ++i) fmt::print("---|");
  fmt::print("\n");
  const c10::Device cpu(c10::kCPU);
  for (const auto& n : nets)
    for (int64_t batch : {1, 64}) {
      at::manual_seed(1);
      auto dense = std::make_unique<BuiltinModel>(n.arch, n.shape);
      const int reps = quick ? 3 : (batch == 1 ? 200 : 20);
      const int warmup = batch == 1 ? 10 : 3;
      std::string cells;
      double dense_ms = 0;
      for (const auto& d : densities()) {
        auto pruned = dense->clone();
        prune_model(*pruned, d.density, d.two_of_four);
        const auto t = compare_latency(*dense, *pruned, n.shape, batch, reps, warmup, cpu);
        dense_ms = t.a_ms;
        cells += fmt::format(" {:.2f}x ({}/{}) |", t.a_ms / t.b_ms, t.b_sparse_layers, pruned->layers().size());
      }
      fmt::print("| {} | {} | {:.3f} |{}\n", n.label, batch, dense_ms, cells);
    }
  fmt::print("\n(n/m): layers that ran the sparse kernel / layers.\n");
}

// The sparse inner loop alone, one thread, its input in L1: every ISA's tile kernel this machine
// has, 16 nonzeros a row (a 90 %-sparse 3x3 conv of 16 channels has 14). What the kernel could
// reach if packing, unpacking and cache misses cost nothing.
double tile_gflops(kernels::TileKernel kernel, bool quick) {
  constexpr int64_t kNnz = 16, kSpan = 4096;
  std::vector<float> in(kSpan + kernels::kTile, 1.0f), value(kNnz, 0.5f), out(64 * kernels::kTile);
  std::vector<int32_t> offset(kNnz);
  for (int64_t k = 0; k < kNnz; ++k) offset[k] = static_cast<int32_t>((k * 977) % kSpan);  // scattered taps
  const int64_t calls = quick ? 20000 : 400000;
  const double ms = median_ms(5, [&] {
    for (int64_t r = 0; r < calls; ++r)
      kernel(in.data() + (r % 16), offset.data(), value.data(), kNnz, 0.0f, out.data() + (r % 64) * kernels::kTile);
  });
  return 2.0 * kNnz * kernels::kTile * calls / (ms * 1e6);
}

void peak_table(int threads, bool quick) {
  const auto t = bench::theoretical_peak();
  const auto m = bench::measured_peak(threads, quick);
  fmt::print("\n### Machine peak ({} thread{})\n\n", threads, threads > 1 ? "s" : "");
  fmt::print("| figure | GFLOP/s | how |\n|---|---|---|\n");
  const double per_thread = t.gflops() / std::max(1, t.cores) * threads;
  fmt::print("| theoretical FP32, {} thread{} | {:.1f} | {} x {:.3f} GHz x {} lanes x {} FMA pipes x 2 ({}; {}) |\n",
             threads, threads > 1 ? "s" : "", per_thread, threads, t.ghz, t.lanes, t.fma_units, t.isa, t.cpu);
  fmt::print("| sgemm 2048² (OpenBLAS) | {:.1f} | {:.0f} % of theoretical |\n", m.sgemm_gflops,
             100 * m.sgemm_gflops / per_thread);
  fmt::print("| conv 3x3 8x256x28x28 -> 256 (oneDNN, channels-last) | {:.1f} | {:.0f} % of theoretical (direct-conv FLOPs) |\n",
             m.conv_gflops, 100 * m.conv_gflops / per_thread);
  if (threads == 1)
    for (const auto& [isa, kernel] : kernels::tile_kernels_here())
      fmt::print("| sparse tile kernel ({}), input in L1 | {:.1f} | on the nonzeros; the ceiling of the sparse convs |\n",
                 isa, tile_gflops(kernel, quick));
  if (m.best() > per_thread)
    fmt::print("\nThe best kernel beats the theoretical rate at {:.2f} GHz: the cores run at {:.2f} GHz or more "
               "(a boost clock the hypervisor does not report).\n",
               t.ghz, m.best() / (threads * t.lanes * t.fma_units * 2.0));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Sparse kernels vs dense, the machine's peak and a training-step profile (Markdown on stdout)"};
  std::vector<int> threads = {1, 2};
  bool quick = false;
  std::string only = "all";
  app.add_option("--threads", threads, "thread counts to measure at")->capture_default_str();
  app.add_flag("--quick", quick, "few repeats, small sizes (a smoke run, not figures)");
  app.add_option("--only", only, "all | peak | layers | models | profile")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  for (int t : threads) {
    configure_threads(t);
    if (only == "all" || only == "peak") peak_table(t, quick);
    if (only == "all" || only == "layers") layer_table(t, quick);
    if (only == "all" || only == "models") model_table(t, quick);
    if (only == "all" || only == "profile") bench::print_training_profile(t, quick);
  }
  return 0;
}
