#include "train/trainer.hpp"

#include "core/stop_signal.hpp"

#include <ATen/ATen.h>
#include <ATen/record_function.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <optional>
#include <stdexcept>

namespace prunelab {

double learning_rate(const OptimSpec& spec, int64_t t, int64_t total) {
  if (spec.lr_schedule == "constant" || total <= 0) return spec.lr;
  const double frac = double(t) / double(total);
  if (spec.lr_schedule == "step") return spec.lr * (frac < 0.5 ? 1.0 : frac < 0.75 ? 0.1 : 0.01);
  return spec.lr * 0.5 * (1.0 + std::cos(M_PI * frac));  // cosine
}

void add_regularizer_gradients(Model& net, const OptimSpec& spec) {
  if (spec.bn_l1 == 0.0 && spec.group_lasso == 0.0) return;
  at::NoGradGuard no_grad;
  if (spec.bn_l1 != 0.0)
    for (const auto& bn : net.batchnorms()) {
      at::Tensor w = bn.weight;
      auto& g = w.mutable_grad();
      if (!g.defined()) g = at::zeros_like(w);
      g.add_(w.sign(), spec.bn_l1);
    }
  if (spec.group_lasso != 0.0)
    for (const auto& l : net.layers()) {
      at::Tensor w = l.weight;
      auto& g = w.mutable_grad();
      if (!g.defined()) g = at::zeros_like(w);
      const auto rows = w.reshape({w.size(0), -1});
      const auto norms = rows.pow(2).sum(1, /*keepdim=*/true).sqrt().clamp_min(1e-12);
      g.add_((rows / norms).reshape(w.sizes()), spec.group_lasso);
    }
}

at::Tensor distillation_loss(const at::Tensor& student, const at::Tensor& teacher, const at::Tensor& labels,
                             const DistillSpec& spec) {
  auto ce = at::cross_entropy_loss(student, labels);
  if (spec.weight == 0.0) return ce;
  const double t = spec.temperature;
  // KL(p_teacher || p_student) on softened distributions, batch mean; T^2 keeps gradient scale.
  auto kl = at::kl_div(at::log_softmax(student / t, 1), at::log_softmax(teacher / t, 1), at::Reduction::Sum,
                       /*log_target=*/true) / double(student.size(0));
  return ce * (1.0 - spec.weight) + kl * (spec.weight * t * t);
}

struct TrainSession::State {
  torch::optim::SGD opt;
  BatchSampler sampler;
  State(Model& net, const TensorDataset& data, const OptimSpec& spec, uint64_t seed)
      : opt(net.parameters(), torch::optim::SGDOptions(spec.lr).momentum(spec.momentum).weight_decay(spec.weight_decay)),
        sampler(data, spec.batch_size, seed, SamplerOptions::training()) {}
};

TrainSession::TrainSession(Model& net, const TensorDataset& data, const OptimSpec& spec, int64_t total_steps,
                           uint64_t seed, const c10::Device& device)
    : net_(net), spec_(spec), total_(total_steps), device_(device),
      state_(std::make_unique<State>(net, data, spec, seed)) {}

TrainSession::~TrainSession() = default;

void TrainSession::set_teacher(Model* teacher, const DistillSpec& spec) {
  teacher_ = spec.weight > 0.0 ? teacher : nullptr;
  distill_ = spec;
}

TrainResult TrainSession::run(int64_t steps, WeightConstraint* masks, const ProgressFn& progress) {
  TrainResult result;
  steps = std::min(steps, total_ - done_);
  if (steps <= 0) return result;
  net_.train();
  if (teacher_) teacher_->eval();
  auto& opt = state_->opt;
  auto& sampler = state_->sampler;
  const int64_t window = std::max<int64_t>(1, std::min(steps, sampler.batches_per_epoch()));
  double window_loss = 0.0;
  int64_t window_count = 0;
  for (int64_t i = 0; i < steps; ++i) {
    throw_if_stop_requested();  // SIGTERM from Slurm: stop before the next optimizer step
    const int64_t t = done_ + i;
    const double lr = learning_rate(spec_, t, total_);
    for (auto& group : opt.param_groups())
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    // Named scopes cost nothing unless LibTorch's profiler is on (bench/training_profile.cpp).
    at::Tensor x, y, logits, loss;
    {
      RECORD_USER_SCOPE("prunelab.data");
      std::tie(x, y) = sampler.next();
      x = to_model_layout(x.to(device_));
      y = y.to(device_);
    }
    {
      RECORD_USER_SCOPE("prunelab.zero_grad");
      opt.zero_grad();
    }
    {
      RECORD_USER_SCOPE("prunelab.forward");
      logits = net_.forward(x);
    }
    {
      RECORD_USER_SCOPE("prunelab.loss");
      if (teacher_) {
        at::Tensor teacher_logits;
        {
          at::NoGradGuard no_grad;  // the teacher is a constant target
          teacher_logits = teacher_->forward(x);
        }
        loss = distillation_loss(logits, teacher_logits, y, distill_);
      } else {
        loss = at::cross_entropy_loss(logits, y);
      }
    }
    {
      RECORD_USER_SCOPE("prunelab.backward");
      loss.backward();
      add_regularizer_gradients(net_, spec_);
    }
    if (masks) {
      RECORD_USER_SCOPE("prunelab.masks");
      masks->before_step();
    }
    {
      RECORD_USER_SCOPE("prunelab.optimizer");
      opt.step();
    }
    if (masks) {
      RECORD_USER_SCOPE("prunelab.masks");
      masks->after_step();
    }
    const double l = loss.item<double>();
    if (!std::isfinite(l))
      throw std::runtime_error(fmt::format("training loss became {} at step {} (lr {})", l, t, lr));
    if (i >= steps - window) {
      window_loss += l;
      ++window_count;
    }
    if (progress && ((i + 1) % 10 == 0 || i + 1 == steps)) progress({i + 1, steps, l});
  }
  done_ += steps;
  result.steps = steps;
  result.mean_loss = window_loss / double(std::max<int64_t>(1, window_count));
  return result;
}

void recalibrate_batchnorm(Model& net, const TensorDataset& data, int64_t batches, int64_t batch_size,
                           uint64_t seed, const c10::Device& device) {
  if (batches <= 0) return;
  auto bns = net.batchnorms();
  if (bns.empty()) return;
  // Any model's BatchNorm updates running = (1 - m) running + m batch (m = 1 for the first batch
  // of a cumulative average): from zeroed statistics one forward gives m times the batch's own,
  // so the average over the batches is exact whatever momentum the model was built with.
  std::vector<at::Tensor> mean_sum, var_sum;
  for (auto& bn : bns) {
    mean_sum.push_back(at::zeros_like(bn.running_mean, at::kDouble));
    var_sum.push_back(at::zeros_like(bn.running_var, at::kDouble));
  }
  const bool was_training = net.is_training();
  net.train();
  at::NoGradGuard no_grad;
  BatchSampler sampler(data, batch_size, seed);
  for (int64_t i = 0; i < batches; ++i) {
    for (auto& bn : bns) {
      at::Tensor(bn.running_mean).zero_();
      at::Tensor(bn.running_var).zero_();
      if (bn.num_batches_tracked.defined()) at::Tensor(bn.num_batches_tracked).zero_();
    }
    net.forward(to_model_layout(sampler.next().first.to(device)));
    for (size_t k = 0; k < bns.size(); ++k) {
      const double m = std::isnan(bns[k].momentum) ? 1.0 : bns[k].momentum;
      mean_sum[k].add_(bns[k].running_mean.to(at::kDouble), 1.0 / m);
      var_sum[k].add_(bns[k].running_var.to(at::kDouble), 1.0 / m);
    }
  }
  for (size_t k = 0; k < bns.size(); ++k) {
    at::Tensor(bns[k].running_mean).copy_(mean_sum[k] / double(batches));
    at::Tensor(bns[k].running_var).copy_(var_sum[k] / double(batches));
    if (bns[k].num_batches_tracked.defined()) at::Tensor(bns[k].num_batches_tracked).fill_(batches);
  }
  net.train(was_training);
}

TrainResult train_steps(Model& net, const TensorDataset& data, const OptimSpec& spec,
                        int64_t steps, uint64_t seed, WeightConstraint* masks, const ProgressFn& progress,
                        const c10::Device& device) {
  if (steps <= 0) return {};
  TrainSession session(net, data, spec, steps, seed, device);
  return session.run(steps, masks, progress);
}

EvalResult evaluate(Model& net, const TensorDataset& data, int64_t batch_size,
                    const c10::Device& device, int64_t max_samples, bool fold_batchnorm) {
  const bool was_training = net.is_training();
  net.eval();
  std::unique_ptr<BatchNormFold> folding;  // outside inference mode: the originals come back as they were
  if (fold_batchnorm) folding = net.fold_batchnorm();
  c10::InferenceMode guard;
  const int64_t n = max_samples > 0 ? std::min(max_samples, data.size()) : data.size();
  int64_t correct = 0, correct5 = 0;
  double loss_sum = 0.0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t len = std::min(batch_size, n - start);
    auto x = to_model_layout(data.inputs(start, len).to(device));
    auto y = data.labels.narrow(0, start, len).to(device);
    auto logits = net.forward(x);
    loss_sum += at::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    const auto top = std::get<1>(logits.topk(std::min<int64_t>(5, logits.size(1)), 1));
    correct5 += top.eq(y.unsqueeze(1)).any(1).sum().item<int64_t>();
  }
  folding.reset();
  net.train(was_training);
  if (n == 0) return {};
  return {double(correct) / double(n), loss_sum / double(n), double(correct5) / double(n)};
}

}  // namespace prunelab
