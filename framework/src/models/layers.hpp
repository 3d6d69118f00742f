#pragma once
/// Conv and linear layers the framework can prune: plain weights plus a hook and cost probes.

#include "kernels/measured_choice.hpp"

#include <prunelab/layer.hpp>

#include <torch/nn/module.h>

#include <functional>
#include <memory>
#include <vector>

namespace prunelab {

/// Base of every prunable layer. Owning the weight directly (rather than wrapping
/// torch::nn::Conv2d) lets the framework observe inputs and later slice shapes in place.
class PrunableLayerImpl : public torch::nn::Module {
 public:
  using Hook = std::function<void(const at::Tensor& input, const at::Tensor& output)>;

  /// The layer's output: by `kernel` when one is set (sparse execution), else dense_forward;
  /// then `epilogue` (what the network does next: residual add, ReLU). Without autograd and
  /// without a hook, nobody sees the layer's own output, so the epilogue runs in place (fused
  /// into a sparse kernel's output copy); otherwise the hook sees the output and the epilogue
  /// makes new tensors.
  at::Tensor forward(const at::Tensor& x, const kernels::Epilogue& epilogue = {});
  virtual at::Tensor dense_forward(const at::Tensor& x) = 0;
  virtual LayerKind kind() const = 0;
  /// MACs each weight costs per sample (output positions of a conv, 1 for a linear layer).
  virtual int64_t macs_per_weight() const = 0;

  at::Tensor weight;
  at::Tensor bias;        // undefined when the layer has none
  Hook hook;              // called after every forward when set (calibration, probes)
  std::shared_ptr<kernels::MeasuredChoice> kernel;  // set while sparse kernels are in use
  std::vector<int64_t> out_hw;  // spatial size of the last output (conv)
  std::vector<int64_t> in_hw;   // spatial size of the last input (conv)

 protected:
  at::Tensor finish(const at::Tensor& input, at::Tensor output);
};

struct ConvSpec {
  int64_t in, out, kernel, stride = 1, padding = 0;
  bool bias = false;
};

class Conv2dLayerImpl : public PrunableLayerImpl {
 public:
  explicit Conv2dLayerImpl(const ConvSpec& spec);
  at::Tensor dense_forward(const at::Tensor& x) override;
  LayerKind kind() const override { return LayerKind::Conv2d; }
  int64_t macs_per_weight() const override;
  const ConvSpec& spec() const { return spec_; }

 private:
  ConvSpec spec_;
};

class LinearLayerImpl : public PrunableLayerImpl {
 public:
  LinearLayerImpl(int64_t in, int64_t out);
  at::Tensor dense_forward(const at::Tensor& x) override;
  LayerKind kind() const override { return LayerKind::Linear; }
  int64_t macs_per_weight() const override { return 1; }
};

}  // namespace prunelab
