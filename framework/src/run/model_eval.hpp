#pragma once
/// `runner eval`: a saved pruned model, loaded on its own, evaluated on its test split.

#include "run/model_file.hpp"
#include "prune/stats.hpp"

#include <cmath>

namespace prunelab {

struct ModelEvaluation {
  ModelFileInfo info;
  double top1 = 0, loss = 0, top5 = 0;
  int64_t test_samples = 0;
  ModelStats stats;
  double latency_b1_ms = std::nan(""), latency_b64_ms = std::nan("");  // NaN: not measured
  size_t sparse_layers_b1 = 0, sparse_layers_b64 = 0;  // of them run by sparse kernels
  size_t layers = 0;
  // The same timings with every layer on dense kernels (what the model costs without them).
  double dense_kernels_b1_ms = std::nan(""), dense_kernels_b64_ms = std::nan("");
};

/// Loads `path` (pruned weights are saved as zeros), evaluates on the test split of the data
/// it was trained on, counts parameters and MACs, and times it when latency_repeats > 0: with
/// the fastest kernel per layer (sparse where measured faster) and with dense kernels only.
ModelEvaluation evaluate_model_file(const std::string& path, c10::Device device, int64_t batch_size,
                                    int latency_repeats);

}  // namespace prunelab
