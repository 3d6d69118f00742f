#include "run/threads.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <dlfcn.h>
#include <malloc.h>

namespace prunelab {

int configure_threads(int n) {
  if (n > 0) at::set_num_threads(n);
  // Denormal floats (weights and gradients decaying towards zero late in training) run orders of
  // magnitude slower on x86; flushing them to zero is deterministic and changes no result we report.
  at::globalContext().setFlushDenormal(true);
  // Looked up at run time: LibTorch may sit on OpenBLAS, the reference BLAS or MKL.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(1);
#ifdef M_MMAP_THRESHOLD
  // glibc serves every activation above 128 KiB from a fresh mmap and unmaps it when freed, so
  // each forward page-faults all its tensors in again (measured: ResNet-20 inference at batch 64
  // 54 ms instead of 70). Freed memory stays in the heap for the next pass instead; the peak is
  // unchanged.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  return at::get_num_threads();
}

}  // namespace prunelab
