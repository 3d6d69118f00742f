#pragma once
/// LeNet-300-100 (an MLP) and LeNet-5 (two convs, three linear layers), as in Han et al. 2015.

#include "models/network.hpp"

namespace prunelab {

class LeNet300 : public Network {
 public:
  explicit LeNet300(const InputShape& shape);
  at::Tensor forward(const at::Tensor& x) override;

 private:
  std::shared_ptr<LinearLayerImpl> fc1_, fc2_, fc3_;
};

class LeNet5 : public Network {
 public:
  explicit LeNet5(const InputShape& shape);
  at::Tensor forward(const at::Tensor& x) override;

 private:
  at::Tensor features(const at::Tensor& x);
  std::shared_ptr<Conv2dLayerImpl> conv1_, conv2_;
  std::shared_ptr<LinearLayerImpl> fc1_, fc2_, fc3_;
};

}  // namespace prunelab
