#include "models/lenet.hpp"

#include <ATen/ATen.h>

namespace prunelab {

LeNet300::LeNet300(const InputShape& s) {
  fc1_ = register_module("fc1", std::make_shared<LinearLayerImpl>(s.channels * s.height * s.width, 300));
  fc2_ = register_module("fc2", std::make_shared<LinearLayerImpl>(300, 100));
  fc3_ = register_module("fc3", std::make_shared<LinearLayerImpl>(100, s.classes));
  declare_channel_group({"fc1", {fc1_}, {{fc2_, 1}}});
  declare_channel_group({"fc2", {fc2_}, {{fc3_, 1}}});
}

at::Tensor LeNet300::forward(const at::Tensor& x) {
  auto h = fc1_->forward(x.flatten(1), kernels::Epilogue::relu_only());
  h = fc2_->forward(h, kernels::Epilogue::relu_only());
  return fc3_->forward(h);
}

LeNet5::LeNet5(const InputShape& s) {
  conv1_ = register_module("conv1", std::make_shared<Conv2dLayerImpl>(ConvSpec{s.channels, 6, 5, 1, 2, true}));
  conv2_ = register_module("conv2", std::make_shared<Conv2dLayerImpl>(ConvSpec{6, 16, 5, 1, 0, true}));
  // The classifier's width follows from the input size: probe it once.
  at::NoGradGuard no_grad;
  const int64_t flat = features(at::zeros({1, s.channels, s.height, s.width})).size(1);
  fc1_ = register_module("fc1", std::make_shared<LinearLayerImpl>(flat, 120));
  fc2_ = register_module("fc2", std::make_shared<LinearLayerImpl>(120, 84));
  fc3_ = register_module("fc3", std::make_shared<LinearLayerImpl>(84, s.classes));
  // fc1 reads conv2's output flattened (channel-major): each channel is h*w input columns.
  declare_channel_group({"conv1", {conv1_}, {{conv2_, 1}}});
  declare_channel_group({"conv2", {conv2_}, {{fc1_, flat / 16}}});
  declare_channel_group({"fc1", {fc1_}, {{fc2_, 1}}});
  declare_channel_group({"fc2", {fc2_}, {{fc3_, 1}}});
}

at::Tensor LeNet5::features(const at::Tensor& x) {
  auto h = at::max_pool2d(conv1_->forward(x, kernels::Epilogue::relu_only()), {2, 2});
  h = at::max_pool2d(conv2_->forward(h, kernels::Epilogue::relu_only()), {2, 2});
  return h.flatten(1);
}

at::Tensor LeNet5::forward(const at::Tensor& x) {
  auto h = fc1_->forward(features(x), kernels::Epilogue::relu_only());
  h = fc2_->forward(h, kernels::Epilogue::relu_only());
  return fc3_->forward(h);
}

}  // namespace prunelab
