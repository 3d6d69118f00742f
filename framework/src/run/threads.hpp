#pragma once
/// Thread settings for LibTorch and the BLAS underneath it.

namespace prunelab {

/// Sets LibTorch's intra-op threads to `n` (if > 0) and pins OpenBLAS's own pthread pool to one
/// thread: both pools busy-wait, and together they oversubscribe the cores (measured 3.6x slower
/// on LeNet-300-100 with 2 + 2 threads on 2 cores). Also flushes denormals to zero, and keeps
/// freed tensor memory in glibc's heap rather than returning it after every forward pass.
/// Returns the intra-op thread count in force.
int configure_threads(int n);

}  // namespace prunelab
