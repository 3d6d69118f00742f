// TorchScript models behind the Model interface: loading, what the model layer finds in them,
// bad files, training-mode flags, saving back to TorchScript, and the Python twin of ResNet-20.

#include "models/model_spec.hpp"
#include "models/torchscript_model.hpp"
#include "prune/masks.hpp"
#include "prune/physical.hpp"
#include "prune/pruner.hpp"
#include "run/model_file.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cstdlib>
#include <fstream>
#include <set>

using namespace prunelab;

namespace {

std::string ts(const std::string& file) { return std::string(TS_MODEL_DIR) + "/" + file; }

ModelSpec torchscript(const std::string& file, const std::string& init = "file") {
  ModelSpec m;
  m.type = "torchscript";
  m.path = ts(file);
  m.name = file;
  m.init = init;
  return m;
}

const InputShape kMnist{1, 28, 28, 10};

std::string error_of(const ModelSpec& spec, const InputShape& shape) {
  try {
    make_model(spec, shape);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// A deterministic input both C++ and Python can compute: sin(0.01 * (index + 1)).
at::Tensor fixed_input(int64_t n) {
  return at::sin(at::arange(1, n * 28 * 28 + 1, at::kFloat) * 0.01).reshape({n, 1, 28, 28});
}

}  // namespace

TEST(TorchScriptModel, BadFilesAreOneLineErrorsNamingTheFile) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing.pt", "not found"},
      {"garbage.pt", "is not a TorchScript file"},
      {"not_torchscript.pt", "is not a TorchScript file"},
      {"no_layers.pt", "has no nn.Conv2d or nn.Linear layer"},
      {"frozen.pt", "has no parameters: a frozen module"},
      {"wrong_output.pt", "expected [2, 10] (batch, classes)"},
  };
  for (const auto& [file, expected] : cases) {
    const auto msg = error_of(torchscript(file), kMnist);
    EXPECT_NE(msg.find(ts(file)), std::string::npos) << msg;
    EXPECT_NE(msg.find(expected), std::string::npos) << file << ": " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    EXPECT_EQ(msg.find("frame #"), std::string::npos) << msg;
  }
  // A probe forward with the wrong input shape names the shape and what failed.
  const auto msg = error_of(torchscript("small_cnn.pt"), {3, 32, 32, 10});
  EXPECT_NE(msg.find("a forward pass on input [N, 3, 32, 32] failed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  // A declared input that the data does not have.
  auto declared = torchscript("small_cnn.pt");
  declared.input = {1, 32, 32};
  EXPECT_NE(error_of(declared, kMnist).find("declares input [1, 32, 32]"), std::string::npos);
  // keep_dense patterns must match a layer.
  auto keep = torchscript("small_cnn.pt");
  keep.keep_dense = {"nonexistent*"};
  EXPECT_NE(error_of(keep, kMnist).find("keep_dense pattern 'nonexistent*' matches no layer"), std::string::npos);
}

TEST(TorchScriptModel, FindsLayersBatchNormsGeometryAndMacsInScriptedAndTracedFiles) {
  for (const auto* file : {"small_cnn.pt", "small_cnn_traced.pt"}) {
    auto model = make_model(torchscript(file), kMnist);
    model->probe(at::zeros({1, 1, 28, 28}));
    const auto& l = model->layers();
    ASSERT_EQ(l.size(), 4u) << file;
    EXPECT_EQ(l[0].name, "features.0");
    EXPECT_EQ(l[1].name, "features.3");
    EXPECT_EQ(l[2].name, "classifier.2");
    EXPECT_EQ(l[3].name, "classifier.4");
    EXPECT_EQ(l[0].kind, LayerKind::Conv2d);
    EXPECT_EQ(l[2].kind, LayerKind::Linear);
    EXPECT_TRUE(l[0].bn.defined() && l[1].bn.defined()) << file;
    EXPECT_FALSE(l[2].bn.defined());
    EXPECT_FALSE(l[0].bias.defined());
    EXPECT_TRUE(l[1].bias.defined());
    EXPECT_EQ(l[1].conv.stride, 2);
    EXPECT_EQ(l[1].conv.padding, 1);
    EXPECT_TRUE(l[1].conv.known);
    EXPECT_EQ(l[0].macs_per_weight, 28 * 28);
    EXPECT_EQ(l[1].macs_per_weight, 14 * 14);
    EXPECT_EQ(l[2].macs_per_weight, 1);
    EXPECT_EQ(l[0].calls, 1);
    EXPECT_EQ(model->batchnorms().size(), 2u);
    EXPECT_NEAR(model->batchnorms()[0].momentum, 0.1, 1e-12);
  }
}

TEST(TorchScriptModel, TracedBatchNormAndDropoutFollowTrainAndEval) {
  auto model = make_model(torchscript("small_cnn_traced.pt"), kMnist);
  const auto x = fixed_input(4);
  at::NoGradGuard g;
  const auto mean = model->batchnorms()[0].running_mean;
  const auto before = mean.clone();
  model->eval();
  const auto e1 = model->forward(x), e2 = model->forward(x);
  EXPECT_TRUE(at::equal(e1, e2));  // eval: no dropout
  EXPECT_TRUE(at::equal(mean, before));  // eval: statistics untouched
  model->train();
  torch::manual_seed(1);
  const auto t1 = model->forward(x);
  const auto t2 = model->forward(x);
  EXPECT_FALSE(at::equal(t1, t2));  // training: dropout draws
  EXPECT_FALSE(at::equal(mean, before));  // training: running statistics move
}

TEST(TorchScriptModel, PythonTwinOfResNet20DrawsTrainsAndComputesLikeTheBuiltIn) {
  for (const auto* file : {"resnet20.pt", "resnet20_traced.pt"}) {
  SCOPED_TRACE(file);
  torch::manual_seed(3);
  auto builtin = test::make_builtin("resnet20", kMnist);
  torch::manual_seed(3);
  auto twin = make_model(torchscript(file, "seed"), kMnist);
  // Same names, same values to the bit.
  auto a = builtin->named_parameters(), b = twin->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
  ASSERT_EQ(builtin->layers().size(), twin->layers().size());
  for (size_t i = 0; i < builtin->layers().size(); ++i) {
    EXPECT_EQ(builtin->layers()[i].name, twin->layers()[i].name);
    EXPECT_EQ(builtin->layers()[i].bn.defined(), twin->layers()[i].bn.defined()) << builtin->layers()[i].name;
  }
  // Twenty SGD steps on the same batches: bit-identical weights and outputs.
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.val_size = 50;
  spec.synthetic_train = 256;
  spec.synthetic_size = 28;
  spec.synthetic_classes = 10;
  const auto data = load_data(spec);
  OptimSpec o;
  o.batch_size = 32;
  const auto ra = train_steps(*builtin, data.train, o, 20, 5, nullptr, {}, at::kCPU);
  const auto rb = train_steps(*twin, data.train, o, 20, 5, nullptr, {}, at::kCPU);
  EXPECT_EQ(ra.mean_loss, rb.mean_loss);
  a = builtin->named_parameters(), b = twin->named_parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  builtin->eval();
  twin->eval();
  at::NoGradGuard g;
  const auto x = to_model_layout(fixed_input(8));
  EXPECT_TRUE(at::equal(builtin->forward(x), twin->forward(x)));
  }
}

TEST(TorchScriptModel, RecalibrationGivesTheBatchStatisticsWhateverTheMomentum) {
  auto model = make_model(torchscript("small_cnn.pt"), kMnist);
  DataSpec spec;
  spec.dataset = "synthetic";
  spec.val_size = 50;
  spec.synthetic_train = 256;
  spec.synthetic_size = 28;
  spec.synthetic_classes = 10;
  const auto data = load_data(spec);
  model->eval();
  recalibrate_batchnorm(*model, data.train, 1, 64, 9, at::kCPU);
  EXPECT_FALSE(model->is_training());
  // The first BatchNorm now holds the statistics of the first conv's output on that batch.
  BatchSampler sampler(data.train, 64, 9);
  const auto x = sampler.next().first;
  at::NoGradGuard g;
  const auto& conv = model->layers()[0];
  const auto y = at::conv2d(x, conv.weight, {}, 1, 1);
  EXPECT_TRUE(at::allclose(model->batchnorms()[0].running_mean, y.mean({0, 2, 3}), 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(model->batchnorms()[0].running_var, y.var({0, 2, 3}, true), 1e-4, 1e-5));
}

TEST(TorchScriptModel, PrunedModelSavesAsTorchScriptThatPythonLoadsWithTheSameOutputs) {
  const auto dir = test::scratch_dir("ts_save");
  auto model = make_model(torchscript("small_cnn.pt"), kMnist);
  model->probe(at::zeros({1, 1, 28, 28}));
  MaskSet masks(*model);
  const UnitLayout layout(masks, Granularity{});
  auto views = masks.views();
  std::vector<at::Tensor> scores;
  for (const auto& v : views) scores.push_back(v.weight.detach().abs().flatten());
  const std::vector<double> ratios(layout.units().size(), 0.6);
  write_masks(masks, layout.expand(select_slices(scores, ratios, layout.units(), views, layout.granularity())));
  model->eval();
  at::Tensor expected;
  {
    at::NoGradGuard g;
    expected = model->forward(to_model_layout(fixed_input(3)));
  }
  ModelFileInfo info{"small_cnn", kMnist, DataSpec{}, "masked", "r", "element", 0.5};
  const auto path = dir + "/m.pt";
  save_model_file(path, *model, info);

  // Reloaded by prunelab: same outputs, same metadata, pruned weights still zero.
  auto loaded = load_model_file(path, at::kCPU);
  EXPECT_EQ(loaded.info.model, "small_cnn");
  loaded.model->eval();
  {
    at::NoGradGuard g;
    EXPECT_TRUE(at::allclose(loaded.model->forward(to_model_layout(fixed_input(3))), expected, 1e-6, 1e-6));
  }
  for (size_t i = 0; i < masks.size(); ++i)
    EXPECT_TRUE(at::equal(loaded.model->layers()[i].weight.eq(0), masks.masks()[i].eq(0))) << i;

  // Loaded by PyTorch itself (Debian's python3-torch), nothing of prunelab needed.
  const auto out = dir + "/python_out.txt";
  const auto script = fmt::format(
      "import torch\n"
      "m = torch.jit.load('{}')\n"
      "x = torch.sin(torch.arange(1, 3 * 28 * 28 + 1, dtype=torch.float32) * 0.01).reshape(3, 1, 28, 28)\n"
      "y = m(x)\n"
      "zeros = sum(int((p == 0).sum()) for n, p in m.named_parameters() if n.endswith('weight') and p.dim() > 1)\n"
      "open('{}', 'w').write(str(zeros) + '\\n' + '\\n'.join(repr(float(v)) for v in y.flatten()))\n",
      path, out);
  std::ofstream(dir + "/check.py") << script;
  ASSERT_EQ(std::system(fmt::format("{} {}/check.py", TORCH_PYTHON, dir).c_str()), 0);
  std::ifstream in(out);
  int64_t zeros = 0;
  in >> zeros;
  int64_t expected_zeros = 0;
  for (auto& m : masks.masks()) expected_zeros += m.eq(0).sum().item<int64_t>();
  EXPECT_EQ(zeros, expected_zeros);
  std::vector<float> values;
  for (float v; in >> v;) values.push_back(v);
  ASSERT_EQ(values.size(), 30u);
  const auto python = at::tensor(values).reshape({3, 10});
  const double scale = expected.abs().max().item<double>();
  EXPECT_LT((python - expected).abs().max().item<double>(), 1e-5 * std::max(1.0, scale));
}

namespace {
// A group as names, so groups of two models with the same module names compare.
std::set<std::string> named_groups(Model& m) {
  std::set<std::string> out;
  for (const auto& g : m.channel_groups()) {
    std::set<std::string> producers, consumers;
    for (size_t p : g.producers) producers.insert(m.layers()[p].name);
    for (const auto& c : g.consumers) consumers.insert(fmt::format("{}x{}", m.layers()[c.layer].name, c.spatial));
    out.insert(fmt::format("{} -> {}{}", fmt::join(producers, " "), fmt::join(consumers, " "), g.residual ? " (residual)" : ""));
  }
  return out;
}
}  // namespace

TEST(ChannelAnalysis, FindsTheBuiltInResNet20sDeclaredGroupsInItsPythonTwin) {
  auto builtin = test::make_builtin("resnet20", kMnist);
  const auto declared = named_groups(*builtin);
  ASSERT_EQ(declared.size(), 12u);  // 9 blocks' conv1 + 3 residual streams
  for (const auto* file : {"resnet20.pt", "resnet20_traced.pt"}) {
    auto twin = make_model(torchscript(file), kMnist);
    EXPECT_EQ(named_groups(*twin), declared) << file;
    ASSERT_EQ(twin->channel_refusals().size(), 1u) << file;
    EXPECT_EQ(twin->channel_refusals()[0], "fc: the network's output");
  }
}

namespace {
// Prunes every channel group of `model` to half its channels, chosen at random, and returns the
// physically pruned copy (the masked model keeps its zeros).
std::unique_ptr<Model> halve_channels_physically(Model& model) {
  model.probe(at::zeros({1, 1, 28, 28}));
  MaskSet masks(model);
  Granularity g;
  g.kind = GranularityKind::Channel;
  const UnitLayout layout(masks, g);
  auto views = masks.views();
  std::vector<at::Tensor> scores;
  for (const auto& u : layout.units()) scores.push_back(at::rand({u.slices}));
  write_masks(masks, layout.expand(select_slices(scores, std::vector<double>(scores.size(), 0.5), layout.units(), views, g)));
  return physical_copy(model);
}
}  // namespace

TEST(ChannelAnalysis, FlattenIntoALinearLayerMakesEachChannelABlockOfInputs) {
  auto model = make_model(torchscript("small_cnn.pt"), kMnist);
  const auto groups = named_groups(*model);
  EXPECT_EQ(groups, (std::set<std::string>{"features.0 -> features.3x1", "features.3 -> classifier.2x49",
                                           "classifier.2 -> classifier.4x1"}));
  // Pruned and physically removed, the network computes what the masked one computes.
  auto physical = halve_channels_physically(*model);
  const auto x = to_model_layout(fixed_input(4));
  EXPECT_LT(max_output_difference(*model, *physical, x), 1e-5);
  EXPECT_EQ(physical->layers()[1].weight.size(0), 8);   // 16 -> 8 filters
  EXPECT_EQ(physical->layers()[2].weight.size(1), 392); // 8 channels x 49 positions
}

TEST(ChannelAnalysis, LinearLayersOnTokensPruneTheirHiddenUnitsAndNothingThatReadsAnotherDimension) {
  auto model = make_model(torchscript("tokens.pt"), kMnist);
  // fc1's outputs are the tokens' last dimension, which fc2 reads; everything else is refused.
  EXPECT_EQ(named_groups(*model), (std::set<std::string>{"fc1 -> fc2x1"}));
  const auto refused = model->channel_refusals();
  const std::vector<std::string> expected = {
      "patch: aten::flatten that does not start at the channel dimension",
      "side: channels flow through aten::flatten on a linear layer's output of rank > 2",
      "fc2: aten::add combines tensors whose channels are laid out differently", "head: the network's output"};
  EXPECT_EQ(std::set<std::string>(refused.begin(), refused.end()), std::set<std::string>(expected.begin(), expected.end()))
      << fmt::format("{}", fmt::join(refused, "\n"));
  auto physical = halve_channels_physically(*model);
  EXPECT_LT(max_output_difference(*model, *physical, to_model_layout(fixed_input(4))), 1e-5);
  EXPECT_EQ(physical->layers()[1].weight.size(0), 8);  // fc1: 16 -> 8 hidden units
  EXPECT_EQ(physical->layers()[2].weight.size(1), 8);  // fc2 reads them
}
