#pragma once
/// The machine's FP32 peak, honestly: the theoretical rate from the ISA, the cores and the clock,
/// next to the best rate a real kernel reaches here (a large sgemm and a large oneDNN conv).
/// Helpers of the benches; never run as tests.

#include <string>

namespace prunelab::bench {

struct TheoreticalPeak {
  std::string cpu;       // model name from /proc/cpuinfo
  int cores = 0;         // logical CPUs this process may use
  double ghz = 0;        // the clock /proc/cpuinfo reports (nominal under a hypervisor)
  int lanes = 0;         // FP32 lanes per FMA unit: 16 (AVX-512 datapath), 8 (AVX2 or a 256-bit AVX-512 datapath), 4
  int fma_units = 2;     // FMA pipes per core (2 on every x86 server core of the last decade; assumed)
  std::string isa;       // what the lanes were read from
  double gflops() const { return cores * ghz * lanes * fma_units * 2.0; }
};
TheoreticalPeak theoretical_peak();

struct MeasuredPeak {
  double sgemm_gflops = 0;  // 2048x2048 at::mm (OpenBLAS, given the threads for this measurement)
  double conv_gflops = 0;   // 3x3 conv, 8x256x28x28 -> 256 channels, channels-last (oneDNN)
  double best() const { return sgemm_gflops > conv_gflops ? sgemm_gflops : conv_gflops; }
};
MeasuredPeak measured_peak(int threads, bool quick);

}  // namespace prunelab::bench
