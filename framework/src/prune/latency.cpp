#include "prune/latency.hpp"


#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace prunelab {

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double timed_forward(Model& net, const at::Tensor& x, c10::Device device) {
  const auto t0 = std::chrono::steady_clock::now();
  auto y = net.forward(x);
  if (device.is_cuda()) y.cpu();  // wait for the kernels, not just their launch
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

// Median ms of each model, passes alternating model by model so load drift hits all alike.
static std::vector<double> median_latencies(const std::vector<Model*>& nets, const InputShape& shape, int64_t batch,
                                     int repeats, int warmup, c10::Device device) {
  std::vector<bool> training;
  for (auto* n : nets) {
    training.push_back(n->is_training());
    n->eval();
  }
  std::vector<std::vector<double>> times(nets.size());
  {
    // Timed as deployed: BatchNorm folded into the convs (restored exactly afterwards).
    std::vector<std::unique_ptr<BatchNormFold>> folded;
    for (auto* n : nets) folded.push_back(n->fold_batchnorm());
    c10::InferenceMode guard;
    auto x = to_model_layout(at::randn({batch, shape.channels, shape.height, shape.width}).to(device));
    for (int i = 0; i < warmup; ++i)
      for (auto* n : nets) timed_forward(*n, x, device);
    for (int i = 0; i < std::max(1, repeats); ++i)
      for (size_t k = 0; k < nets.size(); ++k) times[k].push_back(timed_forward(*nets[k], x, device));
  }
  std::vector<double> out;
  for (size_t k = 0; k < nets.size(); ++k) {
    nets[k]->train(training[k]);
    out.push_back(median(times[k]));
  }
  return out;
}

LatencyPair compare_latency(Model& a, Model& b, const InputShape& shape, int64_t batch,
                            int repeats, int warmup, c10::Device device) {
  const auto ms = median_latencies({&a, &b}, shape, batch, repeats, warmup, device);
  return {ms[0], ms[1]};
}

double latency_ms(Model& net, const InputShape& shape, int64_t batch, int repeats, int warmup,
                  c10::Device device) {
  return median_latencies({&net}, shape, batch, repeats, warmup, device)[0];
}

}  // namespace prunelab
