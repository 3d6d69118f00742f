#include "kernels/sparse_rows.hpp"

#include <cstring>

// The vector helpers are inlined into each ISA clone; the ABI note about passing 64-byte vectors
// without AVX-512 does not apply to them.
#if defined(__GNUC__)  // GCC and clang
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace prunelab::kernels {

namespace {
// 16 and 8 floats; aligned(4) so loads from any float address are allowed (the input runs start
// at arbitrary offsets).
typedef float Vec16 __attribute__((vector_size(64), aligned(4)));
typedef float Vec8 __attribute__((vector_size(32), aligned(4)));

template <class V>
inline V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
inline void store(float* p, V v) {  // by value: clang warns on a reference to a 4-byte-aligned vector
  std::memcpy(p, &v, sizeof v);
}

// A tile as four 16-float vectors (AVX-512 has 32 registers): two accumulator sets (even and odd
// nonzeros) give eight independent FMA chains, enough to hide the FMA latency, and the tile's
// outputs never leave the registers while the row is summed.
__attribute__((always_inline)) inline void tile_of_16s(const float* in, const int32_t* offset, const float* value,
                                                       int64_t nnz, float bias, float* out) {
  Vec16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
  Vec16 b0 = {}, b1 = {}, b2 = {}, b3 = {};
  int64_t k = 0;
  for (; k + 1 < nnz; k += 2) {
    const float* p = in + offset[k];
    const float* q = in + offset[k + 1];
    const float v = value[k], w = value[k + 1];
    a0 += v * load<Vec16>(p);
    a1 += v * load<Vec16>(p + 16);
    a2 += v * load<Vec16>(p + 32);
    a3 += v * load<Vec16>(p + 48);
    b0 += w * load<Vec16>(q);
    b1 += w * load<Vec16>(q + 16);
    b2 += w * load<Vec16>(q + 32);
    b3 += w * load<Vec16>(q + 48);
  }
  if (k < nnz) {
    const float* p = in + offset[k];
    const float v = value[k];
    a0 += v * load<Vec16>(p);
    a1 += v * load<Vec16>(p + 16);
    a2 += v * load<Vec16>(p + 32);
    a3 += v * load<Vec16>(p + 48);
  }
  store(out, (a0 + b0) + bias);
  store(out + 16, (a1 + b1) + bias);
  store(out + 32, (a2 + b2) + bias);
  store(out + 48, (a3 + b3) + bias);
}

// The same tile as eight 8-float vectors, for AVX2 and older (16 registers: one accumulator set,
// still eight chains). The 16-float code there would be split by the compiler through memory:
// measured 17x slower.
[[maybe_unused]] __attribute__((always_inline)) inline void tile_of_8s(const float* in, const int32_t* offset, const float* value,
                                                      int64_t nnz, float bias, float* out) {
  Vec8 a0 = {}, a1 = {}, a2 = {}, a3 = {}, a4 = {}, a5 = {}, a6 = {}, a7 = {};
  for (int64_t k = 0; k < nnz; ++k) {
    const float* p = in + offset[k];
    const float v = value[k];
    a0 += v * load<Vec8>(p);
    a1 += v * load<Vec8>(p + 8);
    a2 += v * load<Vec8>(p + 16);
    a3 += v * load<Vec8>(p + 24);
    a4 += v * load<Vec8>(p + 32);
    a5 += v * load<Vec8>(p + 40);
    a6 += v * load<Vec8>(p + 48);
    a7 += v * load<Vec8>(p + 56);
  }
  store(out, a0 + bias);
  store(out + 8, a1 + bias);
  store(out + 16, a2 + bias);
  store(out + 24, a3 + bias);
  store(out + 32, a4 + bias);
  store(out + 40, a5 + bias);
  store(out + 48, a6 + bias);
  store(out + 56, a7 + bias);
}
}  // namespace

// GCC builds one copy per ISA and picks at load time; other compilers (clang for the sanitizer
// and fuzz builds) get the portable copy.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PRUNELAB_ISA_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))

// The tile kernel's vector width differs per ISA, so it is picked by hand rather than cloned.
namespace {
__attribute__((target("avx512f"))) void tile_avx512(const float* in, const int32_t* offset, const float* value,
                                                    int64_t nnz, float bias, float* out) {
  tile_of_16s(in, offset, value, nnz, bias, out);
}
__attribute__((target("avx2,fma"))) void tile_avx2(const float* in, const int32_t* offset, const float* value,
                                                   int64_t nnz, float bias, float* out) {
  tile_of_8s(in, offset, value, nnz, bias, out);
}
void tile_x86_64(const float* in, const int32_t* offset, const float* value, int64_t nnz, float bias, float* out) {
  tile_of_8s(in, offset, value, nnz, bias, out);
}
TileKernel pick_tile_kernel() {
  __builtin_cpu_init();  // may run before libgcc's own initialiser
  if (__builtin_cpu_supports("avx512f")) return tile_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return tile_avx2;
  return tile_x86_64;
}
}  // namespace

void sparse_rows_tile(const float* in, const int32_t* offset, const float* value, int64_t nnz, float bias,
                      float* out) {
  static const TileKernel kernel = pick_tile_kernel();  // at first use, whatever the static init order
  kernel(in, offset, value, nnz, bias, out);
}

std::vector<std::pair<std::string, TileKernel>> tile_kernels_here() {
  __builtin_cpu_init();
  std::vector<std::pair<std::string, TileKernel>> k = {{"x86-64", tile_x86_64}};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) k.emplace_back("avx2", tile_avx2);
  if (__builtin_cpu_supports("avx512f")) k.emplace_back("avx512f", tile_avx512);
  return k;
}
#else
#define PRUNELAB_ISA_CLONES

