#include "models/jit_layer_ops.hpp"

#include <ATen/ATen.h>
#include <torch/library.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace prunelab {

namespace {
std::mutex kernels_mutex;
std::unordered_map<const c10::TensorImpl*, std::shared_ptr<kernels::MeasuredChoice>> kernels_by_weight;
std::atomic<size_t> kernel_count{0};

// The kernel registered for `weight`, if any; costs one atomic load when none is (training).
std::shared_ptr<kernels::MeasuredChoice> kernel_for(const at::Tensor& weight) {
  if (kernel_count.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard<std::mutex> lock(kernels_mutex);
  auto it = kernels_by_weight.find(weight.unsafeGetTensorImpl());
  return it == kernels_by_weight.end() ? nullptr : it->second;
}

at::Tensor routed_conv2d(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b,
                         at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  if (auto k = kernel_for(w)) return k->forward(x);
  return at::conv2d(x, w, b, stride, padding, dilation, groups);
}

at::Tensor routed_convolution(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b,
                              at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                              bool transposed, at::IntArrayRef output_padding, int64_t groups, bool benchmark,
                              bool deterministic, bool cudnn_enabled, bool allow_tf32) {
  if (!transposed)
    if (auto k = kernel_for(w)) return k->forward(x);
  return at::_convolution(x, w, b, stride, padding, dilation, transposed, output_padding, groups, benchmark,
                          deterministic, cudnn_enabled, allow_tf32);
}

at::Tensor routed_linear(const at::Tensor& x, const at::Tensor& w, const c10::optional<at::Tensor>& b) {
  if (auto k = kernel_for(w)) return k->forward(x);
  return at::linear(x, w, b);
}

// aten op -> its routed twin (same schema).
const std::vector<std::pair<std::string, std::string>>& routes() {
  static const std::vector<std::pair<std::string, std::string>> r = {
      {"aten::conv2d", "prunelab::conv2d"}, {"aten::_convolution", "prunelab::_convolution"}, {"aten::linear", "prunelab::linear"}};
  return r;
}
}  // namespace

TORCH_LIBRARY_FRAGMENT(prunelab, m) {
  m.def("prunelab::conv2d(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, int[] dilation, "
        "int groups) -> Tensor",
        routed_conv2d);
  m.def("prunelab::_convolution(Tensor input, Tensor weight, Tensor? bias, int[] stride, int[] padding, "
        "int[] dilation, bool transposed, int[] output_padding, int groups, bool benchmark, bool deterministic, "
        "bool cudnn_enabled, bool allow_tf32) -> Tensor",
        routed_convolution);
  m.def("prunelab::linear(Tensor input, Tensor weight, Tensor? bias) -> Tensor", routed_linear);
}

std::string op_name(const torch::jit::Node* n) {
  const std::string k = n->kind().toQualString();
  for (const auto& [aten, routed] : routes())
    if (k == routed) return aten;
  return k;
}

size_t route_layer_ops(torch::jit::Graph& g) {
  std::vector<std::pair<torch::jit::Node*, std::string>> found;
  for_each_node(g.block(), [&](torch::jit::Node* n) {
    const std::string k = n->kind().toQualString();
    for (const auto& [aten, routed] : routes())
      if (k == aten && n->outputs().size() == 1) found.emplace_back(n, routed);
  });
  for (auto& [n, routed] : found) {
    torch::jit::WithInsertPoint guard(n);
    auto* twin = g.insertNode(g.create(c10::Symbol::fromQualString(routed), n->inputs(), 1));
    twin->output()->setType(n->output()->type());
    n->output()->replaceAllUsesWith(twin->output());
    n->destroy();
  }
  return found.size();
}

void register_layer_kernel(const at::Tensor& weight, std::shared_ptr<kernels::MeasuredChoice> kernel) {
  std::lock_guard<std::mutex> lock(kernels_mutex);
  if (kernels_by_weight.insert_or_assign(weight.unsafeGetTensorImpl(), std::move(kernel)).second) ++kernel_count;
}

void unregister_layer_kernel(const at::Tensor& weight) {
  std::lock_guard<std::mutex> lock(kernels_mutex);
  if (kernels_by_weight.erase(weight.unsafeGetTensorImpl()) > 0) --kernel_count;
}

}  // namespace prunelab
