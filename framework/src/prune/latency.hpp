#pragma once
/// Measured inference latency: the figure a user's deployment sees, next to the theoretical one.

#include "models/model.hpp"

#include <c10/core/Device.h>

namespace prunelab {

struct LatencyPair {
  double a_ms = 0, b_ms = 0;  // median milliseconds per batch
  size_t a_sparse_layers = 0, b_sparse_layers = 0;  // layers that ran sparse kernels
  double max_kernel_diff = 0;  // largest relative sparse-vs-dense output difference seen
};

/// Median wall time of one inference-mode forward pass of `a` and of `b` on a random batch of
/// `batch` inputs shaped `shape`, after `warmup` untimed passes each, with BatchNorm folded into
/// the convs as a deployment would (Model::fold_batchnorm; models that cannot fold run unfolded),
/// and every layer by the faster of its dense and sparse kernel (Model::use_sparse_kernels,
/// decided in the warm-up passes) unless `sparse_kernels` is false. The two models alternate
/// pass by pass, so drift in the machine's load hits both alike. Threads are whatever is set.
LatencyPair compare_latency(Model& a, Model& b, const InputShape& shape, int64_t batch,
                            int repeats, int warmup, c10::Device device, bool sparse_kernels = true);

/// One model on dense kernels only (a) and on the kernels it chooses (b: sparse where faster),
/// passes alternating between the two after the same folding and warm-up (see compare_latency).
LatencyPair compare_kernels(Model& net, const InputShape& shape, int64_t batch, int repeats, int warmup,
                            c10::Device device);

/// Median milliseconds of one inference-mode forward pass of `net` alone (see compare_latency).
double latency_ms(Model& net, const InputShape& shape, int64_t batch, int repeats, int warmup,
                  c10::Device device, bool sparse_kernels = true);

}  // namespace prunelab
