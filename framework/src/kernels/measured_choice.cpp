#include "kernels/measured_choice.hpp"

#include "core/median.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace prunelab::kernels {

namespace {
// Timed passes per kernel at a decision (after one untimed pass each), alternating so drift in
// the machine's load hits both alike.
constexpr int kTimedPasses = 5;
// A difference this large is a kernel bug, not rounding: the run fails rather than time it.
constexpr double kBugTolerance = 1e-3;

template <class F>
double time_ms(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double relative_max_diff(const at::Tensor& a, const at::Tensor& b) {
  const double scale = b.abs().max().item<double>();
  const double diff = (a - b.reshape(a.sizes())).abs().max().item<double>();
  if (scale == 0) return diff == 0 ? 0 : std::numeric_limits<double>::infinity();
  return diff / scale;
}
}  // namespace

MeasuredChoice::MeasuredChoice(std::string layer_name, Forward dense, std::unique_ptr<SparseConv> sparse)
    : name_(std::move(layer_name)), dense_(std::move(dense)), sparse_(std::move(sparse)) {}

namespace {
// Sparse kernels return NCHW; the models run channels-last (to_model_layout), where oneDNN is
// usually faster. So a dense layer after a sparse one may convert its input first, or not: the
// conversion can cost more than the conv (a 1x1 shortcut), so a decision times both.
bool convertible(const at::Tensor& x) {
  return x.dim() == 4 && x.size(1) > 1 && !x.is_contiguous(at::MemoryFormat::ChannelsLast);
}
}  // namespace

at::Tensor MeasuredChoice::dense_with(const at::Tensor& x, const Epilogue& e, bool to_channels_last) const {
  auto y = dense_(to_channels_last && convertible(x) ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
  apply_in_place(y, e);
  return y;
}

// The epilogue is part of every timing: the sparse kernel's fused copy is part of what it wins.
const KernelDecision& MeasuredChoice::decide(const at::Tensor& x, const Epilogue& e) {
  KernelDecision d;
  d.input_sizes = x.sizes().vec();
  d.dense_to_channels_last = true;
  // A shape the sparse kernel cannot take is decided dense once, so it is not asked again.
  if (!sparse_->supports(x.sizes())) return decided_.emplace(d.input_sizes, std::move(d)).first->second;
  // Compared without the epilogue too: a residual added to both would hide a conv's error
  // behind its own magnitude.
  d.max_rel_diff = std::max(relative_max_diff(sparse_->forward(x), dense_with(x, {}, false)),
                            relative_max_diff(sparse_->forward(x, e), dense_with(x, e, false)));
  if (!(d.max_rel_diff <= kBugTolerance))
    throw std::logic_error(fmt::format("the sparse kernel of '{}' differs from dense by {:.3g} (relative)", name_,
                                       d.max_rel_diff));
  const bool both_dense_ways = convertible(x);
  if (both_dense_ways) dense_with(x, e, true);  // untimed, as the other two had theirs above
  std::vector<double> as_is_ms, converted_ms, sparse_ms;
  for (int i = 0; i < kTimedPasses; ++i) {
    as_is_ms.push_back(time_ms([&] { dense_with(x, e, false); }));
    if (both_dense_ways) converted_ms.push_back(time_ms([&] { dense_with(x, e, true); }));
    sparse_ms.push_back(time_ms([&] { sparse_->forward(x, e); }));
  }
  d.dense_ms = median(as_is_ms);
  d.dense_to_channels_last = both_dense_ways && median(converted_ms) < d.dense_ms;
  if (d.dense_to_channels_last) d.dense_ms = median(converted_ms);
  d.sparse_ms = median(sparse_ms);
  // Rounding differences above the tolerance (never seen in the tests) keep the layer dense.
  d.sparse = d.sparse_ms < d.dense_ms && d.max_rel_diff <= kSparseTolerance;
  return decided_.emplace(d.input_sizes, std::move(d)).first->second;
}

at::Tensor MeasuredChoice::forward(const at::Tensor& x, const Epilogue& epilogue) {
  const bool wants_grad = at::GradMode::is_enabled() && x.requires_grad();
  if (!enabled_ || wants_grad || !x.device().is_cpu() || x.scalar_type() != at::kFloat)
    return dense_with(x, epilogue, true);
  const KernelDecision* d = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = decided_.find(x.sizes().vec());
    d = it != decided_.end() ? &it->second : &decide(x, epilogue);  // std::map: entries stay put
  }
  return d->sparse ? sparse_->forward(x, epilogue) : dense_with(x, epilogue, d->dense_to_channels_last);
}

std::vector<KernelDecision> MeasuredChoice::decisions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<KernelDecision> out;
  for (const auto& [sizes, d] : decided_) out.push_back(d);
  return out;
}

std::unique_ptr<SparseConv> sparse_plan_for(const at::Tensor& weight, const at::Tensor& bias, ConvParams params) {
  if (!weight.defined() || !weight.device().is_cpu() || weight.scalar_type() != at::kFloat) return nullptr;
  if (weight.dim() != 2 && weight.dim() != 4) return nullptr;
  const double density = weight.ne(0).sum().item<double>() / static_cast<double>(weight.numel());
  if (density > kMaxSparseDensity) return nullptr;
  return std::make_unique<SparseConv>(weight, bias, params);
}

}  // namespace prunelab::kernels
