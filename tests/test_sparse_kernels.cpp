// Sparse execution (issue 18): the sparse kernels compute what the dense ones compute, on every
// layer shape the models use and the awkward ones around them, and a model running them gives
// its dense outputs.
#include "kernels/measured_choice.hpp"
#include "kernels/sparse_conv.hpp"
#include "kernels/sparse_rows.hpp"
#include "models/layers.hpp"
#include "models/model.hpp"
#include "models/model_spec.hpp"
#include "prune/latency.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

namespace prunelab {
namespace {

// Zeroes all but `density` of the entries, at random positions.
at::Tensor sparsify(const at::Tensor& w, double density) {
  return w * (at::rand(w.sizes()) < density).to(w.scalar_type());
}

double relative_max_diff(const at::Tensor& a, const at::Tensor& b) {
  const double scale = std::max(b.abs().max().item<double>(), 1e-30);
  return (a - b).abs().max().item<double>() / scale;
}

struct ConvCase {
  int64_t in, out, h, w, kh, kw, stride, padding, dilation, groups, batch;
  double density;
  bool bias, channels_last;
};

class SparseConvShapes : public ::testing::TestWithParam<ConvCase> {};

TEST_P(SparseConvShapes, EqualsDenseConv) {
  const auto c = GetParam();
  at::manual_seed(7);
  auto weight = sparsify(at::randn({c.out, c.in / c.groups, c.kh, c.kw}), c.density);
  auto bias = c.bias ? at::randn({c.out}) : at::Tensor();
  auto x = at::randn({c.batch, c.in, c.h, c.w});
  if (c.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  const auto dense = at::conv2d(x, weight, bias, {c.stride, c.stride}, {c.padding, c.padding},
                                {c.dilation, c.dilation}, c.groups);
  kernels::SparseConv sparse(weight, bias, {c.stride, c.padding, c.dilation, c.groups});
  ASSERT_TRUE(sparse.supports(x.sizes()));
  const auto got = sparse.forward(x);
  ASSERT_EQ(got.sizes(), dense.sizes());
  EXPECT_LT(relative_max_diff(got, dense), kernels::kSparseTolerance);
  // A second call with the same geometry reuses the workspaces; a different batch rebuilds them.
  EXPECT_LT(relative_max_diff(sparse.forward(x), dense), kernels::kSparseTolerance);
  const auto one = x.narrow(0, 0, 1);
  EXPECT_LT(relative_max_diff(sparse.forward(one), dense.narrow(0, 0, 1)), kernels::kSparseTolerance);
  // The epilogue: fused into the output copy when the residual is laid out as the output, after
  // it otherwise (a channels-last residual).
  const auto residual = at::randn(dense.sizes());
  const auto want = at::relu(dense + residual);
  EXPECT_LT(relative_max_diff(sparse.forward(x, {residual, true}), want), kernels::kSparseTolerance);
  EXPECT_LT(relative_max_diff(sparse.forward(x, {residual.contiguous(at::MemoryFormat::ChannelsLast), true}), want),
            kernels::kSparseTolerance);
  EXPECT_LT(relative_max_diff(sparse.forward(x, {residual, false}), dense + residual), kernels::kSparseTolerance);
  const auto relu = sparse.forward(x, kernels::Epilogue::relu_only());
  EXPECT_LT(relative_max_diff(relu, at::relu(dense)), kernels::kSparseTolerance);
  EXPECT_GE(relu.min().item<float>(), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(
    Layers, SparseConvShapes,
    ::testing::Values(
        // ResNet-20's layers: 3x3 stride 1 and 2, the 1x1 stride-2 shortcut, at batch 1 and 64.
        ConvCase{16, 16, 32, 32, 3, 3, 1, 1, 1, 1, 64, 0.1, false, true},
        ConvCase{16, 32, 32, 32, 3, 3, 2, 1, 1, 1, 1, 0.1, false, true},
        ConvCase{16, 32, 32, 32, 1, 1, 2, 0, 1, 1, 3, 0.2, true, true},
        ConvCase{64, 64, 8, 8, 3, 3, 1, 1, 1, 1, 64, 0.05, true, false},
        ConvCase{3, 16, 32, 32, 3, 3, 1, 1, 1, 1, 2, 0.5, false, true},
        // LeNet-5's 5x5 without padding; a 1x1 stride-1 conv; odd, non-square inputs.
        ConvCase{1, 6, 28, 28, 5, 5, 1, 0, 1, 1, 4, 0.3, true, false},
        ConvCase{24, 40, 7, 9, 1, 1, 1, 0, 1, 1, 5, 0.25, true, true},
        ConvCase{8, 12, 11, 13, 3, 3, 2, 1, 1, 1, 2, 0.3, true, false},
        // Stride 2 from NCHW (after a sparse layer): each row split into both column phases at
        // once, for every padding parity, odd and even widths, widths past a vector.
        ConvCase{16, 32, 32, 32, 3, 3, 2, 1, 1, 1, 8, 0.1, true, false},
        ConvCase{4, 6, 19, 21, 3, 3, 2, 0, 1, 1, 2, 0.4, false, false},
        ConvCase{4, 6, 18, 20, 5, 5, 2, 2, 1, 1, 2, 0.4, true, false},
        ConvCase{4, 6, 17, 35, 3, 3, 2, 3, 1, 1, 2, 0.4, true, false},
        ConvCase{8, 8, 10, 10, 3, 3, 3, 2, 1, 1, 2, 0.4, false, false},
        // Rectangular kernel, dilation, grouped and depthwise convs.
        ConvCase{6, 6, 9, 9, 1, 3, 1, 1, 1, 1, 2, 0.5, false, false},
        ConvCase{8, 8, 12, 12, 3, 3, 1, 2, 2, 1, 2, 0.3, true, false},
        ConvCase{8, 16, 12, 12, 3, 3, 1, 1, 1, 2, 3, 0.3, true, true},
        ConvCase{16, 16, 14, 14, 3, 3, 2, 1, 1, 16, 2, 0.6, true, true},
        // Tiny spatial size (fewer positions than a vector) and an all-zero weight.
        ConvCase{32, 10, 2, 2, 1, 1, 1, 0, 1, 1, 1, 0.5, true, false},
        ConvCase{8, 8, 6, 6, 3, 3, 1, 1, 1, 1, 2, 0.0, true, false}));

TEST(SparseLinear, EqualsDenseLinearAtEveryBatch) {
  at::manual_seed(3);
  auto weight = sparsify(at::randn({300, 784}), 0.05);
  auto bias = at::randn({300});
  kernels::SparseConv sparse(weight, bias);
  ASSERT_TRUE(sparse.is_linear());
  EXPECT_NEAR(sparse.density(), 0.05, 0.01);
  for (int64_t batch : {1, 5, 16, 64, 70}) {
    auto x = at::randn({batch, 784});
    EXPECT_LT(relative_max_diff(sparse.forward(x), at::linear(x, weight, bias)), kernels::kSparseTolerance)
        << "batch " << batch;
  }
  // Non-contiguous inputs: a transposed view (copied by ATen) and rows with a gap between them
  // (transposed by the kernel's own blocks, through the row stride).
  auto xt = at::randn({784, 8}).t();
  EXPECT_LT(relative_max_diff(sparse.forward(xt), at::linear(xt, weight, bias)), kernels::kSparseTolerance);
  auto xr = at::randn({13, 800}).narrow(1, 5, 784);
  EXPECT_LT(relative_max_diff(sparse.forward(xr), at::linear(xr, weight, bias)), kernels::kSparseTolerance);
}

// Every ISA's tile kernel (the machine runs only its widest): out[j] = bias + sum_k v[k] * in[off[k] + j].
TEST(SparseRows, EveryTileKernelOfThisMachineSumsItsRow) {
  at::manual_seed(4);
  const auto in = at::randn({4096});
  const auto offsets = at::randint(0, 4096 - kernels::kTile, {37}).to(at::kInt);
  const auto values = at::randn({37});
  for (int64_t nnz : {0, 1, 2, 37}) {
    auto want = at::full({kernels::kTile}, 0.5f);
    for (int64_t k = 0; k < nnz; ++k)
      want += values[k] * in.narrow(0, offsets[k].item<int>(), kernels::kTile);
    for (const auto& [isa, kernel] : kernels::tile_kernels_here()) {
      auto got = at::empty({kernels::kTile});
      kernel(in.data_ptr<float>(), offsets.data_ptr<int32_t>(), values.data_ptr<float>(), nnz, 0.5f,
             got.data_ptr<float>());
      EXPECT_LT(relative_max_diff(got, want), kernels::kSparseTolerance) << isa << ", " << nnz << " nonzeros";
    }
  }
}

// The transposes into and out of a linear layer's planes: whole 8x8 blocks, the edges around
// them, and strides wider than the rows.
TEST(SparseLinear, TransposeMovesEveryElement) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {8, 8}, {3, 29}, {64, 784}, {300, 17}, {9, 16}}) {
    auto src = at::randn({rows, cols + 3});
    auto dst = at::full({cols, rows + 5}, -1.0f);
    kernels::transpose(src.data_ptr<float>(), rows, cols, cols + 3, dst.data_ptr<float>(), rows + 5);
    EXPECT_TRUE(at::equal(dst.narrow(1, 0, rows), src.narrow(1, 0, cols).t())) << rows << "x" << cols;
    EXPECT_TRUE(at::equal(dst.narrow(1, rows, 5), at::full({cols, 5}, -1.0f))) << "wrote past the rows";
  }
}

TEST(SparseConvInput, WrongInputIsRefusedNotMisread) {
  kernels::SparseConv sparse(sparsify(at::randn({4, 3, 3, 3}), 0.5), at::Tensor(), {1, 1, 1, 1});
  EXPECT_FALSE(sparse.supports(at::IntArrayRef{2, 5, 8, 8}));  // 5 channels, not 3
  EXPECT_FALSE(sparse.supports(at::IntArrayRef{2, 3, 8}));
  EXPECT_THROW(sparse.forward(at::randn({2, 5, 8, 8})), std::invalid_argument);
  EXPECT_THROW(sparse.forward(at::randn({2, 3, 8, 8}).to(at::kDouble)), std::invalid_argument);
}

TEST(MeasuredChoice, DecidesOncePerShapeAndAlwaysGivesTheDenseOutput) {
  at::manual_seed(5);
  auto weight = sparsify(at::randn({32, 32, 3, 3}), 0.1);
  auto dense = [weight](const at::Tensor& x) { return at::conv2d(x, weight, {}, {1, 1}, {1, 1}); };
  kernels::MeasuredChoice choice("conv", dense, kernels::sparse_plan_for(weight, {}, {1, 1, 1, 1}));
  c10::InferenceMode guard;
  for (int64_t batch : {1, 8}) {
    auto x = at::randn({batch, 32, 16, 16});
    for (int i = 0; i < 3; ++i) EXPECT_LT(relative_max_diff(choice.forward(x), dense(x)), kernels::kSparseTolerance);
  }
  const auto decisions = choice.decisions();
  ASSERT_EQ(decisions.size(), 2u);  // one per batch size, not one per call
  for (const auto& d : decisions) {
    EXPECT_GT(d.dense_ms, 0);
    EXPECT_GT(d.sparse_ms, 0);
    EXPECT_EQ(d.sparse, d.sparse_ms < d.dense_ms);
    EXPECT_LT(d.max_rel_diff, kernels::kSparseTolerance);
  }
}

TEST(MeasuredChoice, DenseLayersGetNoPlanAndGradientsRunDense) {
  EXPECT_EQ(kernels::sparse_plan_for(at::randn({8, 8, 3, 3}), {}, {}), nullptr);
  EXPECT_EQ(kernels::sparse_plan_for(at::randn({8, 8}).to(at::kDouble) * 0, {}, {}), nullptr);
  auto weight = sparsify(at::randn({8, 8}), 0.2);
  kernels::MeasuredChoice choice("fc", [weight](const at::Tensor& x) { return at::linear(x, weight); },
                                 kernels::sparse_plan_for(weight, {}, {}));
  auto x = at::randn({4, 8}).requires_grad_();
  auto y = choice.forward(x);
  EXPECT_TRUE(y.requires_grad());  // the dense path, so backward still works
  EXPECT_TRUE(choice.decisions().empty());
}

// A layer's epilogue (what the network does next) runs in place only where nobody else sees the
// layer's own output: a hook still sees the conv's output, not the ReLU's.
TEST(SparseExecution, EpilogueLeavesHooksTheLayersOwnOutput) {
  at::manual_seed(5);
  auto conv = std::make_shared<Conv2dLayerImpl>(ConvSpec{4, 4, 3, 1, 1});
  const auto x = at::randn({2, 4, 6, 6}), residual = at::randn({2, 4, 6, 6});
  at::NoGradGuard no_grad;
  const auto own = conv->dense_forward(x);
  EXPECT_TRUE(at::allclose(conv->forward(x, {residual, true}), at::relu(own + residual)));
  at::Tensor seen;
  conv->hook = [&](const at::Tensor&, const at::Tensor& out) { seen = out; };
  const auto y = conv->forward(x, {residual, true});
  EXPECT_TRUE(at::equal(seen, own));
  EXPECT_TRUE(at::allclose(y, at::relu(own + residual)));
}

// Prunes every conv/linear layer of a built-in model to `density`, at random.
void prune_at_random(Model& m, double density) {
  at::NoGradGuard no_grad;
  for (auto& l : m.layers()) l.weight.mul_((at::rand(l.weight.sizes()) < density).to(at::kFloat));
}

void expect_sparse_equals_dense(const std::string& arch, const InputShape& shape, double density,
                                size_t expected_candidates) {
  at::manual_seed(11);
  auto model = test::make_builtin(arch, shape);
  prune_at_random(*model, density);
  model->eval();
  auto fold = model->fold_batchnorm();
  c10::InferenceMode guard;
  for (int64_t batch : {1, 16}) {
    auto x = to_model_layout(at::randn({batch, shape.channels, shape.height, shape.width}));
    const auto dense = model->forward(x);
    {
      auto sparse = model->use_sparse_kernels();
      EXPECT_EQ(sparse->layers().size(), expected_candidates);
      for (int i = 0; i < 2; ++i)
        EXPECT_LT(relative_max_diff(model->forward(x), dense), kernels::kSparseTolerance) << arch << " batch " << batch;
      EXPECT_LE(sparse->sparse_layers(batch), expected_candidates);
      EXPECT_LT(sparse->max_rel_diff(), kernels::kSparseTolerance);
    }
    // The handle gone, the model is dense again: bit for bit what it was.
    EXPECT_TRUE(at::equal(model->forward(x), dense));
  }
}

TEST(SparseExecution, ResNet20At90PercentGivesItsDenseOutputs) {
  expect_sparse_equals_dense("resnet20", {3, 32, 32, 10}, 0.1, 22);  // 19 convs, 2 shortcuts, fc
}

// Two threads: chunks of images run in parallel, each on its own workspace.
TEST(SparseExecution, ResNet20OnTwoThreadsGivesItsDenseOutputs) {
  struct Threads {
    int before = at::get_num_threads();
    ~Threads() { at::set_num_threads(before); }  // also when a check throws
  } restore;
  at::set_num_threads(2);
  expect_sparse_equals_dense("resnet20", {3, 32, 32, 10}, 0.1, 22);
  at::manual_seed(9);
  auto w = sparsify(at::randn({16, 16, 3, 3}), 0.1);
  auto x = at::randn({64, 16, 32, 32}).contiguous(at::MemoryFormat::ChannelsLast);
  kernels::SparseConv sparse(w, {}, {1, 1, 1, 1});
  EXPECT_LT(relative_max_diff(sparse.forward(x), at::conv2d(x, w, {}, 1, 1)), kernels::kSparseTolerance);
  // A linear layer's chunks: a strided input copies with ATen ops on the worker threads, under
  // inference mode; a contiguous one, and one with gaps between its rows (each chunk starts at
  // its first row times the row stride), are transposed by each worker.
  c10::InferenceMode guard;
  auto fc = sparsify(at::randn({300, 784}), 0.05);
  kernels::SparseConv sparse_fc(fc, {});
  for (const auto& xs : {at::randn({784, 256}).t(), at::randn({256, 784}), at::randn({256, 800}).narrow(1, 5, 784)})
    EXPECT_LT(relative_max_diff(sparse_fc.forward(xs), at::linear(xs, fc)), kernels::kSparseTolerance);
}

TEST(SparseExecution, LeNet300At95PercentGivesItsDenseOutputs) {
  expect_sparse_equals_dense("lenet300", {1, 28, 28, 10}, 0.05, 3);
}

// A user's TorchScript network: its conv/linear calls are routed through prunelab's operators
// at load, so the same kernels run there (scripted, traced and depthwise convs).
TEST(SparseExecution, TorchScriptModelsGiveTheirDenseOutputs) {
  for (const auto* file : {"resnet20.pt", "resnet20_traced.pt", "mobilenet.pt"}) {
    ModelSpec spec;
    spec.type = "torchscript";
    spec.path = std::string(TS_MODEL_DIR) + "/" + file;
    spec.name = file;
    at::manual_seed(4);
    const InputShape shape{1, 28, 28, 10};
    auto model = make_model(spec, shape);
    prune_at_random(*model, 0.1);
    model->eval();
    c10::InferenceMode guard;
    auto x = to_model_layout(at::randn({8, 1, 28, 28}));
    const auto dense = model->forward(x);
    {
      auto sparse = model->use_sparse_kernels();
      size_t known = 0;
      for (const auto& l : model->layers()) known += l.kind == LayerKind::Linear || l.conv.known;
      EXPECT_EQ(sparse->layers().size(), known) << file;
      EXPECT_GT(known, 0u) << file;
      for (int i = 0; i < 2; ++i)
        EXPECT_LT(relative_max_diff(model->forward(x), dense), kernels::kSparseTolerance) << file;
      EXPECT_LT(sparse->max_rel_diff(), kernels::kSparseTolerance) << file;
      // Every layer decided once for this batch: the routed calls reached the kernels.
      for (const auto& l : sparse->layers()) EXPECT_EQ(l->decisions().size(), 1u) << file << " " << l->layer_name();
    }
    EXPECT_TRUE(at::equal(model->forward(x), dense)) << file;
  }
}

TEST(SparseExecution, LatencyCountsTheLayersThatRanSparse) {
  at::manual_seed(2);
  const InputShape shape{1, 28, 28, 10};
  auto dense = test::make_builtin("lenet300", shape);
  auto pruned = dense->clone();
  prune_at_random(*pruned, 0.05);
  const auto t = compare_latency(*dense, *pruned, shape, 4, 3, 2, c10::Device(c10::kCPU));
  EXPECT_EQ(t.a_sparse_layers, 0u);  // nothing to gain on dense weights: no layer is offered one
  EXPECT_LE(t.b_sparse_layers, 3u);
  EXPECT_LT(t.max_kernel_diff, kernels::kSparseTolerance);
  const auto off = compare_latency(*dense, *pruned, shape, 4, 3, 2, c10::Device(c10::kCPU), false);
  EXPECT_EQ(off.b_sparse_layers, 0u);
  // runner eval's comparison: one model, dense-only passes alternating with its chosen kernels.
  const auto kernels_vs_dense = compare_kernels(*pruned, shape, 64, 3, 2, c10::Device(c10::kCPU));
  EXPECT_GT(kernels_vs_dense.a_ms, 0);
  EXPECT_GT(kernels_vs_dense.b_ms, 0);
  EXPECT_LE(kernels_vs_dense.b_sparse_layers, 3u);
  EXPECT_LT(kernels_vs_dense.max_kernel_diff, kernels::kSparseTolerance);
}

}  // namespace
}  // namespace prunelab
