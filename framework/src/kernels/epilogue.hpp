#pragma once
/// What a network does to a conv or linear layer's output before anything else reads it:
/// y = relu(y + residual), either part optional (a ResNet block's conv1 is followed by a ReLU,
/// its conv2 by the residual add and a ReLU). The sparse kernels fuse it into the copy that
/// writes their output, so it costs no pass over memory of its own; elsewhere it runs as ATen
/// ops in place.

#include <ATen/core/Tensor.h>

namespace prunelab::kernels {

struct Epilogue {
  at::Tensor residual;  // added first, same sizes as the output; undefined for none
  bool relu = false;
  bool empty() const { return !residual.defined() && !relu; }
  static Epilogue relu_only() { return {at::Tensor(), true}; }
};

/// Applies `e` to `y` in place: `y` must be a fresh output nobody else holds.
void apply_in_place(at::Tensor& y, const Epilogue& e);

/// `e` applied to `y` as new tensors (`y` itself is left as it is).
at::Tensor applied(const at::Tensor& y, const Epilogue& e);

}  // namespace prunelab::kernels
