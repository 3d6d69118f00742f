// The criteria beyond magnitude, against hand-computed scores on small tensors.
#include "prune/pruner.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

using namespace prunelab;

namespace {
LayerView layer(const at::Tensor& w) {
  LayerView v;
  v.name = "w";
  v.weight = w;
  v.mask = at::ones_like(w);
  return v;
}

/// Gradients chosen by the test: sum = g * n, sum of squares = g^2 * n (as if every batch gave g).
class FixedCalibration : public Calibration {
 public:
  explicit FixedCalibration(std::vector<at::Tensor> g) : g_(std::move(g)) {}
  std::vector<Batch> batches(int64_t) override { return {}; }
  std::vector<std::pair<at::Tensor, at::Tensor>> gradients(int64_t n) override {
    calls_.push_back(n);
    std::vector<std::pair<at::Tensor, at::Tensor>> out;
    for (auto& g : g_) out.emplace_back(g * double(n), g * g * double(n));
    return out;
  }
  at::Tensor layer_inputs(const std::string&, int64_t) override { return {}; }
  std::vector<int64_t> calls_;

 private:
  std::vector<at::Tensor> g_;
};

std::vector<at::Tensor> score(const std::string& name, std::vector<LayerView>& layers, Granularity g,
                              Calibration* calib = nullptr, Params p = {}, uint64_t seed = 1) {
  auto c = test::builtin_registry().make_criterion(name, p);
  CriterionContext ctx{layers, g, calib, seed};
  return slice_scores(*c, ctx);
}
}  // namespace

TEST(Random, SeededReproducibleAndShapedLikeTheSlices) {
  std::vector<LayerView> layers{layer(at::ones({4, 2, 3, 3}))};
  auto a = score("random", layers, {GranularityKind::Channel}, nullptr, {}, 7);
  auto b = score("random", layers, {GranularityKind::Channel}, nullptr, {}, 7);
  auto c = score("random", layers, {GranularityKind::Channel}, nullptr, {}, 8);
  EXPECT_EQ(a[0].sizes(), (std::vector<int64_t>{4}));
  EXPECT_TRUE(at::equal(a[0], b[0]));
  EXPECT_FALSE(at::equal(a[0], c[0]));
  auto e = score("random", layers, {GranularityKind::Element}, nullptr, Params({{"seed_offset", int64_t{3}}}), 7);
  EXPECT_EQ(e[0].numel(), 72);
}

TEST(Fpgm, FiltersNearTheGeometricMedianScoreLowest) {
  // Three 1-weight filters at 0, 1 and 10: distance sums 11, 10, 19 -> the middle one goes first.
  std::vector<LayerView> layers{layer(at::tensor({0.0f, 1.0f, 10.0f}).reshape({3, 1, 1, 1}))};
  auto s = score("fpgm", layers, {GranularityKind::Channel});
  EXPECT_TRUE(at::allclose(s[0], at::tensor({11.0f, 10.0f, 19.0f})));
  auto m = select_slices(s, {1.0 / 3.0}, layers, {GranularityKind::Channel});
  EXPECT_TRUE(at::equal(m[0], at::tensor({1.0f, 0.0f, 1.0f})));
  EXPECT_THROW(score("fpgm", layers, {GranularityKind::Element}), std::runtime_error);
}

TEST(BnScale, PicksTheChannelsWithTheSmallestGamma) {
  auto conv = layer(at::ones({4, 1, 3, 3}));
  conv.bn_gamma = at::tensor({0.9f, -0.01f, 0.5f, 0.02f});
  auto fc = layer(at::tensor({1.0f, 2.0f, -3.0f, 0.5f}).reshape({2, 2}));  // no BN: L1 of rows
  std::vector<LayerView> layers{conv, fc};
  auto s = score("bn_scale", layers, {GranularityKind::Channel});
  EXPECT_TRUE(at::allclose(s[0], at::tensor({0.9f, 0.01f, 0.5f, 0.02f})));
  EXPECT_TRUE(at::allclose(s[1], at::tensor({3.0f, 3.5f})));
  auto m = select_slices(s, {0.5, 0.0}, layers, {GranularityKind::Channel});
  EXPECT_TRUE(at::equal(m[0], at::tensor({1.0f, 0.0f, 1.0f, 0.0f})));
}

TEST(Taylor, IsAbsWeightTimesMeanGradient) {
  std::vector<LayerView> layers{layer(at::tensor({2.0f, -1.0f, 0.5f, 3.0f}))};
  FixedCalibration calib({at::tensor({0.1f, 0.4f, -2.0f, 0.0f})});
  auto s = score("taylor", layers, {}, &calib, Params({{"batches", int64_t{5}}}));
  EXPECT_TRUE(at::allclose(s[0], at::tensor({0.2f, 0.4f, 1.0f, 0.0f})));
  EXPECT_EQ(calib.calls_, (std::vector<int64_t>{5}));
  std::vector<LayerView> no_calib_layers{layer(at::ones({2}))};
  EXPECT_THROW(score("taylor", no_calib_layers, {}), std::runtime_error);
}

