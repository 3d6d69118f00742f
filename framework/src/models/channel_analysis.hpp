#pragma once
/// Channel dependency groups found from a TorchScript module's computation graph.
///
/// The forward graph is inlined and walked once in order. Every tensor that carries the input
/// image's descendants keeps a list of segments: which channels of which group its dimension 1
/// holds. A conv or linear layer starts a group (its output channels) and consumes the segments of
/// its input; BatchNorm, activations, dropout and pooling pass segments through; additions and
/// broadcast multiplications couple the groups they combine (residual streams, squeeze-and-
/// excitation gates); concatenation and split along channels join and cut segment lists; flatten
/// turns a channel into a block of a linear layer's inputs; a depthwise conv follows its input's
/// group. Anything else that touches the channels (a view, a transpose, the network's output, a
/// grouped conv) refuses every group it reaches, with one line naming the layers and the operation.
/// Only channel-separable operations are let through, so the masked and the physically pruned
/// model compute the same outputs (which every run checks anyway).

#include "models/model.hpp"

#include <torch/csrc/jit/api/module.h>

#include <string>
#include <vector>

namespace prunelab {

struct ChannelAnalysis {
  std::vector<ChannelGroup> groups;   // prunable groups, indices into `layers`
  std::vector<std::string> refused;   // one line per refused group: its layers and the reason
  std::vector<size_t> depthwise;      // layers that are depthwise convs inside some group
};

/// `layers` and `batchnorms` are the model's, named by module path.
ChannelAnalysis analyse_channels(const torch::jit::Module& module, const std::vector<ModelLayer>& layers,
                                 const std::vector<BatchNormRef>& batchnorms);

}  // namespace prunelab
