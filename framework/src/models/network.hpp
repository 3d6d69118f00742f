#pragma once
/// Base of the built-in models: a torch module that lists its prunable layers in forward order
/// and declares its channel groups (BuiltinModel adapts it to the Model interface).

#include "core/input_shape.hpp"
#include "models/layers.hpp"
#include "models/model.hpp"

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
  /// The channel groups the model declared, in declaration order.
  std::vector<ChannelGroup> channel_groups();
  /// While folded, the forward skips every BatchNorm (BatchNormFolding has moved them into the
  /// convs declared by pair_with_bn). Models without BatchNorm, or with one that does not
  /// directly follow a conv, return false: nothing can be folded.
  virtual bool set_batchnorm_folded(bool folded) { return false; }
  virtual bool batchnorm_folded() const { return false; }

 protected:
  /// Models call this for each conv whose output goes straight into a BatchNorm.
  void pair_with_bn(const std::shared_ptr<PrunableLayerImpl>& layer,
                    const std::shared_ptr<torch::nn::BatchNorm2dImpl>& bn);

  struct GroupDecl {
    std::string name;
    std::vector<std::shared_ptr<PrunableLayerImpl>> producers;
    std::vector<std::pair<std::shared_ptr<PrunableLayerImpl>, int64_t>> consumers;  // (layer, spatial)
    bool residual = false;
  };
  /// Models call this once per channel group (after registering the layers it names).
  void declare_channel_group(GroupDecl decl) { groups_.push_back(std::move(decl)); }

 private:
  std::map<const PrunableLayerImpl*, std::shared_ptr<torch::nn::BatchNorm2dImpl>> bn_of_;
  std::vector<GroupDecl> groups_;
};

/// Names accepted by make_network().
const std::vector<std::string>& network_names();

/// Builds a freshly initialised model (uses the global torch seed).
std::shared_ptr<Network> make_network(const std::string& name, const InputShape& shape);


}  // namespace prunelab
