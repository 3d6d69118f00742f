// Channel groups, masked channel pruning, physical removal, and pruned models on disk.
#include "models/fold_bn.hpp"
#include "run/model_file.hpp"
#include "prune/physical.hpp"
#include "prune/pruner.hpp"
#include "prune/stats.hpp"
#include "run/model_eval.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

using namespace prunelab;

namespace {
const InputShape kShape{1, 28, 28, 10};

// Random BatchNorm statistics and shifts, so a test cannot pass because they happen to be 0 / 1.
void randomise_batchnorm(Model& net) {
  at::NoGradGuard g;
  for (auto& e : net.layers()) {
    if (!e.bn.defined()) continue;
    at::Tensor(e.bn.weight).uniform_(0.5, 1.5);
    at::Tensor(e.bn.bias).uniform_(-0.5, 0.5);
    at::Tensor(e.bn.running_mean).uniform_(-0.3, 0.3);
    at::Tensor(e.bn.running_var).uniform_(0.5, 2.0);
  }
}

void prune(MaskSet& masks, const Granularity& g, double target, const std::string& policy = "uniform") {
  auto crit = test::builtin_registry().make_criterion("magnitude", {});
  auto pol = test::builtin_registry().make_ratio_policy(policy, {});
  prune_step(masks, UnitLayout(masks, g), *crit, *pol, target, nullptr, nullptr, 0);
}

at::Tensor rows_alive(const at::Tensor& w) { return w.reshape({w.size(0), -1}).ne(0).any(1); }

Granularity channel(bool coupled) {
  Granularity g{GranularityKind::Channel};
  g.coupled = coupled;
  return g;
}
}  // namespace

TEST(ChannelGroups, ResNetDeclaresItsBlocksAndStreams) {
  auto net = test::make_builtin("resnet20", kShape);
  const auto layers = net->layers();
  const auto groups = net->channel_groups();
  int inner = 0, streams = 0;
  for (const auto& g : groups) {
    if (!g.residual) {
      ++inner;
      ASSERT_EQ(g.producers.size(), 1u);
      EXPECT_EQ(layers[g.producers[0]].name.substr(layers[g.producers[0]].name.size() - 5), "conv1");
      continue;
    }
    ++streams;
    // Each stream: the stem or a projection shortcut, plus the three blocks' conv2.
    EXPECT_EQ(g.producers.size(), 4u) << g.name;
  }
  EXPECT_EQ(inner, 9);
  EXPECT_EQ(streams, 3);
  EXPECT_EQ(groups.back().name, "stage3.stream");
  EXPECT_EQ(layers[groups.back().consumers.back().layer].name, "fc");
  MaskSet masks(*net);
  EXPECT_EQ(UnitLayout(masks, channel(false)).units().size(), 9u);
  EXPECT_EQ(UnitLayout(masks, channel(true)).units().size(), 12u);
  EXPECT_EQ(UnitLayout(masks, Granularity{GranularityKind::Kernel}).units().size(), layers.size());
}

TEST(ChannelPruning, CoupledResidualChannelsArePrunedIdentically) {
  torch::manual_seed(3);
  auto net = test::make_builtin("resnet20", kShape);
  MaskSet masks(*net);
  prune(masks, channel(true), 0.5);
  const auto layers = net->layers();
  for (const auto& g : net->channel_groups()) {
    const auto alive = rows_alive(layers[g.producers[0]].weight);
    EXPECT_EQ(alive.sum().item<int64_t>(), g.channels / 2) << g.name;
    for (size_t p : g.producers) {
      EXPECT_TRUE(at::equal(rows_alive(layers[p].weight), alive)) << g.name << " " << layers[p].name;
      // The pruned channel's BatchNorm scale and shift are zero too: its output is exactly 0.
      const auto dead = alive.logical_not();
      EXPECT_EQ(layers[p].bn.weight.masked_select(dead).ne(0).sum().item<int64_t>(), 0);
      EXPECT_EQ(layers[p].bn.bias.masked_select(dead).ne(0).sum().item<int64_t>(), 0);
    }
    for (const auto& c : g.consumers) {
      const auto& w = layers[c.layer].weight;  // [out, in, ...]: the dead inputs are zero
      auto per_input = w.transpose(0, 1).reshape({w.size(1), -1}).ne(0).any(1);
      EXPECT_TRUE(at::equal(per_input, alive)) << g.name << " -> " << layers[c.layer].name;
    }
  }
}

TEST(ChannelPruning, InnerScopeLeavesTheStreamsWhole) {
  torch::manual_seed(4);
  auto net = test::make_builtin("resnet20", kShape);
  MaskSet masks(*net);
  const UnitLayout layout(masks, channel(false));
  prune(masks, channel(false), 0.5);
  EXPECT_NEAR(layout.measured_sparsity(), 0.5, 1e-9);
  const auto layers = net->layers();
  for (const auto& g : net->channel_groups())
    for (size_t p : g.producers)
      EXPECT_EQ(rows_alive(layers[p].weight).sum().item<int64_t>(), g.residual ? g.channels : g.channels / 2);
}

