#include "prune/evaluator.hpp"

#include "prune/pruner.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <stdexcept>

namespace prunelab {

StepEvaluator::StepEvaluator(Model& net, MaskSet& masks, const UnitLayout& layout,
                             const TensorDataset& val, int64_t batch_size, c10::Device device)
    : net_(net), masks_(masks), layout_(layout), val_(val), batch_size_(batch_size), device_(device) {}

LayerMasks StepEvaluator::hypothetical_masks(const std::vector<double>& ratios) {
  if (!scores_) throw std::logic_error("StepEvaluator used outside a pruning step");
  return layout_.expand(select_slices(*scores_, ratios, layout_.units(), masks_.views(), layout_.granularity()));
}

double StepEvaluator::accuracy_with_ratios(const std::vector<double>& ratios, int64_t max_samples) {
  const auto hypothetical = hypothetical_masks(ratios);
  // Everything a mask may zero: weights, and for channels the biases and BatchNorm entries.
  std::vector<std::pair<at::Tensor, at::Tensor>> touched;  // (parameter, mask)
  const auto& layers = masks_.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    touched.emplace_back(layers[i].weight, hypothetical.weight[i]);
    const auto& cm = hypothetical.channel[i];
    if (layers[i].bias.defined()) touched.emplace_back(layers[i].bias, cm);
    if (layers[i].bn.defined()) {
      touched.emplace_back(layers[i].bn.weight, cm);
      touched.emplace_back(layers[i].bn.bias, cm);
    }
  }
  std::vector<at::Tensor> saved;
  // Restore the parameters however evaluation ends.
  struct Restore {
    std::vector<std::pair<at::Tensor, at::Tensor>>& touched;
    std::vector<at::Tensor>& saved;
    ~Restore() {
      at::NoGradGuard no_grad;
      for (size_t i = 0; i < saved.size(); ++i) touched[i].first.copy_(saved[i]);
    }
  } restore{touched, saved};
  {
    at::NoGradGuard no_grad;
    for (auto& [param, mask] : touched) {
      saved.push_back(param.clone());
      param.mul_(mask);
    }
  }
  return evaluate(net_, val_, batch_size_, device_, max_samples).top1;
}

double StepEvaluator::latency_ms_with_ratios(const std::vector<double>& ratios) {
  if (!latency_) throw std::logic_error("StepEvaluator: no latency table set");
  const auto hypothetical = hypothetical_masks(ratios);
  const double ms = latency_->model_ms(masks_, hypothetical.weight, hypothetical.channel);
  latency_->flush();
  return ms;
}

double StepEvaluator::accuracy_after_finetune(const std::vector<double>& ratios, int64_t steps, int64_t max_samples) {
  if (!finetune_) throw std::logic_error("StepEvaluator: no fine-tuner set");
  const auto hypothetical = hypothetical_masks(ratios);
  // Everything training can change: parameters, BatchNorm statistics, and the masks.
  std::vector<at::Tensor> state, saved;
  for (const auto& p : net_.parameters()) state.push_back(p);
  for (const auto& b : net_.buffers()) state.push_back(b);
  for (auto& m : masks_.masks()) state.push_back(m);
  for (auto& m : masks_.channel_masks()) state.push_back(m);
  {
    at::NoGradGuard no_grad;
    for (const auto& t : state) saved.push_back(t.detach().clone());
  }
  struct Restore {
    std::vector<at::Tensor>& state;
    std::vector<at::Tensor>& saved;
    Model& net;
    bool training;
    ~Restore() {
      at::NoGradGuard no_grad;
      for (size_t i = 0; i < saved.size(); ++i) state[i].detach().copy_(saved[i]);
      for (auto& p : net.parameters()) p.mutable_grad() = at::Tensor();
      net.train(training);
    }
  } restore{state, saved, net_, net_.is_training()};
  write_masks(masks_, hypothetical);
  finetune_(steps);
  return evaluate(net_, val_, batch_size_, device_, max_samples).top1;
}

double StepEvaluator::accuracy(int64_t max_samples) {
  return evaluate(net_, val_, batch_size_, device_, max_samples).top1;
}

int64_t StepEvaluator::macs_with_ratios(const std::vector<double>& ratios) {
  const auto hypothetical = hypothetical_masks(ratios);
  auto& layers = masks_.layers();
  int64_t macs = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& w = layers[i].weight;
    macs += (w.ne(0).to(at::kFloat) * hypothetical.weight[i]).sum().item<int64_t>() * layers[i].macs_per_weight;
  }
  return macs;
}

DataCalibration::DataCalibration(Model& net, MaskSet& masks, const TensorDataset& train,
                                 int64_t batch_size, uint64_t seed, c10::Device device)
    : net_(net), masks_(masks), train_(train), batch_size_(batch_size), seed_(seed), device_(device) {}

std::vector<Batch> DataCalibration::batches(int64_t count) {
  if (auto it = batches_.find(count); it != batches_.end()) return it->second;
  // A sampler of its own, so calibration never shifts the training order.
  BatchSampler sampler(train_, batch_size_, seed_ ^ 0x9e3779b97f4a7c15ULL);
  std::vector<Batch> out;
  for (int64_t i = 0; i < count; ++i) {
    auto [x, y] = sampler.next();
    out.push_back({to_model_layout(x.to(device_)), y.to(device_)});
  }
  batches_.emplace(count, out);
  return out;
}

std::vector<std::pair<at::Tensor, at::Tensor>> DataCalibration::gradients(int64_t count) {
  auto& layers = masks_.layers();
  std::vector<std::pair<at::Tensor, at::Tensor>> out;
  for (auto& l : layers) out.emplace_back(at::zeros_like(l.weight), at::zeros_like(l.weight));
  const bool was_training = net_.is_training();
  net_.eval();
  at::AutoGradMode grad_on(true);
  for (auto& b : batches(count)) {
    for (auto& p : net_.parameters()) p.mutable_grad() = at::Tensor();
    at::cross_entropy_loss(net_.forward(b.inputs), b.labels).backward();
    for (size_t i = 0; i < layers.size(); ++i) {
      const auto& g = layers[i].weight.grad();
      out[i].first.add_(g);
      out[i].second.add_(g * g);
    }
  }
  for (auto& p : net_.parameters()) p.mutable_grad() = at::Tensor();
  net_.train(was_training);
  return out;
}

at::Tensor DataCalibration::layer_inputs(const std::string& name, int64_t count) {
  const auto& layers = masks_.layers();
  size_t index = layers.size();
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].name == name) index = i;
  if (index == layers.size()) throw std::invalid_argument(fmt::format("no prunable layer named '{}'", name));
  std::vector<at::Tensor> inputs;
  // The observer captures a local: it must be gone (and the mode restored) however this ends.
  struct Cleanup {
    Model& net;
    bool was_training;
    ~Cleanup() {
      net.set_observer({});
      net.train(was_training);
    }
  } cleanup{net_, net_.is_training()};
  net_.set_observer([&](size_t i, const at::Tensor& in, const at::Tensor&) {
    if (i == index) inputs.push_back(in.detach().clone());
  });
  net_.eval();
  c10::InferenceMode guard;
  for (auto& b : batches(count)) net_.forward(b.inputs);
  if (inputs.empty())
    throw std::runtime_error(fmt::format("layer '{}' received no input in a forward pass (its weight is used "
                                         "outside its own forward, e.g. by attention): keep it dense",
                                         name));
  return at::cat(inputs, 0);
}

}  // namespace prunelab
