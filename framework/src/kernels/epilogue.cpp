#include "kernels/epilogue.hpp"

#include <ATen/ATen.h>

namespace prunelab::kernels {

void apply_in_place(at::Tensor& y, const Epilogue& e) {
  if (e.residual.defined()) y.add_(e.residual);
  if (e.relu) y.relu_();
}

at::Tensor applied(const at::Tensor& y, const Epilogue& e) {
  auto out = e.residual.defined() ? y + e.residual : y;
  return e.relu ? at::relu(out) : out;
}

}  // namespace prunelab::kernels
