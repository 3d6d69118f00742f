#pragma once
/// Sizes and costs computed from the actual tensors: parameters, nonzeros, sparsity, MACs.

#include "models/model.hpp"

#include <cmath>
#include <string>
#include <vector>

namespace prunelab {

struct LayerStats {
  std::string name;
  std::string kind;  // conv2d | linear
  int64_t params = 0, nonzero = 0;
  int64_t macs = 0, macs_effective = 0;  // per sample; effective = zero weights cost nothing
  // The BatchNorm after the layer, if any: mean |gamma| and the fraction with |gamma| < 0.01
  // (how far L1 sparsity training has pushed the scales towards zero). NaN without BatchNorm.
  double bn_gamma_abs_mean = std::nan("");
  double bn_gamma_small = std::nan("");
  double sparsity() const { return params ? 1.0 - double(nonzero) / double(params) : 0.0; }
};

struct ModelStats {
  int64_t params = 0, params_nonzero = 0;      // every parameter of the model (BN, biases too)
  int64_t prunable = 0, prunable_nonzero = 0;  // conv/linear weights only
  int64_t macs = 0, macs_effective = 0;        // conv/linear multiply-accumulates per sample
  std::vector<LayerStats> layers;
  double sparsity() const { return prunable ? 1.0 - double(prunable_nonzero) / double(prunable) : 0.0; }
};

/// Runs Model::probe on `probe` (one sample is enough) so every layer's MACs are known, then
/// counts from the tensors.
ModelStats measure(Model& model, const at::Tensor& probe);

}  // namespace prunelab
