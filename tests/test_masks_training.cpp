#include "data/dataset.hpp"
#include "models/network.hpp"
#include "prune/pruner.hpp"
#include "prune/stats.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

using namespace prunelab;

namespace {
DataSplits synthetic() {
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.val_size = 100;
  spec.synthetic_train = 400;
  spec.synthetic_test = 100;
  return load_data(spec);
}

OptimSpec sgd() {
  OptimSpec o;
  o.lr = 0.05;
  o.batch_size = 32;
  return o;
}

void prune_half(Model& net, MaskSet& masks) {
  auto crit = test::builtin_registry().make_criterion("magnitude", {});
  auto pol = test::builtin_registry().make_ratio_policy("global", {});
  prune_step(masks, UnitLayout(masks, Granularity{}), *crit, *pol, 0.5, nullptr, nullptr, 0);
}
}  // namespace

TEST(BatchNormRecalibration, RunningStatisticsBecomeThoseOfTheBatchesAndNothingElseChanges) {
  auto data = synthetic();
  torch::manual_seed(4);
  auto net = test::make_builtin("resnet20", data.shape);
  net->eval();
  std::vector<at::Tensor> params;
  for (const auto& p : net->parameters()) params.push_back(p.detach().clone());
  const int64_t batch = 32;
  recalibrate_batchnorm(*net, data.train, 1, batch, 77, at::kCPU);
  EXPECT_FALSE(net->is_training());  // mode restored
  // The stem's BatchNorm now holds the mean and unbiased variance of the stem conv's output on
  // exactly the batch the sampler draws for that seed.
  BatchSampler sampler(data.train, batch, 77);
  at::NoGradGuard g;
  const auto stem = net->network().prunable_layers()[0];
  const auto y = stem.layer->forward(to_model_layout(sampler.next().first));
  EXPECT_TRUE(at::allclose(stem.bn->running_mean, y.mean({0, 2, 3}), 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(stem.bn->running_var, y.var({0, 2, 3}, /*unbiased=*/true), 1e-4, 1e-5));
  EXPECT_TRUE(stem.bn->options.momentum().has_value());  // momentum untouched
  size_t k = 0;
  for (const auto& p : net->parameters()) EXPECT_TRUE(at::equal(p, params[k++]));
}

TEST(Masks, PrunedWeightsStayExactlyZeroThroughFineTuning) {
  auto data = synthetic();
  torch::manual_seed(3);
  auto net = test::make_builtin("lenet5", data.shape);
  MaskSet masks(*net);
  prune_half(*net, masks);
  std::vector<at::Tensor> before;
  for (auto& m : masks.masks()) before.push_back(m.clone());
  train_steps(*net, data.train, sgd(), 30, 1, &masks, {}, at::kCPU);
  for (size_t i = 0; i < masks.size(); ++i) {
    auto& w = masks.layers()[i].weight;
    EXPECT_TRUE(at::equal(masks.masks()[i], before[i]));
    EXPECT_EQ(w.detach().mul(1 - masks.masks()[i]).abs().max().item<float>(), 0.0f) << masks.layers()[i].name;
  }
  EXPECT_NEAR(measure(*net, data.val.inputs(0, 1)).sparsity(), 0.5, 0.001);
}

TEST(Masks, WithoutMasksTheSameTrainingRevivesPrunedWeights) {
  // The control for the test above: it could fail.
  auto data = synthetic();
  torch::manual_seed(3);
  auto net = test::make_builtin("lenet5", data.shape);
  MaskSet masks(*net);
  prune_half(*net, masks);
  train_steps(*net, data.train, sgd(), 30, 1, nullptr, {}, at::kCPU);
  EXPECT_LT(measure(*net, data.val.inputs(0, 1)).sparsity(), 0.4);
}

TEST(Training, LearnsAndIsDeterministicForASeed) {
  auto data = synthetic();
  auto run = [&] {
    torch::manual_seed(11);
    auto net = test::make_builtin("lenet300", data.shape);
    train_steps(*net, data.train, sgd(), 60, 5, nullptr, {}, at::kCPU);
    return net;
  };
  auto a = run(), b = run();
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i]));
  const double acc = evaluate(*a, data.test, 100, at::kCPU).top1;
  EXPECT_GT(acc, 0.6);  // 4 classes: chance is 0.25
}

TEST(Training, NonFiniteLossThrows) {
  auto data = synthetic();
  auto net = test::make_builtin("lenet300", data.shape);
  auto o = sgd();
  o.lr = 1e12;
  o.lr_schedule = "constant";
  EXPECT_THROW(train_steps(*net, data.train, o, 50, 1, nullptr, {}, at::kCPU), std::runtime_error);
}

TEST(Stats, MacsOfKnownLayersMatchHandCounts) {
  torch::manual_seed(0);
  auto net = test::make_builtin("lenet5", {1, 28, 28, 10});
  auto s = measure(*net, at::zeros({1, 1, 28, 28}));
  ASSERT_EQ(s.layers.size(), 5u);
  // conv1: 6x1x5x5 weights over 28x28 outputs (padding 2); conv2: 16x6x5x5 over 10x10.
  EXPECT_EQ(s.layers[0].macs, 6 * 25 * 28 * 28);
  EXPECT_EQ(s.layers[1].macs, 16 * 6 * 25 * 10 * 10);
  EXPECT_EQ(s.layers[2].macs, 400 * 120);
  EXPECT_EQ(s.layers[3].macs, 120 * 84);
  EXPECT_EQ(s.layers[4].macs, 84 * 10);
  EXPECT_EQ(s.prunable, 150 + 2400 + 48000 + 10080 + 840);
  EXPECT_EQ(s.params, s.prunable + 6 + 16 + 120 + 84 + 10);  // plus biases
  // Effective MACs count only nonzero weights.
  {
    at::NoGradGuard g;
    net->layers()[1].weight.zero_();
  }
  auto z = measure(*net, at::zeros({1, 1, 28, 28}));
  EXPECT_EQ(z.layers[1].macs_effective, 0);
  EXPECT_EQ(z.macs_effective, s.macs - s.layers[1].macs);
}

TEST(Models, ResNetsHaveTheExpectedDepthAndAdaptToInputs) {
  for (auto [name, convs] : std::vector<std::pair<std::string, size_t>>{{"resnet20", 19 + 2}, {"resnet32", 31 + 2}, {"resnet56", 55 + 2}}) {
    auto net = test::make_builtin(name, {3, 32, 32, 10});
    // 6n+1 3x3 convs, 2 projection shortcuts, 1 linear layer.
    EXPECT_EQ(net->layers().size(), convs + 1) << name;
    at::NoGradGuard g;
    net->eval();
    EXPECT_EQ(net->forward(at::zeros({2, 3, 32, 32})).sizes(), (std::vector<int64_t>{2, 10}));
  }
  auto small = test::make_builtin("resnet20", {1, 28, 28, 10});
  auto layers = small->layers();
  EXPECT_EQ(layers.front().name, "conv");
  EXPECT_TRUE(layers.front().bn.defined());
  EXPECT_EQ(layers.back().name, "fc");
  auto lenet = test::make_builtin("lenet5", {3, 32, 32, 7});
  at::NoGradGuard g;
  EXPECT_EQ(lenet->forward(at::zeros({1, 3, 32, 32})).size(1), 7);
}
