#pragma once
/// The inner loop of every sparse kernel: rows of a sparse weight matrix, each a list of
/// (offset, value) pairs, multiplied into a dense input laid out so that one nonzero's
/// contribution to a run of consecutive outputs is a contiguous run of the input
/// (kernels/sparse_conv.hpp explains the layouts). Compiled for AVX-512, AVX2 and plain x86-64,
/// chosen when the library loads, so a portable build still uses the machine's vectors.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace prunelab::kernels {

/// Outputs computed per call of sparse_rows_tile: four 16-float vectors.
constexpr int64_t kTile = 64;

/// out[j] = bias + sum_k value[k] * in[offset[k] + j] for j in [0, kTile).
void sparse_rows_tile(const float* in, const int32_t* offset, const float* value, int64_t nnz, float bias,
                      float* out);

/// The tile kernels this machine can run, by ISA (sparse_rows_tile uses the widest): tests run
/// each, since the machine picks only one.
using TileKernel = void (*)(const float*, const int32_t*, const float*, int64_t, float, float*);
std::vector<std::pair<std::string, TileKernel>> tile_kernels_here();

/// The same for j in [0, width), width < kTile, without reading past in[offset[k] + width - 1].
void sparse_rows_narrow(const float* in, const int32_t* offset, const float* value, int64_t nnz, float bias,
                        float* out, int64_t width);

/// to[j] = from[j] + residual[j] (residual may be null), then max(0, .) if `relu`, for j < n: the
/// copy that writes a sparse conv's output row, with the layer's epilogue fused into it.
void finish_row(const float* from, const float* residual, bool relu, float* to, int64_t n);

/// The two column phases of a stride-2 row: to0[j] = from[2j], to1[j] = from[2j + 1], j < n.
void split_columns2(const float* from, float* to0, float* to1, int64_t n);

/// dst[j * dst_stride + i] = src[i * src_stride + j] for i in [0, rows), j in [0, cols): the
/// transposes into and out of a linear layer's planes, in 8x8 register blocks (several times
/// faster here than ATen's copy of a transposed view).
void transpose(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst, int64_t dst_stride);

}  // namespace prunelab::kernels
