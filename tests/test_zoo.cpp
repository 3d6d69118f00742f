// torchvision's classification models (scripts/export_zoo.py: random weights, nothing downloads)
// channel-pruned at 30 % and 50 % (magnitude, uniform ratios, every group including residual
// streams): the physically pruned copy computes what the masked one computes, parameters and MACs
// fall, and every layer left out is left out for the reason expected. vit_b_16 and swin_t are
// also pruned by elements.
//
// GoogleTest on the library rather than ctest driving the runner: a prune-only grid needs a data
// set, a dense stage and a database per model, and reports a failed physical check as one error
// line; here each model is one test that names what went wrong, and the refusals can be compared
// with what is expected. prune_and_check (prune/prune_check.hpp) is the step a run executes
// (prune_step, physical_copy, compare_outputs, measure), so nothing of the run is re-implemented.
//
// Which models: those exported into $PRUNELAB_ZOO_DIR, or else into ZOO_CI_DIR, which the build
// fills with a cheap subset for the default suite. `cmake --build build --target zoo_test` exports
// all of them into build/zoo_models and runs these tests on them (README, docs/model-zoo.md).

#include "models/model_spec.hpp"
#include "prune/prune_check.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

using namespace prunelab;

namespace {

struct ZooModel {
  std::string name;
  int64_t size = 64;  // input height and width
  // Every refusal line must contain one of these, and each must appear in some line.
  std::vector<std::string> refusals;
  bool elements = false;  // also pruned by elements (the transformers)
};

const std::string kOutput = "the network's output";
// GoogLeNet and Inception v3 scripted always return a tuple (logits, aux logits).
const std::string kTuple = "channels flow through prim::TupleConstruct";
// Grouped convs (1 < groups < channels) are not coupled per group: their inputs and outputs stay.
const std::string kGrouped = "grouped conv";
// A linear layer on a [N, H, W, C] or [N, L, C] tensor: its outputs are the last dimension, which
// only element-wise operations and other linear layers may read (so MLP hidden units are pruned).
const std::string kLastDim = "on a linear layer's output of rank > 2";
const std::string kLayout = "combines tensors whose channels are laid out differently";

const std::vector<ZooModel>& zoo() {
  static const std::vector<ZooModel> models = {
      {"resnet18", 64, {kOutput}},
      {"resnet50", 64, {kOutput}},
      {"resnext50_32x4d", 64, {kOutput, kGrouped}},
      {"wide_resnet50_2", 64, {kOutput}},
      {"vgg11_bn", 64, {kOutput}},
      {"alexnet", 64, {kOutput}},
      {"squeezenet1_1", 64, {kOutput}},
      {"densenet121", 64, {kOutput}},
      {"googlenet", 64, {kTuple}},
      {"inception_v3", 96, {kTuple}},  // its stem needs at least 75x75
      {"mobilenet_v2", 64, {kOutput}},
      {"mobilenet_v3_small", 64, {kOutput}},
      {"mnasnet1_0", 64, {kOutput}},
      // The channel shuffle (view, transpose, view) interleaves the two branches' channels; what
      // follows it is concatenated with channels of unknown order, and its depthwise convs read them.
      {"shufflenet_v2_x1_0", 64,
       {kOutput, "channels flow through aten::view", "aten::cat of a part whose channels are not known",
        "depthwise conv"}},
      {"efficientnet_b0", 64, {kOutput}},
      {"regnet_x_400mf", 64, {kOutput, kGrouped}},
      {"regnet_y_400mf", 64, {kOutput, kGrouped}},
      // Channels-last blocks: depthwise conv, permute, LayerNorm, Linear, GELU, Linear, permute back;
      // the hidden units of each block's MLP are pruned.
      {"convnext_tiny", 64, {kOutput, "channels flow through aten::permute", kLastDim, "depthwise conv"}},
      // Patches reshaped into tokens; each encoder block's MLP hidden units are pruned.
      // MultiheadAttention runs its output projection inside a branch on its arguments.
      {"vit_b_16", 64, {kOutput, "channels flow through aten::reshape", kLayout, "control flow (prim::If)"}, true},
      {"swin_t", 64, {kOutput, "channels flow through aten::permute", kLastDim, kLayout}, true},
  };
  return models;
}

std::string zoo_dir() {
  const char* env = std::getenv("PRUNELAB_ZOO_DIR");
  return env && *env ? env : ZOO_CI_DIR;
}

std::string file_of(const ZooModel& m) { return zoo_dir() + "/" + m.name + ".pt"; }

std::vector<ZooModel> present(bool elements_only) {
  std::vector<ZooModel> out;
  for (const auto& m : zoo())
    if ((m.elements || !elements_only) && std::filesystem::exists(file_of(m))) out.push_back(m);
  return out;
}

std::unique_ptr<Model> load(const ZooModel& m) {
  ModelSpec spec;
  spec.type = "torchscript";
  spec.path = file_of(m);
  spec.name = m.name;
  return make_model(spec, InputShape{3, m.size, m.size, 10});
}

at::Tensor batch(const ZooModel& m, int64_t n) { return to_model_layout(at::randn({n, 3, m.size, m.size})); }

void expect_refusals(const ZooModel& m, const std::vector<std::string>& refused) {
  std::vector<bool> seen(m.refusals.size(), false);
  for (const auto& line : refused) {
    bool expected = false;
    for (size_t i = 0; i < m.refusals.size(); ++i)
      if (line.find(m.refusals[i]) != std::string::npos) expected = seen[i] = true;
    EXPECT_TRUE(expected) << m.name << ": unexpected refusal: " << line;
  }
  for (size_t i = 0; i < m.refusals.size(); ++i)
    EXPECT_TRUE(seen[i]) << m.name << ": no refusal says '" << m.refusals[i] << "'";
}

// Every conv and linear layer is in a channel group or named in a refusal line: none is skipped.
void expect_every_layer_accounted_for(Model& net, const std::string& model) {
  std::set<std::string> named;
  for (const auto& g : net.channel_groups())
    for (size_t p : g.producers) named.insert(net.layers()[p].name);
  for (const auto& line : net.channel_refusals()) {
    std::stringstream layers(line.substr(0, line.find(": ")));
    for (std::string name; std::getline(layers, name, ',');) named.insert(name.substr(name.find_first_not_of(' ')));
  }
  for (const auto& l : net.layers()) EXPECT_TRUE(named.count(l.name)) << model << ": layer " << l.name << " is in no group and not refused";
}

std::string name_of(const testing::TestParamInfo<ZooModel>& info) { return info.param.name; }
// What GoogleTest (and so ctest's test names) print for a parameter.
void PrintTo(const ZooModel& m, std::ostream* os) { *os << m.name; }

class ZooChannels : public testing::TestWithParam<ZooModel> {};
class ZooElements : public testing::TestWithParam<ZooModel> {};

}  // namespace

