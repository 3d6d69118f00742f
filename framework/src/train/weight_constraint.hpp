#pragma once
/// What training must respect around every optimizer step (the pruning masks), without the
/// trainer knowing about pruning.

namespace prunelab {

class WeightConstraint {
 public:
  virtual ~WeightConstraint() = default;
  /// After the backward pass, before the optimizer step (e.g. zero masked gradients).
  virtual void before_step() = 0;
  /// After the optimizer step (e.g. re-zero masked weights).
  virtual void after_step() = 0;
};

}  // namespace prunelab
