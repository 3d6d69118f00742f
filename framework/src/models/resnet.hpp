#pragma once
/// CIFAR-style ResNet-(6n+2) of He et al. 2016: three stages of basic blocks with 16/32/64
/// channels, BatchNorm, and a 1x1 projection shortcut where the shape changes.

#include "models/network.hpp"

#include <torch/nn/modules/container/modulelist.h>

namespace prunelab {

class BasicBlock : public torch::nn::Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride);
  at::Tensor forward(const at::Tensor& x);

  std::shared_ptr<Conv2dLayerImpl> conv1, conv2, shortcut;  // shortcut null for identity
  std::shared_ptr<torch::nn::BatchNorm2dImpl> bn1, bn2, shortcut_bn;
  bool bn_folded = false;  // see Network::set_batchnorm_folded
};

class CifarResNet : public Network {
 public:
  CifarResNet(int depth, const InputShape& shape);
  at::Tensor forward(const at::Tensor& x) override;
  bool set_batchnorm_folded(bool folded) override;
  bool batchnorm_folded() const override { return bn_folded_; }

 private:
  bool bn_folded_ = false;
  std::shared_ptr<Conv2dLayerImpl> conv_;
  std::shared_ptr<torch::nn::BatchNorm2dImpl> bn_;
  std::vector<std::shared_ptr<BasicBlock>> blocks_;
  std::shared_ptr<LinearLayerImpl> fc_;
};

}  // namespace prunelab
