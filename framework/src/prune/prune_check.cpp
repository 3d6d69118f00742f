#include "prune/prune_check.hpp"

#include "prune/masks.hpp"
#include "prune/pruner.hpp"
#include "prune/units.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace prunelab {

void randomize_batchnorms(Model& model) {
  at::NoGradGuard no_grad;
  for (const auto& bn : model.batchnorms()) {
    at::Tensor(bn.weight).uniform_(0.5, 1.5);
    if (bn.bias.defined()) at::Tensor(bn.bias).uniform_(-0.5, 0.5);
    if (bn.running_mean.defined()) at::Tensor(bn.running_mean).uniform_(-0.3, 0.3);
    if (bn.running_var.defined()) at::Tensor(bn.running_var).uniform_(0.5, 2.0);
  }
}

PruneCheck prune_and_check(Model& model, const Granularity& g, Criterion& criterion, RatioPolicy& policy,
                           double target, const at::Tensor& batch, const at::Tensor& probe) {
  PruneCheck out;
  out.target = target;
  out.dense = measure(model, probe);
  out.pruned = model.clone();
  MaskSet masks(*out.pruned);
  const UnitLayout layout(masks, g);
  prune_step(masks, layout, criterion, policy, target, nullptr, nullptr, 0);
  out.achieved = layout.measured_sparsity();
  out.masked = measure(*out.pruned, probe);
  out.smaller = physical_copy(*out.pruned);
  out.physical = measure(*out.smaller, probe);
  out.diff = compare_outputs(*out.pruned, *out.smaller, batch);
  return out;
}

}  // namespace prunelab
