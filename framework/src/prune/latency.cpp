#include "prune/latency.hpp"

#include "core/median.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

namespace prunelab {

namespace {
double timed_forward(Model& net, const at::Tensor& x, c10::Device device) {
  const auto t0 = std::chrono::steady_clock::now();
  auto y = net.forward(x);
  if (device.is_cuda()) y.cpu();  // wait for the kernels, not just their launch
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// A model set up for timing as deployed, undone when this goes: eval mode, BatchNorm folded into
// the convs (restored exactly), and sparse kernels built from the folded weights, whose choices
// the warm-up passes make. Made outside inference mode: the folded weights are normal tensors.
class Deployed {
 public:
  Deployed(Model& net, bool sparse_kernels, c10::Device device) : net_(net), training_(net.is_training()) {
    net.eval();
    fold_ = net.fold_batchnorm();
    sparse_ = sparse_kernels && device.is_cpu() ? net.use_sparse_kernels() : std::make_unique<kernels::SparseExecution>();
  }
  ~Deployed() {
    sparse_.reset();
    fold_.reset();
    net_.train(training_);
  }
  Deployed(const Deployed&) = delete;
  Deployed& operator=(const Deployed&) = delete;

  // Each layer chose by itself; the layouts its choice hands its neighbours are not in its
  // timing. So the whole model is timed both ways too, and sparse kernels are kept only where
  // they make the model faster: a pruned model is never timed slower than on dense kernels.
  void keep_sparse_if_faster(const at::Tensor& x, c10::Device device, int warmup) {
    if (sparse_->layers().empty()) return;
    std::vector<double> with, without;
    for (int i = 0; i < std::max(3, warmup); ++i) {
      sparse_->set_enabled(true);
      with.push_back(timed_forward(net_, x, device));
      sparse_->set_enabled(false);
      without.push_back(timed_forward(net_, x, device));
    }
    sparse_->set_enabled(median(with) < median(without));
  }

  Model& net() { return net_; }
  kernels::SparseExecution& sparse() { return *sparse_; }

 private:
  Model& net_;
  bool training_;
  std::unique_ptr<BatchNormFold> fold_;
  std::unique_ptr<kernels::SparseExecution> sparse_;
};

at::Tensor random_batch(const InputShape& shape, int64_t batch, c10::Device device) {
  return to_model_layout(at::randn({batch, shape.channels, shape.height, shape.width}).to(device));
}

struct Timed {
  double ms = 0;
  size_t sparse_layers = 0;
  double max_kernel_diff = 0;
};

// Median ms of each model, passes alternating model by model so load drift hits all alike.
std::vector<Timed> median_latencies(const std::vector<Model*>& nets, const InputShape& shape, int64_t batch,
                                    int repeats, int warmup, c10::Device device, bool sparse_kernels) {
  std::vector<Timed> out(nets.size());
  std::vector<std::unique_ptr<Deployed>> deployed;
  for (auto* n : nets) deployed.push_back(std::make_unique<Deployed>(*n, sparse_kernels, device));
  c10::InferenceMode guard;
  const auto x = random_batch(shape, batch, device);
  for (int i = 0; i < std::max(1, warmup); ++i)
    for (auto& d : deployed) timed_forward(d->net(), x, device);
  for (auto& d : deployed) d->keep_sparse_if_faster(x, device, warmup);
  std::vector<std::vector<double>> times(nets.size());
  for (int i = 0; i < std::max(1, repeats); ++i)
    for (size_t k = 0; k < nets.size(); ++k) times[k].push_back(timed_forward(*nets[k], x, device));
  for (size_t k = 0; k < nets.size(); ++k)
    out[k] = {median(times[k]), deployed[k]->sparse().sparse_layers(batch), deployed[k]->sparse().max_rel_diff()};
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
  Deployed deployed(net, true, device);
  auto& sparse = deployed.sparse();
  c10::InferenceMode guard;
  const auto x = random_batch(shape, batch, device);
  for (int i = 0; i < std::max(1, warmup); ++i) timed_forward(net, x, device);  // the layers decide here
  deployed.keep_sparse_if_faster(x, device, warmup);
  const bool chosen = sparse.enabled();
  std::vector<double> dense_ms, chosen_ms;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    sparse.set_enabled(false);
    dense_ms.push_back(timed_forward(net, x, device));
    sparse.set_enabled(chosen);
    chosen_ms.push_back(timed_forward(net, x, device));
  }
  return {median(dense_ms), median(chosen_ms), 0, sparse.sparse_layers(batch), sparse.max_rel_diff()};
}

double latency_ms(Model& net, const InputShape& shape, int64_t batch, int repeats, int warmup,
                  c10::Device device, bool sparse_kernels) {
  return median_latencies({&net}, shape, batch, repeats, warmup, device, sparse_kernels)[0].ms;
}

}  // namespace prunelab
