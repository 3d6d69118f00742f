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

void keep_sparse_if_faster(Model& net, kernels::SparseExecution& sparse, const at::Tensor& x, c10::Device device,
                           int warmup) {
  const int passes = std::max(3, warmup);
  std::vector<double> with, without;
  for (int i = 0; i < passes; ++i) {
    sparse.set_enabled(true);
    with.push_back(timed_forward(net, x, device));
    sparse.set_enabled(false);
    without.push_back(timed_forward(net, x, device));
  }
  sparse.set_enabled(median(with) < median(without));
}

struct Timed {
  double ms = 0;
  size_t sparse_layers = 0;
  double max_kernel_diff = 0;
};

// Median ms of each model, passes alternating model by model so load drift hits all alike.
std::vector<Timed> median_latencies(const std::vector<Model*>& nets, const InputShape& shape, int64_t batch,
                                    int repeats, int warmup, c10::Device device, bool sparse_kernels) {
  std::vector<bool> training;
  for (auto* n : nets) {
    training.push_back(n->is_training());
    n->eval();
  }
  std::vector<std::vector<double>> times(nets.size());
  std::vector<Timed> out(nets.size());
  {
    // Timed as deployed: BatchNorm folded into the convs (restored exactly afterwards), then
    // sparse kernels built from the folded weights; their choices are made in the warm-up.
    std::vector<std::unique_ptr<BatchNormFold>> folded;
    std::vector<std::unique_ptr<kernels::SparseExecution>> sparse;
    for (auto* n : nets) {
      folded.push_back(n->fold_batchnorm());
      if (sparse_kernels && device.is_cpu()) sparse.push_back(n->use_sparse_kernels());
    }
    c10::InferenceMode guard;
    auto x = to_model_layout(at::randn({batch, shape.channels, shape.height, shape.width}).to(device));
    for (int i = 0; i < std::max(1, warmup); ++i)
      for (auto* n : nets) timed_forward(*n, x, device);
    // Each layer chose by itself; the layouts its choice hands its neighbours are not in its
    // timing. So the whole model is timed both ways too, and sparse kernels are kept only where
    // they make the model faster: a pruned model is never timed slower than on dense kernels.
    for (size_t k = 0; k < sparse.size(); ++k)
      if (!sparse[k]->layers().empty()) keep_sparse_if_faster(*nets[k], *sparse[k], x, device, warmup);
    for (int i = 0; i < std::max(1, repeats); ++i)
      for (size_t k = 0; k < nets.size(); ++k) times[k].push_back(timed_forward(*nets[k], x, device));
    for (size_t k = 0; k < sparse.size(); ++k) {
      out[k].sparse_layers = sparse[k]->sparse_layers(batch);
      out[k].max_kernel_diff = sparse[k]->max_rel_diff();
    }
  }
  for (size_t k = 0; k < nets.size(); ++k) {
    nets[k]->train(training[k]);
    out[k].ms = median(times[k]);
  }
  return out;
}
}  // namespace

LatencyPair compare_latency(Model& a, Model& b, const InputShape& shape, int64_t batch,
                            int repeats, int warmup, c10::Device device, bool sparse_kernels) {
  const auto t = median_latencies({&a, &b}, shape, batch, repeats, warmup, device, sparse_kernels);
  return {t[0].ms, t[1].ms, t[0].sparse_layers, t[1].sparse_layers, std::max(t[0].max_kernel_diff, t[1].max_kernel_diff)};
}

LatencyPair compare_kernels(Model& net, const InputShape& shape, int64_t batch, int repeats, int warmup,
                            c10::Device device) {
  const bool training = net.is_training();
  net.eval();
  LatencyPair out;
  {
    auto folded = net.fold_batchnorm();
    auto sparse = net.use_sparse_kernels();
    c10::InferenceMode guard;
    auto x = to_model_layout(at::randn({batch, shape.channels, shape.height, shape.width}).to(device));
    for (int i = 0; i < std::max(1, warmup); ++i) timed_forward(net, x, device);  // the layers decide here
    keep_sparse_if_faster(net, *sparse, x, device, warmup);
    const bool chosen = sparse->enabled();
    std::vector<double> dense_ms, chosen_ms;
    for (int i = 0; i < std::max(1, repeats); ++i) {
      sparse->set_enabled(false);
      dense_ms.push_back(timed_forward(net, x, device));
      sparse->set_enabled(chosen);
      chosen_ms.push_back(timed_forward(net, x, device));
    }
    out = {median(dense_ms), median(chosen_ms), 0, sparse->sparse_layers(batch), sparse->max_rel_diff()};
  }
  net.train(training);
  return out;
}

double latency_ms(Model& net, const InputShape& shape, int64_t batch, int repeats, int warmup,
                  c10::Device device, bool sparse_kernels) {
  return median_latencies({&net}, shape, batch, repeats, warmup, device, sparse_kernels)[0].ms;
}

}  // namespace prunelab
