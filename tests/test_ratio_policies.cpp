#include "prune/pruner.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>

using namespace prunelab;

namespace {
struct Fixture {
  std::vector<LayerView> layers;
  std::vector<at::Tensor> scores;
  std::vector<int64_t> per_slice;
  std::vector<PruneUnit> units() const {
    std::vector<PruneUnit> u;
    for (size_t i = 0; i < layers.size(); ++i) u.push_back({"l" + std::to_string(i), {i}, scores[i].numel(), per_slice[i]});
    return u;
  }
};

Fixture two_layers() {
  Fixture f;
  f.layers.resize(2);
  f.layers[0].weight = at::ones({4});
  f.layers[1].weight = at::ones({4});
  for (auto& l : f.layers) l.mask = at::ones({4});
  f.scores = {at::tensor({1.0f, 2.0f, 3.0f, 4.0f}), at::tensor({0.5f, 5.0f, 6.0f, 7.0f})};
  f.per_slice = {1, 1};
  return f;
}

std::vector<double> ratios(const std::string& policy, Fixture& f, double target, Params p = {}) {
  auto pol = test::builtin_registry().make_ratio_policy(policy, p);
  const auto units = f.units();
  RatioContext ctx{f.layers, units, f.scores, Granularity{}, target};
  return pol->ratios(ctx);
}
}  // namespace

TEST(Uniform, SameRatioEverywhere) {
  auto f = two_layers();
  EXPECT_EQ(ratios("uniform", f, 0.5), (std::vector<double>{0.5, 0.5}));
}

TEST(Uniform, SparedFirstLayerMakesTheOthersPruneMore) {
  auto f = two_layers();
  auto r = ratios("uniform", f, 0.25, Params({{"skip_first", true}}));
  EXPECT_DOUBLE_EQ(r[0], 0.0);
  EXPECT_DOUBLE_EQ(r[1], 0.5);  // 2 of 8 weights overall
}

TEST(Global, OneThresholdOverAllLayers) {
  auto f = two_layers();
  // The 4 lowest of {1,2,3,4,0.5,5,6,7} are 0.5,1,2,3: three in layer 0, one in layer 1.
  auto r = ratios("global", f, 0.5);
  EXPECT_DOUBLE_EQ(r[0], 0.75);
  EXPECT_DOUBLE_EQ(r[1], 0.25);
  r = ratios("global", f, 0.0);
  EXPECT_DOUBLE_EQ(r[0] + r[1], 0.0);
}

TEST(Global, CountsWeightsNotSlices) {
  // Layer 0: 2 channels of 3 weights; layer 1: 3 channels of 1 weight. 9 weights in all.
  Fixture f;
  f.layers.resize(2);
  f.layers[0].weight = at::ones({2, 3});
  f.layers[1].weight = at::ones({3, 1});
  for (auto& l : f.layers) l.mask = at::ones_like(l.weight);
  f.scores = {at::tensor({1.0f, 10.0f}), at::tensor({2.0f, 3.0f, 4.0f})};
  f.per_slice = {3, 1};
  // Target 5/9: lowest first -> channel (1.0, 3 weights), then 2.0 and 3.0 (1 each) = 5 weights.
  auto r = ratios("global", f, 5.0 / 9.0);
  EXPECT_DOUBLE_EQ(r[0], 0.5);
  EXPECT_NEAR(r[1], 2.0 / 3.0, 1e-12);
}

TEST(Global, NeverAsksForAChannelUnitsLastChannel) {
  // Channel units: layer 0's 4 channels all score below layer 1's. At 5/8 the threshold would
  // take all of layer 0; it keeps one channel there and takes two of layer 1 instead.
  auto f = two_layers();
  f.scores = {at::tensor({1.0f, 2.0f, 3.0f, 4.0f}), at::tensor({5.0f, 6.0f, 7.0f, 8.0f})};
  const auto units = f.units();
  for (const char* name : {"global", "lamp"}) {
    auto policy = test::builtin_registry().make_ratio_policy(name, {});
    RatioContext ctx{f.layers, units, f.scores, Granularity{GranularityKind::Channel}, 5.0 / 8.0};
    const auto r = policy->ratios(ctx);
    EXPECT_DOUBLE_EQ(r[0], 0.75) << name;
    EXPECT_DOUBLE_EQ(r[0] + r[1], 1.25) << name;
  }
}

TEST(Lamp, NormalisesScoresWithinEachUnitBeforeOneGlobalThreshold) {
  auto f = two_layers();
  // Squares {1,4,9,16} -> LAMP {1/30, 4/29, 9/25, 1}; {0.25,25,36,49} -> {0.25/110.25, 25/110, 36/85, 1}.
  // The four lowest of all eight: two from each unit (global magnitude would take three and one).
  auto r = ratios("lamp", f, 0.5);
  EXPECT_DOUBLE_EQ(r[0], 0.5);
  EXPECT_DOUBLE_EQ(r[1], 0.5);
  // Every unit keeps its largest slice (LAMP score 1) up to very high targets.
  r = ratios("lamp", f, 0.75);
  EXPECT_DOUBLE_EQ(r[0], 0.75);
  EXPECT_DOUBLE_EQ(r[1], 0.75);
  // Already-pruned slices are counted first and stay pruned.
  f.scores[0] = at::tensor({-std::numeric_limits<float>::infinity(), 2.0f, 3.0f, 4.0f});
  EXPECT_GE(ratios("lamp", f, 0.125)[0], 0.25);
}

TEST(Erk, DensityFollowsSumOverProductAndCapsAtDense) {
  Fixture f;
  f.layers.resize(2);
  f.layers[0].weight = at::ones({16, 16, 3, 3});
  f.layers[1].weight = at::ones({10, 64});
  for (auto& l : f.layers) l.mask = at::ones_like(l.weight);
  f.scores = {at::ones({2304}), at::ones({640})};
  f.per_slice = {1, 1};
  // raw: 38/2304 and 74/640. At 50 % the linear layer would need density 1.52: it stays dense,
  // and the conv takes all 1472 pruned weights: ratio 1472/2304.
  auto r = ratios("erk", f, 0.5);
  EXPECT_NEAR(r[0], 1472.0 / 2304.0, 1e-12);
  EXPECT_DOUBLE_EQ(r[1], 0.0);
  // power 0: every unit the same density (uniform).
  r = ratios("erk", f, 0.3, Params({{"power", 0.0}}));
  EXPECT_NEAR(r[0], 0.3, 1e-12);
  EXPECT_NEAR(r[1], 0.3, 1e-12);
}
