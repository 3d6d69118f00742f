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

namespace {
/// Position of every channel in the greedy order that removes, step by step, the channel keeping
/// ||sum of removed contributions||^2 smallest (ThiNet), from explicit contribution vectors.
std::vector<int64_t> reference_greedy(const std::vector<at::Tensor>& contributions) {
  const size_t n = contributions.size();
  std::vector<int64_t> rank(n, -1);
  at::Tensor sum = at::zeros_like(contributions[0]);
  for (size_t step = 0; step < n; ++step) {
    size_t best = n;
    double best_norm = 0;
    for (size_t c = 0; c < n; ++c) {
      if (rank[c] >= 0) continue;
      const double norm = (sum + contributions[c]).pow(2).sum().item<double>();
      if (best == n || norm < best_norm) best = c, best_norm = norm;
    }
    rank[best] = int64_t(step);
    sum = sum + contributions[best];
  }
  return rank;
}

/// A producer feeding a consumer: the consumer's input is the producer's output on fixed data,
/// so pruning the producer's rows changes what the consumer reads, as in a real network.
class ProducerConsumer : public Calibration {
 public:
  ProducerConsumer(at::Tensor data, LayerView& producer) : data_(std::move(data)), producer_(producer) {}
  std::vector<Batch> batches(int64_t) override { return {}; }
  std::vector<std::pair<at::Tensor, at::Tensor>> gradients(int64_t) override { return {}; }
  at::Tensor layer_inputs(const std::string& name, int64_t) override {
    EXPECT_EQ(name, "consumer");
    return producer_.weight.dim() == 2 ? data_.matmul(producer_.weight.t()) : at::conv2d(data_, producer_.weight);
  }

 private:
  at::Tensor data_;
  LayerView& producer_;
};

std::vector<LayerView> producer_consumer(at::Tensor producer, at::Tensor consumer) {
  std::vector<LayerView> layers{layer(producer), layer(consumer)};
  layers[0].name = "producer";
  layers[1].name = "consumer";
  for (auto& l : layers) l.kind = l.weight.dim() == 2 ? LayerKind::Linear : LayerKind::Conv2d;
  return layers;
}
}  // namespace

TEST(Reconstruction, LinearConsumerRanksChannelsInThiNetGreedyOrder) {
  torch::manual_seed(3);
  auto layers = producer_consumer(at::randn({6, 5}), at::randn({3, 6}));
  layers[1].weight.narrow(1, 4, 1).mul_(0.05);  // a channel the consumer barely reads
  const auto data = at::randn({64, 5});
  ProducerConsumer calib(data, layers[0]);
  std::vector<PruneUnit> units{{"producer", {0}, 6, 5, {{1, 1}}}};
  const Granularity channel{GranularityKind::Channel};
  auto crit = test::builtin_registry().make_criterion("reconstruction", {});
  CriterionContext ctx{layers, channel, &calib, 1, &units};
  auto s = slice_scores(*crit, ctx);
  const auto x = data.matmul(layers[0].weight.t());
  std::vector<at::Tensor> contributions;
  for (int64_t c = 0; c < 6; ++c) contributions.push_back(x.narrow(1, c, 1).matmul(layers[1].weight.narrow(1, c, 1).t()));
  const auto rank = reference_greedy(contributions);
  EXPECT_EQ(rank[4], 0);
  for (int64_t c = 0; c < 6; ++c) EXPECT_FLOAT_EQ(s[0][c].item<float>(), float(rank[size_t(c)] + 1) / 6.0f) << c;
  std::vector<LayerView> element_layers = producer_consumer(at::ones({2, 2}), at::ones({2, 2}));
  CriterionContext element_ctx{element_layers, Granularity{}, &calib, 1, &units};
  EXPECT_THROW(crit->score(element_ctx), std::runtime_error);
}

TEST(Reconstruction, ConvConsumerContributionsMatchPerChannelConvolutions) {
  // Stride 2 and padding 1 on a 7x7 input: the sampled im2col rows must line up with the
  // convolution's own output positions for the greedy order to match.
  torch::manual_seed(5);
  auto layers = producer_consumer(at::randn({4, 2, 1, 1}), at::randn({3, 4, 3, 3}));
  layers[1].stride = 2;
  layers[1].padding = 1;
  const auto data = at::randn({5, 2, 7, 7});
  ProducerConsumer calib(data, layers[0]);
  std::vector<PruneUnit> units{{"producer", {0}, 4, 2, {{1, 1}}}};
  auto crit = test::builtin_registry().make_criterion("reconstruction", {});
  CriterionContext ctx{layers, {GranularityKind::Channel}, &calib, 1, &units};
  auto s = slice_scores(*crit, ctx);
  const auto x = at::conv2d(data, layers[0].weight);
  std::vector<at::Tensor> contributions;
  for (int64_t c = 0; c < 4; ++c)
    contributions.push_back(at::conv2d(x.narrow(1, c, 1), layers[1].weight.narrow(1, c, 1), {}, 2, 1));
  const auto rank = reference_greedy(contributions);
  for (int64_t c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(s[0][c].item<float>(), float(rank[size_t(c)] + 1) / 4.0f) << c;
}

TEST(Reconstruction, RefitIsTheLeastSquaresOptimumAndBeatsPlainMasking) {
  torch::manual_seed(4);
  const auto data = at::randn({200, 5});
  const auto producer = at::randn({6, 5}), consumer = at::randn({3, 6});
  const auto original = data.matmul(producer.t()).matmul(consumer.t());
  std::vector<PruneUnit> units{{"producer", {0}, 6, 5, {{1, 1}}}};
  const Granularity channel{GranularityKind::Channel};
  at::Tensor kept;
  auto run = [&](bool refit) {
    auto layers = producer_consumer(producer.clone(), consumer.clone());
    ProducerConsumer calib(data, layers[0]);
    auto crit = test::builtin_registry().make_criterion("reconstruction", Params({{"refit", refit}, {"damp", 0.0}}));
    CriterionContext ctx{layers, channel, &calib, 1, &units};
    auto s = slice_scores(*crit, ctx);
    auto m = select_slices({s[0]}, {0.5}, units, layers, channel)[0];  // 3 of 6 channels go
    kept = m.gt(0).nonzero().flatten();
    layers[0].mask.mul_(m.unsqueeze(1));
    layers[1].mask.mul_(m.unsqueeze(0));
    for (auto& l : layers) l.weight.mul_(l.mask);
    crit->after_masking(ctx);
    EXPECT_EQ(layers[1].weight.ne(0).sum(0).gt(0).sum().item<int64_t>(), 3);  // pruned inputs stay zero
    EXPECT_TRUE(at::equal(layers[1].weight.mul(layers[1].mask), layers[1].weight));
    return (calib.layer_inputs("consumer", 1).matmul(layers[1].weight.t()) - original).pow(2).mean().item<double>();
  };
  const double masked = run(false), refit = run(true);
  auto xk = data.matmul(producer.t()).index_select(1, kept).to(at::kDouble);
  auto v = std::get<0>(at::linalg_lstsq(xk, original.to(at::kDouble)));
  const double best = (xk.matmul(v) - original.to(at::kDouble)).pow(2).mean().item<double>();
  EXPECT_LT(refit, masked);
  EXPECT_NEAR(refit, best, 1e-4 * std::max(1.0, best)) << "masked " << masked << " refit " << refit;
}
