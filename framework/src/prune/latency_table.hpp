#pragma once
/// NetAdapt's per-layer latency lookup table: the inference time of one conv or linear layer at a
/// given number of input and output channels, measured on this machine with the run's threads,
/// and kept in the results database so later runs reuse it.

#include "prune/masks.hpp"

#include <prunelab/plugin_api.hpp>

#include <c10/core/Device.h>

#include <map>
#include <string>

namespace prunelab {

class LatencyTable {
 public:
  /// `store` may be null (nothing persisted). `batch`: inputs per timed forward pass.
  LatencyTable(SearchStore* store, int64_t batch, c10::Device device);

  /// Estimated latency (ms) of the model whose layers keep the masks' channels: the sum over
  /// prunable layers of each layer's table entry at its live input and output channel counts.
  /// Layers need a forward pass behind them (their input sizes). Measures missing entries.
  double model_ms(const MaskSet& masks, const std::vector<at::Tensor>& weight_masks,
                  const std::vector<at::Tensor>& channel_masks);
  /// One layer's entry (measured on first use).
  double layer_ms(const ModelLayer& layer, int64_t in, int64_t out);

  /// Saves entries measured since the last call to the store.
  void flush();

 private:
  std::string geometry_key(const ModelLayer& layer) const;
  double measure(const ModelLayer& layer, int64_t in, int64_t out) const;

  SearchStore* store_;
  int64_t batch_;
  c10::Device device_;
  // geometry key -> (in, out) -> ms; keys loaded from the store once.
  std::map<std::string, std::map<std::pair<int64_t, int64_t>, double>> table_;
  std::map<std::string, bool> dirty_;
};

}  // namespace prunelab
