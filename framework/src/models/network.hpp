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

/// A layer that reads a channel group's channels: input channel c is its input columns
/// [c * spatial, (c + 1) * spatial) (spatial > 1 for a linear layer after a flatten).
struct ChannelConsumer {
  size_t layer = 0;  // index into prunable_layers()
  int64_t spatial = 1;
};

/// Channels that must be pruned together: the producers' output channel c (and their bias and
/// BatchNorm entries) all feed the same tensor channel, which every consumer reads. A model
/// declares its groups; that is all channel pruning (masked and physical) needs to know of it.
struct ChannelGroup {
  std::string name;
  std::vector<size_t> producers;  // indices into prunable_layers()
  std::vector<ChannelConsumer> consumers;
  bool residual = false;  // the producers meet at an addition (a ResNet stream)
  int64_t channels = 0;   // current channel count (the producers' output size)
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
