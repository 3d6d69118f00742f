#include "models/network.hpp"

#include "models/lenet.hpp"
#include "models/resnet.hpp"

#include <fmt/format.h>
#include <torch/nn/utils.h>
#include <torch/utils.h>
#include <ATen/ATen.h>

#include <stdexcept>

namespace prunelab {

std::vector<PrunableEntry> Network::prunable_layers() {
  std::vector<PrunableEntry> out;
  for (const auto& item : named_modules("", /*include_self=*/false)) {
    auto layer = std::dynamic_pointer_cast<PrunableLayerImpl>(item.value());
    if (!layer) continue;
    auto it = bn_of_.find(layer.get());
    out.push_back({item.key(), layer, it == bn_of_.end() ? nullptr : it->second});
  }
  return out;
}

std::vector<ChannelGroup> Network::channel_groups() {
  const auto layers = prunable_layers();
  auto index_of = [&](const std::shared_ptr<PrunableLayerImpl>& l, const std::string& group) {
    for (size_t i = 0; i < layers.size(); ++i)
      if (layers[i].layer == l) return i;
    throw std::logic_error(fmt::format("channel group '{}' names a layer the model did not register", group));
  };
  std::vector<ChannelGroup> out;
  for (const auto& d : groups_) {
    ChannelGroup g;
    g.name = d.name;
    g.residual = d.residual;
    for (const auto& p : d.producers) g.producers.push_back(index_of(p, d.name));
    for (const auto& [c, spatial] : d.consumers) g.consumers.push_back({index_of(c, d.name), spatial});
    g.channels = layers[g.producers.at(0)].layer->weight.size(0);
    for (size_t p : g.producers)
      if (layers[p].layer->weight.size(0) != g.channels)
        throw std::logic_error(fmt::format("channel group '{}': producers disagree on the channel count", d.name));
    out.push_back(std::move(g));
  }
  return out;
}

void Network::pair_with_bn(const std::shared_ptr<PrunableLayerImpl>& layer,
                           const std::shared_ptr<torch::nn::BatchNorm2dImpl>& bn) {
  bn_of_[layer.get()] = bn;
}

const std::vector<std::string>& network_names() {
  static const std::vector<std::string> names = {"lenet300", "lenet5", "resnet20", "resnet32",
                                                 "resnet56"};
  return names;
}

namespace {
std::shared_ptr<Network> build(const std::string& name, const InputShape& shape) {
  if (name == "lenet300") return std::make_shared<LeNet300>(shape);
  if (name == "lenet5") return std::make_shared<LeNet5>(shape);
  if (name == "resnet20") return std::make_shared<CifarResNet>(20, shape);
  if (name == "resnet32") return std::make_shared<CifarResNet>(32, shape);
  if (name == "resnet56") return std::make_shared<CifarResNet>(56, shape);
  throw std::invalid_argument(fmt::format("unknown model '{}'", name));
}
}  // namespace

std::shared_ptr<Network> make_network(const std::string& name, const InputShape& shape) {
  auto net = build(name, shape);
  // Channels-last conv weights take oneDNN's faster path on CPU (measured: ~1.5x at inference
  // and ~1.08x in training for ResNet-20 on 28x28 inputs). Values and shapes are unchanged.
  at::NoGradGuard no_grad;
  for (auto& p : net->parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  return net;
}

}  // namespace prunelab
