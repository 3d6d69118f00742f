#include "models/network.hpp"
#include "prune/pruner.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

using namespace prunelab;

namespace {
std::vector<LayerView> one_layer(const at::Tensor& w) {
  std::vector<LayerView> layers(1);
  layers[0].name = "w";
  layers[0].weight = w;
  layers[0].mask = at::ones_like(w);
  return layers;
}
}  // namespace

TEST(Granularity, SliceGridShapes) {
  const std::vector<int64_t> conv = {8, 4, 3, 3};
  EXPECT_EQ(slice_grid_shape({GranularityKind::Element}, conv), conv);
  EXPECT_EQ(slice_grid_shape({GranularityKind::Vector}, conv), (std::vector<int64_t>{8, 4, 3}));
  EXPECT_EQ(slice_grid_shape({GranularityKind::Kernel}, conv), (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(slice_grid_shape({GranularityKind::Channel}, conv), (std::vector<int64_t>{8}));
  EXPECT_EQ(weights_per_slice(Granularity{GranularityKind::Channel}, conv), 36);
  EXPECT_EQ(weights_per_slice(Granularity{GranularityKind::Kernel}, std::vector<int64_t>{10, 5}), 1);
}

TEST(Granularity, ReduceToSlicesUsesLpNorms) {
  auto w = at::tensor({3.0f, -4.0f, 1.0f, 0.0f}).reshape({2, 2});  // two output rows
  Granularity ch{GranularityKind::Channel};
  EXPECT_TRUE(at::allclose(reduce_to_slices(w, ch, 1.0), at::tensor({7.0f, 1.0f})));
  EXPECT_TRUE(at::allclose(reduce_to_slices(w, ch, 2.0), at::tensor({5.0f, 1.0f})));
  auto mask = expand_slice_mask(at::tensor({0.0f, 1.0f}), ch, w.sizes());
  EXPECT_TRUE(at::equal(mask, at::tensor({0.0f, 0.0f, 1.0f, 1.0f}).reshape({2, 2})));
}

TEST(Magnitude, ElementScoresAreAbsoluteValues) {
  auto criterion = test::builtin_registry().make_criterion("magnitude", {});
  auto layers = one_layer(at::tensor({-0.5f, 0.25f, 2.0f, -1.0f}));
  CriterionContext ctx{layers, Granularity{}};
  auto s = slice_scores(*criterion, ctx);
  EXPECT_TRUE(at::equal(s[0], at::tensor({0.5f, 0.25f, 2.0f, 1.0f})));
}

TEST(Magnitude, ChannelScoresAreL2NormsWhenPIsTwo) {
  auto criterion = test::builtin_registry().make_criterion("magnitude", Params({{"p", 2.0}}));
  auto w = at::zeros({3, 1, 2, 2});
  w[0].fill_(1.0);   // L2 = 2
  w[1].fill_(-0.5);  // L2 = 1
  w[2][0][0][0] = 3; // L2 = 3
  auto layers = one_layer(w);
  CriterionContext ctx{layers, Granularity{GranularityKind::Channel}};
  auto s = slice_scores(*criterion, ctx);
  EXPECT_TRUE(at::allclose(s[0], at::tensor({2.0f, 1.0f, 3.0f})));
}

TEST(SliceScores, AlreadyPrunedSlicesScoreMinusInfinity) {
  auto criterion = test::builtin_registry().make_criterion("magnitude", {});
  auto layers = one_layer(at::tensor({5.0f, 4.0f, 3.0f}));
  layers[0].mask = at::tensor({1.0f, 0.0f, 1.0f});
  CriterionContext ctx{layers, Granularity{}};
  auto s = slice_scores(*criterion, ctx);
  EXPECT_TRUE(std::isinf(s[0][1].item<float>()) && s[0][1].item<float>() < 0);
  // Asking for 0 % still keeps the pruned weight pruned: masks only grow.
  auto m = select_slices(s, {0.0}, layers, Granularity{});
  EXPECT_TRUE(at::equal(m[0], at::tensor({1.0f, 0.0f, 1.0f})));
}

TEST(SelectSlices, PrunesTheLowestScoresPerLayer) {
  auto layers = one_layer(at::zeros({6}));
  auto m = select_slices({at::tensor({0.6f, 0.1f, 0.5f, 0.2f, 0.4f, 0.3f})}, {0.5}, layers, Granularity{});
  EXPECT_TRUE(at::equal(m[0], at::tensor({1.0f, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f})));
  EXPECT_THROW(select_slices({at::zeros({6})}, {1.5}, layers, Granularity{}), std::runtime_error);
}

TEST(SelectSlices, PatternKeepsExactlyNOfEveryM) {
  auto w = at::randn({4, 8, 3, 3});
  auto layers = one_layer(w);
  Granularity g{GranularityKind::Pattern, 2, 4};
  auto m = select_slices({w.abs().flatten()}, {0.0}, layers, g)[0].reshape(w.sizes());
  // Groups run along the input dimension.
  auto groups = m.permute({0, 2, 3, 1}).reshape({-1, 4});
  EXPECT_TRUE(at::equal(groups.sum(1), at::full({groups.size(0)}, 2.0f)));
  // And the kept ones are the two largest of each group.
  auto wg = w.abs().permute({0, 2, 3, 1}).reshape({-1, 4});
  auto kept_min = at::where(groups.gt(0), wg, at::full({}, 1e9f)).amin(1);
  auto dropped_max = at::where(groups.eq(0), wg, at::full({}, -1.0f)).amax(1);
  EXPECT_TRUE(at::all(kept_min >= dropped_max).item<bool>());
}

TEST(SelectSlices, PatternOnARealConvModelLeavesIndivisibleLayersDense) {
  auto net = test::make_builtin("lenet5", {1, 28, 28, 10});
  MaskSet masks(*net);
  auto crit = test::builtin_registry().make_criterion("magnitude", {});
  auto pol = test::builtin_registry().make_ratio_policy("uniform", {});
  prune_step(masks, UnitLayout(masks, Granularity{GranularityKind::Pattern, 2, 4}), *crit, *pol, 0.5, nullptr, nullptr, 0);
  // conv1 (1 input) and conv2 (6 inputs) cannot be split into groups of 4: dense.
  // fc1/fc2/fc3 (400, 120, 84 inputs): exactly 2 of every 4 inputs.
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(masks.masks()[i].sum().item<float>(), masks.masks()[i].numel());
  for (size_t i = 2; i < masks.size(); ++i) {
    auto m = masks.masks()[i];
    auto moved = m.dim() == 4 ? m.permute({0, 2, 3, 1}) : m;
    auto groups = moved.contiguous().reshape({-1, 4});
    EXPECT_TRUE(at::equal(groups.sum(1), at::full({groups.size(0)}, 2.0f))) << masks.layers()[i].name;
  }
}

TEST(SliceScores, NonFiniteScoresAreRejected) {
  struct NaNCriterion : Criterion {
    std::vector<at::Tensor> score(CriterionContext& ctx) override {
      return {at::full(ctx.layers[0].weight.sizes(), std::nanf(""))};
    }
  } bad;
  auto layers = one_layer(at::ones({4}));
  CriterionContext ctx{layers, Granularity{}};
  EXPECT_THROW(slice_scores(bad, ctx), std::runtime_error);
}
