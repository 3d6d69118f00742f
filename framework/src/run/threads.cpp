#include "run/threads.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>

#include <dlfcn.h>

namespace prunelab {

int configure_threads(int n) {
  if (n > 0) at::set_num_threads(n);
  // Denormal floats (weights and gradients decaying towards zero late in training) run orders of
  // magnitude slower on x86; flushing them to zero is deterministic and changes no result we report.
  at::globalContext().setFlushDenormal(true);
  // Looked up at run time: LibTorch may sit on OpenBLAS, the reference BLAS or MKL.
  using SetThreads = void (*)(int);
  if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(1);
  return at::get_num_threads();
}

}  // namespace prunelab
