#pragma once
/// Per layer, the faster of its dense computation and its sparse kernel, chosen by measurement:
/// the first time an input shape is seen, both run a few times on that very input, their
/// outputs are compared, and the faster one is used for that shape from then on. So a layer
/// never runs slower than dense (up to the timing's noise), and a sparse result that disagrees
/// with dense is a loud error, not a silently wrong latency.

#include "kernels/sparse_conv.hpp"

#include <ATen/core/Tensor.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prunelab::kernels {

/// Sparse kernels are not tried on layers denser than this: a dense kernel always wins there.
constexpr double kMaxSparseDensity = 0.7;

/// How far the sparse output may be from the dense one (relative to the output's magnitude).
constexpr double kSparseTolerance = 1e-5;

/// What one layer decided for one input shape.
struct KernelDecision {
  std::vector<int64_t> input_sizes;
  bool sparse = false;
  bool dense_to_channels_last = true;  // when dense: convert an NCHW input first (measured faster)
  double dense_ms = 0, sparse_ms = 0;  // medians of the timing that decided (dense: the faster way)
  double max_rel_diff = 0;             // sparse vs dense output at the decision
};

class MeasuredChoice {
 public:
  using Forward = std::function<at::Tensor(const at::Tensor&)>;

  /// `dense` computes the layer as the model would; `sparse` the same from the nonzeros.
  MeasuredChoice(std::string layer_name, Forward dense, std::unique_ptr<SparseConv> sparse);

  /// The layer's output, by the kernel chosen for x's shape, with `epilogue` applied (fused by
  /// the sparse kernel, in place after a dense one). Inputs the sparse kernel cannot take
  /// (another device or type, gradients wanted, a shape it does not support) run dense.
  at::Tensor forward(const at::Tensor& x, const Epilogue& epilogue = {});

  std::vector<KernelDecision> decisions() const;
  /// While disabled, every input runs dense (decisions are kept).
  void set_enabled(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }
  const std::string& layer_name() const { return name_; }
  double density() const { return sparse_->density(); }

 private:
  const KernelDecision& decide(const at::Tensor& x, const Epilogue& e);
  at::Tensor dense_with(const at::Tensor& x, const Epilogue& e, bool to_channels_last) const;

  std::string name_;
  Forward dense_;
  std::unique_ptr<SparseConv> sparse_;
  mutable std::mutex mutex_;
  std::map<std::vector<int64_t>, KernelDecision> decided_;
  std::atomic<bool> enabled_{true};
};

/// A sparse plan for a layer with this weight if it is sparse enough to be worth one (null
/// otherwise): float32 on the CPU, density at most kMaxSparseDensity.
std::unique_ptr<SparseConv> sparse_plan_for(const at::Tensor& weight, const at::Tensor& bias, ConvParams params);

}  // namespace prunelab::kernels
