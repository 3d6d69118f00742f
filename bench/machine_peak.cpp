#include "machine_peak.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <dlfcn.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace prunelab::bench {

namespace {
std::string cpuinfo_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  return "";
}

bool has_flag(const std::string& flags, const std::string& flag) {
  return (" " + flags + " ").find(" " + flag + " ") != std::string::npos;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class F>
double best_gflops(double flop, int reps, F&& run) {
  run();  // warm-up (oneDNN primitive creation, page faults)
  double best = 0;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::max(best, flop / seconds_since(t0) / 1e9);
  }
  return best;
}
}  // namespace

TheoreticalPeak theoretical_peak() {
  std::ifstream file("/proc/cpuinfo");
  std::stringstream text;
  text << file.rdbuf();
  TheoreticalPeak p;
  p.cpu = cpuinfo_field(text.str(), "model name");
  p.cores = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  const std::string mhz = cpuinfo_field(text.str(), "cpu MHz");
  p.ghz = mhz.empty() ? 0 : std::stod(mhz) / 1000.0;
  const std::string flags = cpuinfo_field(text.str(), "flags");
  const bool amd = cpuinfo_field(text.str(), "vendor_id") == "AuthenticAMD";
  if (has_flag(flags, "avx512f")) {
    // AMD's Zen 4 runs AVX-512 on 256-bit pipes (two passes per instruction): 8 lanes per pipe.
    p.lanes = amd ? 8 : 16;
    p.isa = amd ? "AVX-512 on 256-bit FMA pipes (AMD Zen 4)" : "AVX-512";
  } else if (has_flag(flags, "avx2") && has_flag(flags, "fma")) {
    p.lanes = 8;
    p.isa = "AVX2 + FMA";
  } else {
    p.lanes = 4;
    p.isa = "SSE";
  }
  return p;
}

MeasuredPeak measured_peak(int threads, bool quick) {
  c10::InferenceMode guard;
  MeasuredPeak m;
  {
    // at::mm runs on OpenBLAS, which the framework pins to one thread; here it gets `threads`.
    using SetThreads = void (*)(int);
    auto set_blas_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (set_blas_threads) set_blas_threads(threads);
    const int64_t n = quick ? 512 : 2048;
    auto a = at::randn({n, n}), b = at::randn({n, n});
    m.sgemm_gflops = best_gflops(2.0 * n * n * n, quick ? 2 : 5, [&] { at::mm(a, b); });
    if (set_blas_threads) set_blas_threads(1);
  }
  const int64_t batch = quick ? 1 : 8, c = 256, hw = 28;
  auto x = at::randn({batch, c, hw, hw}).contiguous(at::MemoryFormat::ChannelsLast);
  auto w = at::randn({c, c, 3, 3}).contiguous(at::MemoryFormat::ChannelsLast);
  const double flop = 2.0 * batch * c * c * 9 * hw * hw;
  m.conv_gflops = best_gflops(flop, quick ? 2 : 5, [&] { at::conv2d(x, w, {}, 1, 1); });
  return m;
}

}  // namespace prunelab::bench
