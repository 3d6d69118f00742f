#pragma once
/// Base of every model: a torch module that lists its prunable layers in forward order.

#include "models/layers.hpp"

#include <prunelab/layer.hpp>

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/module.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace prunelab {

/// A prunable layer as the framework tracks it: its qualified name, the module, and the
/// BatchNorm that normalises its output (network slimming scores that BN's gamma).
struct PrunableEntry {
  std::string name;
  std::shared_ptr<PrunableLayerImpl> layer;
  std::shared_ptr<torch::nn::BatchNorm2dImpl> bn;  // may be null
};

class Network : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;

  /// Prunable layers in forward order, named by their path in the module tree.
  std::vector<PrunableEntry> prunable_layers();

 protected:
  /// Models call this for each conv whose output goes straight into a BatchNorm.
  void pair_with_bn(const std::shared_ptr<PrunableLayerImpl>& layer,
                    const std::shared_ptr<torch::nn::BatchNorm2dImpl>& bn);

 private:
  std::map<const PrunableLayerImpl*, std::shared_ptr<torch::nn::BatchNorm2dImpl>> bn_of_;
};

/// Shape of the data a model is built for.
struct InputShape {
  int64_t channels = 1, height = 28, width = 28, classes = 10;
};

/// Names accepted by make_network().
const std::vector<std::string>& network_names();

/// Builds a freshly initialised model (uses the global torch seed).
std::shared_ptr<Network> make_network(const std::string& name, const InputShape& shape);

/// Puts an input batch in the memory layout the models run fastest with (channels-last).
at::Tensor to_model_layout(const at::Tensor& x);

/// Copies every parameter and buffer of `from` into `to` (same architecture).
void copy_state(Network& from, Network& to);

}  // namespace prunelab
