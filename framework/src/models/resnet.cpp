#include "models/resnet.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <stdexcept>

namespace prunelab {

namespace {
std::shared_ptr<torch::nn::BatchNorm2dImpl> make_bn(int64_t channels) {
  return std::make_shared<torch::nn::BatchNorm2dImpl>(channels);
}
}  // namespace


BasicBlock::BasicBlock(int64_t in, int64_t out, int64_t stride) {
  conv1 = register_module("conv1", std::make_shared<Conv2dLayerImpl>(ConvSpec{in, out, 3, stride, 1}));
  bn1 = register_module("bn1", make_bn(out));
  conv2 = register_module("conv2", std::make_shared<Conv2dLayerImpl>(ConvSpec{out, out, 3, 1, 1}));
  bn2 = register_module("bn2", make_bn(out));
  if (stride != 1 || in != out) {
    shortcut = register_module("shortcut", std::make_shared<Conv2dLayerImpl>(ConvSpec{in, out, 1, stride, 0}));
    shortcut_bn = register_module("shortcut_bn", make_bn(out));
  }
}

at::Tensor BasicBlock::forward(const at::Tensor& x) {
  if (bn_folded) {
    // Nothing between a conv and what follows it: the ReLU and the residual add go to the conv
    // as its epilogue (fused into a sparse kernel's output, in place otherwise).
    auto h = conv1->forward(x, kernels::Epilogue::relu_only());
    auto identity = shortcut ? shortcut->forward(x) : x;
    return conv2->forward(h, {identity, /*relu=*/true});
  }
  auto h = at::relu(bn1->forward(conv1->forward(x)));
  h = bn2->forward(conv2->forward(h));
  auto identity = shortcut ? shortcut_bn->forward(shortcut->forward(x)) : x;
  return at::relu(h + identity);
}

CifarResNet::CifarResNet(int depth, const InputShape& s) {
  if ((depth - 2) % 6 != 0) throw std::invalid_argument(fmt::format("ResNet depth {} is not 6n+2", depth));
  const int blocks_per_stage = (depth - 2) / 6;
  conv_ = register_module("conv", std::make_shared<Conv2dLayerImpl>(ConvSpec{s.channels, 16, 3, 1, 1}));
  bn_ = register_module("bn", make_bn(16));
  pair_with_bn(conv_, bn_);
  // The residual stream of a stage: every tensor added into it shares its channels, so the stem
  // (or the previous stage) and each block's conv2 and projection shortcut form one group, read
  // by every block's conv1 and shortcut and finally by the classifier.
  GroupDecl stream{"stem.stream", {conv_}, {}, /*residual=*/true};
  int64_t in = 16;
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t out = 16 << stage;
    for (int b = 0; b < blocks_per_stage; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      const std::string name = fmt::format("stage{}_block{}", stage + 1, b);
      auto block = std::make_shared<BasicBlock>(in, out, stride);
      register_module(name, block);
      pair_with_bn(block->conv1, block->bn1);
      pair_with_bn(block->conv2, block->bn2);
      if (block->shortcut) pair_with_bn(block->shortcut, block->shortcut_bn);
      stream.consumers.push_back({block->conv1, 1});
      if (block->shortcut) {
        // A projection starts a new stream: the old one ends at this block's inputs.
        stream.consumers.push_back({block->shortcut, 1});
        declare_channel_group(std::move(stream));
        stream = GroupDecl{fmt::format("stage{}.stream", stage + 1), {block->shortcut}, {}, true};
      } else if (b == 0 && stage == 0) {
        stream.name = "stage1.stream";  // the stem's output flows straight into stage 1
      }
      stream.producers.push_back(block->conv2);
      // Inside a block, conv1's channels reach only conv2: prunable without touching the stream.
      declare_channel_group({name + ".conv1", {block->conv1}, {{block->conv2, 1}}, false});
      blocks_.push_back(block);
      in = out;
    }
  }
  fc_ = register_module("fc", std::make_shared<LinearLayerImpl>(64, s.classes));
  stream.consumers.push_back({fc_, 1});
  declare_channel_group(std::move(stream));
}

bool CifarResNet::set_batchnorm_folded(bool folded) {
  bn_folded_ = folded;
  for (auto& block : blocks_) block->bn_folded = folded;
  return true;  // every BatchNorm directly follows the conv it is paired with
}

at::Tensor CifarResNet::forward(const at::Tensor& x) {
  auto h = bn_folded_ ? conv_->forward(x, kernels::Epilogue::relu_only()) : at::relu(bn_->forward(conv_->forward(x)));
  for (auto& block : blocks_) h = block->forward(h);
  return fc_->forward(h.mean({2, 3}));
}

}  // namespace prunelab