void sparse_rows_tile(const float* in, const int32_t* offset, const float* value, int64_t nnz, float bias,
                      float* out) {
  tile_of_16s(in, offset, value, nnz, bias, out);
}

std::vector<std::pair<std::string, TileKernel>> tile_kernels_here() { return {{"portable", sparse_rows_tile}}; }
#endif

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

// One loop per case, so each vectorises with nothing left to decide inside it. `v < 0 ? 0 : v`
// keeps NaN, as ATen's relu does.
PRUNELAB_ISA_CLONES
void finish_row(const float* from, const float* residual, bool relu, float* to, int64_t n) {
  if (residual && relu)
    for (int64_t j = 0; j < n; ++j) {
      const float v = from[j] + residual[j];
      to[j] = v < 0 ? 0.0f : v;
    }
  else if (residual)
    for (int64_t j = 0; j < n; ++j) to[j] = from[j] + residual[j];
  else if (relu)
    for (int64_t j = 0; j < n; ++j) to[j] = from[j] < 0 ? 0.0f : from[j];
  else
    std::memcpy(to, from, sizeof(float) * n);
}

namespace {
#if defined(__GNUC__) && !defined(__clang__)
typedef int Index8 __attribute__((vector_size(32)));

// One 8x8 block through registers: three rounds of shuffles, each pairing rows at distance 1, 2
// and 4 (the unpack / shuffle / permute sequence of an AVX transpose). Inlined into each clone.
__attribute__((always_inline)) inline void transpose_8x8(const float* s, int64_t ss, float* d, int64_t ds) {
  Vec8 r[8], t[8];
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], s + i * ss, sizeof(Vec8));
  const Index8 lo1 = {0, 8, 1, 9, 4, 12, 5, 13}, hi1 = {2, 10, 3, 11, 6, 14, 7, 15};
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shuffle(r[i], r[i + 1], lo1);
    t[i + 1] = __builtin_shuffle(r[i], r[i + 1], hi1);
  }
  const Index8 lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
  for (int i = 0; i < 8; i += 4)
    for (int k = 0; k < 2; ++k) {
      r[i + 2 * k] = __builtin_shuffle(t[i + k], t[i + k + 2], lo2);
      r[i + 2 * k + 1] = __builtin_shuffle(t[i + k], t[i + k + 2], hi2);
    }
  const Index8 lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
  for (int k = 0; k < 4; ++k) {
    const Vec8 a = __builtin_shuffle(r[k], r[k + 4], lo4), b = __builtin_shuffle(r[k], r[k + 4], hi4);
    std::memcpy(d + k * ds, &a, sizeof(Vec8));
    std::memcpy(d + (k + 4) * ds, &b, sizeof(Vec8));
  }
}
constexpr int64_t kBlock = 8;
#endif
}  // namespace

PRUNELAB_ISA_CLONES
void split_columns2(const float* from, float* to0, float* to1, int64_t n) {
  int64_t j = 0;
#if defined(__GNUC__) && !defined(__clang__)
  // Eight pairs at a time: two loads, an even and an odd shuffle, two stores.
  const Index8 even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = {1, 3, 5, 7, 9, 11, 13, 15};
  for (; j + 8 <= n; j += 8) {
    Vec8 a, b;
    std::memcpy(&a, from + 2 * j, sizeof a);
    std::memcpy(&b, from + 2 * j + 8, sizeof b);
    const Vec8 e = __builtin_shuffle(a, b, even), o = __builtin_shuffle(a, b, odd);
    std::memcpy(to0 + j, &e, sizeof e);
    std::memcpy(to1 + j, &o, sizeof o);
  }
#endif
  for (; j < n; ++j) {
    to0[j] = from[2 * j];
    to1[j] = from[2 * j + 1];
  }
}

PRUNELAB_ISA_CLONES
void transpose(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst, int64_t dst_stride) {
  int64_t full_rows = 0, full_cols = 0;
#if defined(__GNUC__) && !defined(__clang__)
  full_rows = rows / kBlock * kBlock;
  full_cols = cols / kBlock * kBlock;
  for (int64_t i = 0; i < full_rows; i += kBlock)
    for (int64_t j = 0; j < full_cols; j += kBlock)
      transpose_8x8(src + i * src_stride + j, src_stride, dst + j * dst_stride + i, dst_stride);
#endif
  // The edges (and everything without vector shuffles), element by element.
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i < full_rows ? full_cols : 0; j < cols; ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
}

}  // namespace prunelab::kernels
