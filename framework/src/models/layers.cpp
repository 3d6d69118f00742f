#include "models/layers.hpp"

#include <c10/core/GradMode.h>

#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/init.h>

#include <cmath>

namespace prunelab {

at::Tensor PrunableLayerImpl::finish(const at::Tensor& input, at::Tensor output) {
  if (output.dim() == 4) out_hw = {output.size(2), output.size(3)};
  if (input.dim() == 4) in_hw = {input.size(2), input.size(3)};
  if (hook) hook(input, output);
  return output;
}

Conv2dLayerImpl::Conv2dLayerImpl(const ConvSpec& spec) : spec_(spec) {
  weight = register_parameter("weight", torch::empty({spec.out, spec.in, spec.kernel, spec.kernel}));
  // He initialisation (fan-out, ReLU), as torchvision's ResNets.
  torch::nn::init::kaiming_normal_(weight, 0.0, torch::kFanOut, torch::kReLU);
  if (spec.bias) bias = register_parameter("bias", torch::zeros({spec.out}));
}

at::Tensor PrunableLayerImpl::forward(const at::Tensor& x, const kernels::Epilogue& epilogue) {
  if (epilogue.empty() || hook || at::GradMode::is_enabled())
    return kernels::applied(finish(x, kernel ? kernel->forward(x) : dense_forward(x)), epilogue);
  if (kernel) return finish(x, kernel->forward(x, epilogue));
  auto y = dense_forward(x);
  kernels::apply_in_place(y, epilogue);
  return finish(x, std::move(y));
}

at::Tensor Conv2dLayerImpl::dense_forward(const at::Tensor& x) {
  return at::conv2d(x, weight, bias, {spec_.stride, spec_.stride}, {spec_.padding, spec_.padding});
}

int64_t Conv2dLayerImpl::macs_per_weight() const {
  return out_hw.size() == 2 ? out_hw[0] * out_hw[1] : 0;
}

LinearLayerImpl::LinearLayerImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", torch::empty({out, in}));
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  bias = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
}

at::Tensor LinearLayerImpl::dense_forward(const at::Tensor& x) { return at::linear(x, weight, bias); }

}  // namespace prunelab