TEST(ChannelPruning, AUnitNeverLosesItsLastChannel) {
  auto net = test::make_builtin("lenet300", kShape);
  MaskSet masks(*net);
  const UnitLayout layout(masks, channel(false));
  auto views = masks.views();
  auto scores = layout.unit_scores(layer_slice_scores(
      {views[0].weight, views[1].weight, views[2].weight}, views, channel(false), 1.0));
  auto m = select_slices(scores, {1.0, 1.0}, layout.units(), views, channel(false));
  EXPECT_EQ(m[0].sum().item<int64_t>(), 1);
  EXPECT_EQ(m[1].sum().item<int64_t>(), 1);
}

TEST(PhysicalPruning, MatchesTheMaskedModelOnEveryModel) {
  for (const auto& [model, coupled] : std::vector<std::pair<std::string, bool>>{
           {"resnet20", false}, {"resnet20", true}, {"lenet5", false}, {"lenet300", false}}) {
    torch::manual_seed(5);
    auto net = test::make_builtin(model, kShape);
    randomise_batchnorm(*net);
    MaskSet masks(*net);
    prune(masks, channel(coupled), 0.5);
    const auto x = to_model_layout(at::randn({8, 1, 28, 28}));
    auto physical = physical_copy(*net);
    const auto masked_stats = measure(*net, x.narrow(0, 0, 1));
    const auto physical_stats = measure(*physical, x.narrow(0, 0, 1));
    // Smaller for real, and exactly the MACs the masked model's nonzero weights stand for.
    EXPECT_LT(physical_stats.params, masked_stats.params) << model;
    EXPECT_EQ(physical_stats.macs, masked_stats.macs_effective) << model;
    EXPECT_EQ(physical_stats.prunable, masked_stats.prunable_nonzero) << model;
    EXPECT_LT(max_output_difference(*net, *physical, x), 1e-4) << model << (coupled ? " coupled" : "");
  }
}

TEST(BatchNormFolding, ComputesTheSameOutputsAndRestoresTheModelExactly) {
  torch::manual_seed(6);
  auto net = test::make_builtin("resnet20", kShape);
  randomise_batchnorm(*net);
  MaskSet masks(*net);
  prune(masks, channel(false), 0.5);  // folded pruned channels must stay exactly zero
  auto physical = physical_copy(*net);
  const auto x = to_model_layout(at::randn({8, 1, 28, 28}));
  for (Model* model : std::vector<Model*>{net.get(), physical.get()}) {
    model->eval();
    at::NoGradGuard g;
    const auto before = model->forward(x);
    std::vector<at::Tensor> weights;
    for (auto& e : model->layers()) weights.push_back(e.weight);
    {
      auto folding = model->fold_batchnorm();
      EXPECT_EQ(folding->folded(), 21u);  // stem + 2 per block × 9 + 2 projection shortcuts
      const auto folded = model->forward(x);
      EXPECT_LT((folded - before).abs().max().item<double>(), 1e-4 * before.abs().max().item<double>());
      {
        auto nested = model->fold_batchnorm();  // already folded: must not scale the weights twice
        EXPECT_EQ(nested->folded(), 0u);
        EXPECT_TRUE(at::equal(model->forward(x), folded));
      }
      EXPECT_TRUE(at::equal(model->forward(x), folded));  // still folded after the nested one ends
      auto& live = dynamic_cast<BuiltinModel&>(*model).network().prunable_layers()[1].layer->weight;
      EXPECT_FALSE(at::equal(live, weights[1]));  // the conv runs with folded weights
    }
    // Restored: the very same tensors, so bit-identical outputs.
    for (size_t k = 0; k < weights.size(); ++k)
      EXPECT_TRUE(dynamic_cast<BuiltinModel&>(*model).network().prunable_layers()[k].layer->weight.is_same(weights[k]));
    EXPECT_TRUE(at::equal(model->forward(x), before));
  }
  net->train();
  EXPECT_THROW(net->fold_batchnorm(), std::logic_error);
}

