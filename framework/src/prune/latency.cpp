#include "prune/latency.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace prunelab {

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double timed_forward(Network& net, const at::Tensor& x, c10::Device device) {
  const auto t0 = std::chrono::steady_clock::now();
  auto y = net.forward(x);
  if (device.is_cuda()) y.cpu();  // wait for the kernels, not just their launch
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

LatencyPair compare_latency(Network& a, Network& b, const InputShape& shape, int64_t batch,
                            int repeats, int warmup, c10::Device device) {
  const bool a_training = a.is_training(), b_training = b.is_training();
  a.eval();
  b.eval();
  std::vector<double> ta, tb;
  {
    c10::InferenceMode guard;
    auto x = to_model_layout(at::randn({batch, shape.channels, shape.height, shape.width}).to(device));
    for (int i = 0; i < warmup; ++i) {
      timed_forward(a, x, device);
      timed_forward(b, x, device);
    }
    for (int i = 0; i < std::max(1, repeats); ++i) {
      ta.push_back(timed_forward(a, x, device));
      tb.push_back(timed_forward(b, x, device));
    }
  }
  a.train(a_training);
  b.train(b_training);
  return {median(ta), median(tb)};
}

double latency_ms(Network& net, const InputShape& shape, int64_t batch, int repeats, int warmup,
                  c10::Device device) {
  const bool was_training = net.is_training();
  net.eval();
  std::vector<double> t;
  {
    c10::InferenceMode guard;
    auto x = to_model_layout(at::randn({batch, shape.channels, shape.height, shape.width}).to(device));
    for (int i = 0; i < warmup; ++i) timed_forward(net, x, device);
    for (int i = 0; i < std::max(1, repeats); ++i) t.push_back(timed_forward(net, x, device));
  }
  net.train(was_training);
  return median(t);
}

}  // namespace prunelab
