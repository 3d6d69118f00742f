#include "train/trainer.hpp"

#include "prune/masks.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <stdexcept>

namespace prunelab {

double learning_rate(const OptimSpec& spec, int64_t t, int64_t total) {
  if (spec.lr_schedule == "constant" || total <= 0) return spec.lr;
  const double frac = double(t) / double(total);
  if (spec.lr_schedule == "step") return spec.lr * (frac < 0.5 ? 1.0 : frac < 0.75 ? 0.1 : 0.01);
  return spec.lr * 0.5 * (1.0 + std::cos(M_PI * frac));  // cosine
}

void add_regularizer_gradients(Network& net, const OptimSpec& spec) {
  if (spec.bn_l1 == 0.0 && spec.group_lasso == 0.0) return;
  at::NoGradGuard no_grad;
  if (spec.bn_l1 != 0.0)
    for (const auto& m : net.modules(/*include_self=*/false))
      if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) {
        auto& g = bn->weight.mutable_grad();
        if (!g.defined()) g = at::zeros_like(bn->weight);
        g.add_(bn->weight.sign(), spec.bn_l1);
      }
  if (spec.group_lasso != 0.0)
    for (const auto& e : net.prunable_layers()) {
      auto& w = e.layer->weight;
      auto& g = w.mutable_grad();
      if (!g.defined()) g = at::zeros_like(w);
      const auto rows = w.reshape({w.size(0), -1});
      const auto norms = rows.pow(2).sum(1, /*keepdim=*/true).sqrt().clamp_min(1e-12);
      g.add_((rows / norms).reshape(w.sizes()), spec.group_lasso);
    }
}

TrainResult train_steps(Network& net, const TensorDataset& data, const OptimSpec& spec,
                        int64_t steps, uint64_t seed, MaskSet* masks, const ProgressFn& progress,
                        const c10::Device& device) {
  TrainResult result;
  if (steps <= 0) return result;
  net.train();
  torch::optim::SGD opt(net.parameters(), torch::optim::SGDOptions(spec.lr)
                                              .momentum(spec.momentum)
                                              .weight_decay(spec.weight_decay));
  BatchSampler sampler(data, spec.batch_size, seed);
  const int64_t window = std::max<int64_t>(1, std::min(steps, sampler.batches_per_epoch()));
  double window_loss = 0.0;
  int64_t window_count = 0;
  for (int64_t t = 0; t < steps; ++t) {
    const double lr = learning_rate(spec, t, steps);
    for (auto& group : opt.param_groups())
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    auto [x, y] = sampler.next();
    x = to_model_layout(x.to(device));
    y = y.to(device);
    opt.zero_grad();
    auto loss = at::cross_entropy_loss(net.forward(x), y);
    loss.backward();
    add_regularizer_gradients(net, spec);
    if (masks) masks->mask_gradients();
    opt.step();
    if (masks) masks->apply();
    const double l = loss.item<double>();
    if (!std::isfinite(l))
      throw std::runtime_error(fmt::format("training loss became {} at step {} (lr {})", l, t, lr));
    if (t >= steps - window) {
      window_loss += l;
      ++window_count;
    }
    if (progress && ((t + 1) % 10 == 0 || t + 1 == steps)) progress({t + 1, steps, l});
  }
  result.steps = steps;
  result.mean_loss = window_loss / double(std::max<int64_t>(1, window_count));
  return result;
}

EvalResult evaluate(Network& net, const TensorDataset& data, int64_t batch_size,
                    const c10::Device& device, int64_t max_samples) {
  const bool was_training = net.is_training();
  net.eval();
  c10::InferenceMode guard;
  const int64_t n = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  int64_t correct = 0;
  double loss_sum = 0.0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    auto x = to_model_layout(data.images.narrow(0, start, len).to(device));
    auto y = data.labels.narrow(0, start, len).to(device);
    auto logits = net.forward(x);
    loss_sum += at::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  net.train(was_training);
  return {n ? double(correct) / double(n) : 0.0, n ? loss_sum / double(n) : 0.0};
}

}  // namespace prunelab