TEST(PhysicalPruning, RemovesOnlyChannelsThatAreProvablyZero) {
  torch::manual_seed(6);
  auto net = test::make_builtin("resnet20", kShape);
  randomise_batchnorm(*net);
  const auto probe = at::zeros({1, 1, 28, 28});
  const auto dense_params = measure(*net, probe).params;
  const auto x = to_model_layout(at::randn({4, 1, 28, 28}));
  auto block = net->layers()[1];  // stage1_block0.conv1: its channels reach conv2 only
  ASSERT_EQ(block.name, "stage1_block0.conv1");
  {
    at::NoGradGuard g;
    block.weight[3].zero_();  // a zero filter whose BatchNorm still shifts: not removable
  }
  auto kept = physical_copy(*net);
  EXPECT_EQ(measure(*kept, probe).params, dense_params);
  EXPECT_LT(max_output_difference(*net, *kept, x), 1e-4);
  {
    at::NoGradGuard g;
    block.bn.weight[3].zero_();
    block.bn.bias[3].zero_();  // now channel 3 outputs exactly zero: it must go
  }
  auto removed = physical_copy(*net);
  // One filter (16 x 3 x 3), its BatchNorm scale and shift, and one input of conv2 (16 x 3 x 3).
  EXPECT_EQ(measure(*removed, probe).params, dense_params - 144 - 2 - 144);
  EXPECT_LT(max_output_difference(*net, *removed, x), 1e-4);
  // Element pruning leaves BatchNorm shifts alive, so nothing is removable.
  auto other = test::make_builtin("resnet20", kShape);
  randomise_batchnorm(*other);
  MaskSet masks(*other);
  prune(masks, Granularity{}, 0.9, "global");
  EXPECT_EQ(measure(*physical_copy(*other), probe).params, dense_params);
}

TEST(ModelFile, SavedPrunedModelsReloadToTheSameAccuracy) {
  const auto dir = test::scratch_dir("model_file");
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.val_size = 100;
  spec.synthetic_train = 400;
  spec.synthetic_test = 200;
  const auto data = load_data(spec);
  torch::manual_seed(7);
  auto net = test::make_builtin("lenet5", data.shape);
  OptimSpec o;
  o.lr = 0.05;
  train_steps(*net, data.train, o, 40, 1, nullptr, {}, c10::Device(c10::kCPU));
  MaskSet masks(*net);
  prune(masks, channel(false), 0.5);
  const double top1 = evaluate(*net, data.test, 64, c10::Device(c10::kCPU)).top1;
  auto physical = physical_copy(*net);
  ModelFileInfo info{"lenet5", data.shape, spec, "masked", "abc", "channel", top1};
  save_model_file(dir + "/m-masked.pt", *net, info);
  info.kind = "pruned";
  save_model_file(dir + "/m-pruned.pt", *physical, info);

  // Each file reloads to exactly what the model it was saved from scores (the physical copy
  // runs other conv shapes, so it is compared with itself, not with the masked model).
  const double physical_top1 = evaluate(*physical, data.test, 64, c10::Device(c10::kCPU)).top1;
  for (const auto& [file, expected] : std::vector<std::pair<std::string, double>>{{"/m-masked.pt", top1}, {"/m-pruned.pt", physical_top1}}) {
    const auto e = evaluate_model_file(dir + file, c10::Device(c10::kCPU), 64, 0);
    EXPECT_DOUBLE_EQ(e.top1, expected) << file;
    EXPECT_EQ(e.info.model, "lenet5");
    EXPECT_EQ(e.test_samples, 200);
  }
  EXPECT_NEAR(physical_top1, top1, 1.0 / 200 + 1e-12);  // at most a near-tie apart
  const auto pruned = evaluate_model_file(dir + "/m-pruned.pt", c10::Device(c10::kCPU), 64, 0);
  const auto masked = evaluate_model_file(dir + "/m-masked.pt", c10::Device(c10::kCPU), 64, 0);
  EXPECT_EQ(pruned.stats.params, measure(*physical, data.test.inputs(0, 1)).params);
  EXPECT_LT(pruned.stats.params, masked.stats.params);
  EXPECT_EQ(pruned.stats.macs, masked.stats.macs_effective);
  EXPECT_THROW(load_model_file(dir + "/missing.pt", c10::Device(c10::kCPU)), std::runtime_error);
}

TEST(SlicePruning, KernelAndVectorMasksZeroWholeSlicesOnARealModel) {
  for (auto kind : {GranularityKind::Kernel, GranularityKind::Vector}) {
    torch::manual_seed(8);
    auto net = test::make_builtin("resnet20", kShape);
    MaskSet masks(*net);
    prune(masks, Granularity{kind}, 0.6);
    const UnitLayout layout(masks, Granularity{kind});
    EXPECT_NEAR(layout.measured_sparsity(), 0.6, 0.01);
    for (const auto& e : net->layers()) {
      const auto& w = e.weight;
      if (w.dim() != 4) continue;
      // Slices: a whole kh x kw kernel, or one row of it. Each is entirely zero or entirely kept.
      const auto slices = kind == GranularityKind::Kernel ? w.reshape({w.size(0) * w.size(1), -1})
                                                          : w.reshape({w.size(0) * w.size(1) * w.size(2), -1});
      const auto nonzero = slices.ne(0).sum(1);
      EXPECT_TRUE(nonzero.eq(0).logical_or(nonzero.eq(slices.size(1))).all().item<bool>()) << e.name;
      EXPECT_GT(nonzero.eq(0).sum().item<int64_t>(), 0) << e.name;
    }
  }
}
