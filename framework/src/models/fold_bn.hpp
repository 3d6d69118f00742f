#pragma once
/// BatchNorm folding for inference: a conv followed directly by a BatchNorm in eval mode is one
/// affine map, so the BatchNorm's scale goes into the conv's weight and its shift into a bias,
/// and the BatchNorm pass disappears from the forward.

#include "models/network.hpp"

#include <vector>

namespace prunelab {

/// Folds every conv/BatchNorm pair of a model that supports it (Network::set_batchnorm_folded)
/// while alive, and restores the model exactly (the original tensors, not recomputed ones) when
/// destroyed. The network must be in eval mode and stay so: folding uses running statistics.
/// A model that is already folded (by an enclosing BatchNormFolding) is left as it is.
class BatchNormFolding {
 public:
  explicit BatchNormFolding(Network& net);
  ~BatchNormFolding();
  BatchNormFolding(const BatchNormFolding&) = delete;
  BatchNormFolding& operator=(const BatchNormFolding&) = delete;

  /// How many BatchNorms were folded (0 for a model that cannot fold).
  size_t folded() const { return saved_.size(); }

 private:
  struct Saved {
    std::shared_ptr<PrunableLayerImpl> layer;
    at::Tensor weight, bias;
  };
  void restore();

  Network& net_;
  std::vector<Saved> saved_;
  bool active_ = false;  // this object folded the model (and must unfold it)
};

}  // namespace prunelab