TEST_P(ZooChannels, PhysicalCopyEqualsMaskedAndIsSmaller) {
  torch::manual_seed(1);
  const auto& m = GetParam();
  auto net = load(m);
  randomize_batchnorms(*net);
  expect_refusals(m, net->channel_refusals());
  expect_every_layer_accounted_for(*net, m.name);
  ASSERT_FALSE(net->channel_groups().empty()) << m.name << ": no channel group found";
  auto crit = test::builtin_registry().make_criterion("magnitude", {});
  auto policy = test::builtin_registry().make_ratio_policy("uniform", {});
  Granularity g{GranularityKind::Channel};
  g.coupled = true;
  const auto x = batch(m, 2);
  const auto probe = batch(m, 1);
  for (double target : {0.3, 0.5}) {
    const auto r = prune_and_check(*net, g, *crit, *policy, target, x, probe);
    const auto what = fmt::format("{} at {:.0f} %", m.name, 100 * target);
    EXPECT_NEAR(r.achieved, target, 0.01) << what;
    ASSERT_TRUE(std::isfinite(r.diff.max_abs_a) && std::isfinite(r.diff.max_diff)) << what;
    EXPECT_GT(r.diff.max_abs_a, 0) << what << ": the outputs are all zero";
    EXPECT_LT(r.relative_diff(), kPhysicalTolerance)
        << what << ": max difference " << r.diff.max_diff << " on outputs up to " << r.diff.max_abs_a;
    EXPECT_LT(r.physical.params, r.dense.params) << what;
    EXPECT_LT(r.physical.macs, r.dense.macs) << what;
  }
}

TEST_P(ZooElements, ElementPruningReachesTheSparsityAndStaysFinite) {
  torch::manual_seed(1);
  const auto& m = GetParam();
  auto net = load(m);
  auto crit = test::builtin_registry().make_criterion("magnitude", {});
  auto policy = test::builtin_registry().make_ratio_policy("uniform", {});
  const auto r = prune_and_check(*net, Granularity{GranularityKind::Element}, *crit, *policy, 0.5, batch(m, 2), batch(m, 1));
  EXPECT_NEAR(r.achieved, 0.5, 0.01);
  EXPECT_NEAR(r.masked.sparsity(), 0.5, 0.01);
  for (const auto& l : r.masked.layers) EXPECT_NEAR(l.sparsity(), 0.5, 0.01) << l.name;  // uniform: every layer
  ASSERT_TRUE(std::isfinite(r.diff.max_abs_a)) << "outputs not finite";
  EXPECT_GT(r.diff.max_abs_a, 0);
  EXPECT_EQ(r.diff.max_diff, 0);  // nothing to remove physically: the copy is the masked model
  EXPECT_LT(r.masked.params_nonzero, r.dense.params_nonzero);
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooChannels, testing::ValuesIn(present(false)), name_of);
INSTANTIATE_TEST_SUITE_P(Zoo, ZooElements, testing::ValuesIn(present(true)), name_of);
// The default suite has no element model; GoogleTest must not call that an error.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ZooElements);
