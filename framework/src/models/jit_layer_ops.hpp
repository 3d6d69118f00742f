#pragma once
/// TorchScript conv and linear calls routed through prunelab's own operators, so a loaded
/// module's layers can run sparse kernels (Model::use_sparse_kernels) without touching the
/// user's file: at load, every aten::conv2d / aten::_convolution / aten::linear in a Conv2d or
/// Linear module's methods becomes prunelab::conv2d / prunelab::_convolution / prunelab::linear,
/// with the same inputs. Each computes exactly its aten op unless a kernel is registered for the
/// call's weight tensor; then that kernel (kernels/measured_choice.hpp) runs instead.

#include "kernels/measured_choice.hpp"

#include <torch/csrc/jit/ir/ir.h>

#include <memory>
#include <string>

namespace prunelab {

/// Calls `f` on every node of `block` and of the blocks nested in it, in order.
template <typename F>
void for_each_node(torch::jit::Block* block, F&& f) {
  for (torch::jit::Node* n : block->nodes()) {
    f(n);
    for (auto* b : n->blocks()) for_each_node(b, f);
  }
}

/// What a node computes, named as the aten op it stands for: "aten::conv2d" for a routed
/// prunelab::conv2d too, so graph readers see one vocabulary.
std::string op_name(const torch::jit::Node* n);

/// Routes every conv/linear call of `g` through the prunelab operators (idempotent). Returns how
/// many calls were routed.
size_t route_layer_ops(torch::jit::Graph& g);

/// While registered, a routed call whose weight is `weight` runs `kernel`.
void register_layer_kernel(const at::Tensor& weight, std::shared_ptr<kernels::MeasuredChoice> kernel);
void unregister_layer_kernel(const at::Tensor& weight);

}  // namespace prunelab