TEST(Obd, IsHalfFisherTimesWeightSquared) {
  std::vector<LayerView> layers{layer(at::tensor({2.0f, -1.0f, 0.5f}))};
  FixedCalibration calib({at::tensor({0.5f, 2.0f, -4.0f})});
  auto s = score("obd", layers, {}, &calib);
  // 0.5 * g^2 * w^2 = 0.5*0.25*4, 0.5*4*1, 0.5*16*0.25
  EXPECT_TRUE(at::allclose(s[0], at::tensor({0.5f, 2.0f, 2.0f})));
}

namespace {
/// Layer inputs chosen by the test.
class FixedInputs : public Calibration {
 public:
  explicit FixedInputs(at::Tensor x) : x_(std::move(x)) {}
  std::vector<Batch> batches(int64_t) override { return {}; }
  std::vector<std::pair<at::Tensor, at::Tensor>> gradients(int64_t) override { return {}; }
  at::Tensor layer_inputs(const std::string&, int64_t) override { return x_; }

 private:
  at::Tensor x_;
};
}  // namespace

TEST(Obs, ScoresMatchTheClosedFormHessian) {
  // Inputs with orthogonal columns: H = 2 X^T X / n is diagonal, H^-1_qq = 1 / H_qq, and the OBS
  // score w^2 / (2 H^-1_qq) = w^2 H_qq / 2 (damping off).
  auto x = at::tensor({1.0f, 0.0f, 0.0f, 2.0f, -1.0f, 0.0f, 0.0f, -2.0f}).reshape({4, 2});  // columns orthogonal
  std::vector<LayerView> layers{layer(at::tensor({3.0f, 1.0f}).reshape({1, 2}))};
  layers[0].kind = LayerKind::Linear;
  FixedInputs calib(x);
  auto s = score("obs", layers, {}, &calib, Params({{"damp", 0.0}}));
  // H = 2/4 * diag(2, 8) = diag(1, 4) -> scores 9 * 1 / 2, 1 * 4 / 2
  EXPECT_TRUE(at::allclose(s[0], at::tensor({4.5f, 2.0f}))) << s[0];
}

TEST(Obs, UpdateIsTheLeastSquaresRefitAndBeatsPlainMasking) {
  torch::manual_seed(0);
  // Correlated inputs, so the surviving weights can compensate for the pruned ones.
  auto base = at::randn({256, 4}, at::kDouble);
  auto x = at::cat({base, base * 0.9 + 0.1 * at::randn({256, 4}, at::kDouble)}, 1).to(at::kFloat);  // 8 inputs
  auto w = at::randn({3, 8});
  at::Tensor mask;
  auto run = [&](bool update) {
    std::vector<LayerView> layers{layer(w.clone())};
    layers[0].kind = LayerKind::Linear;
    FixedInputs calib(x);
    auto crit = test::builtin_registry().make_criterion("obs", Params({{"update", update}, {"damp", 0.0}}));
    CriterionContext ctx{layers, Granularity{}, &calib, 0};
    auto s = slice_scores(*crit, ctx);
    auto m = select_slices(s, {0.5}, layers, Granularity{});
    layers[0].mask.copy_(m[0].reshape({3, 8}));
    mask = layers[0].mask.clone();
    layers[0].weight.mul_(layers[0].mask);
    crit->after_masking(ctx);
    layers[0].weight.mul_(layers[0].mask);
    EXPECT_EQ(layers[0].weight.ne(0).sum().item<int64_t>(), 12);
    return (x.matmul(layers[0].weight.t()) - x.matmul(w.t())).pow(2).mean().item<double>();
  };
  const double masked = run(false), refit = run(true);
  // The same mask, refitted by ordinary least squares row by row: the optimum OBS must reach.
  auto xd = x.to(at::kDouble), target = xd.matmul(w.to(at::kDouble).t());
  double best = 0;
  for (int64_t r = 0; r < 3; ++r) {
    auto keep = mask[r].gt(0).nonzero().flatten();
    auto xk = xd.index_select(1, keep);
    auto v = std::get<0>(at::linalg_lstsq(xk, target.narrow(1, r, 1)));
    best += (xk.matmul(v) - target.narrow(1, r, 1)).pow(2).sum().item<double>();
  }
  best /= double(x.size(0) * 3);
  EXPECT_LT(refit, masked);
  EXPECT_NEAR(refit, best, 1e-4 * std::max(1.0, best)) << "masked " << masked << " refit " << refit;
}
