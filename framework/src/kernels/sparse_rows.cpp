#include "kernels/sparse_rows.hpp"

#include <cstring>

// The vector helpers are inlined into each ISA clone; the ABI note about passing 64-byte vectors
// without AVX-512 does not apply to them.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace prunelab::kernels {

namespace {
// 16 floats; aligned(4) so loads from any float address are allowed (the input runs start at
// arbitrary offsets).
typedef float Vec16 __attribute__((vector_size(64), aligned(4)));

inline Vec16 load(const float* p) {
  Vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, const Vec16& v) { std::memcpy(p, &v, sizeof v); }
}  // namespace

// GCC builds one copy per ISA and picks at load time; other compilers (clang for the sanitizer
// and fuzz builds) get the portable copy.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PRUNELAB_ISA_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define PRUNELAB_ISA_CLONES
#endif

// Two accumulator sets (even and odd nonzeros) give eight independent FMA chains: enough to hide
// the FMA latency, and the tile's outputs never leave the registers while the row is summed.
PRUNELAB_ISA_CLONES
void sparse_rows_tile(const float* in, const int32_t* offset, const float* value, int64_t nnz, float bias,
                      float* out) {
  Vec16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
  Vec16 b0 = {}, b1 = {}, b2 = {}, b3 = {};
  int64_t k = 0;
  for (; k + 1 < nnz; k += 2) {
    const float* p = in + offset[k];
    const float* q = in + offset[k + 1];
    const float v = value[k], w = value[k + 1];
    a0 += v * load(p);
    a1 += v * load(p + 16);
    a2 += v * load(p + 32);
    a3 += v * load(p + 48);
    b0 += w * load(q);
    b1 += w * load(q + 16);
    b2 += w * load(q + 32);
    b3 += w * load(q + 48);
  }
  if (k < nnz) {
    const float* p = in + offset[k];
    const float v = value[k];
    a0 += v * load(p);
    a1 += v * load(p + 16);
    a2 += v * load(p + 32);
    a3 += v * load(p + 48);
  }
  store(out, (a0 + b0) + bias);
  store(out + 16, (a1 + b1) + bias);
  store(out + 32, (a2 + b2) + bias);
  store(out + 48, (a3 + b3) + bias);
}

PRUNELAB_ISA_CLONES
void sparse_rows_narrow(const float* in, const int32_t* offset, const float* value, int64_t nnz, float bias,
                        float* out, int64_t width) {
  for (int64_t j = 0; j < width; ++j) {
    // Four partial sums: independent chains, as in the tile kernel.
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t k = 0;
    for (; k + 3 < nnz; k += 4) {
      s0 += value[k] * in[offset[k] + j];
      s1 += value[k + 1] * in[offset[k + 1] + j];
      s2 += value[k + 2] * in[offset[k + 2] + j];
      s3 += value[k + 3] * in[offset[k + 3] + j];
    }
    for (; k < nnz; ++k) s0 += value[k] * in[offset[k] + j];
    out[j] = ((s0 + s1) + (s2 + s3)) + bias;
  }
}

}  // namespace prunelab::kernels
