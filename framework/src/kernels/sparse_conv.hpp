#pragma once
/// Sparse execution of a pruned conv or linear layer: a weight-stationary direct convolution over
/// the weight's nonzeros, vectorised over output positions, threaded over position tiles.
///
/// Layout. The input is copied once into zero-padded planes, one per input channel and stride
/// phase (p, q): plane[c][p][q] holds padded-input rows p, p + s, ... and columns q, q + s, ... of
/// every image, images one after another. Output position (n, oh, ow) of every output channel is
/// then flat index j = (n * Hs + oh) * Ws + ow of a grid as wide as a plane, and a nonzero
/// w[o][c][kh][kw] adds w times the plane element at j + offset(c, kh, kw): the same offset for
/// every output position, so each nonzero is a contiguous multiply-add over a run of outputs
/// (kernels/sparse_rows.hpp). Grid columns past the output width and rows past its height are
/// computed and thrown away. A linear layer is the 1x1 conv of an [N, I, 1, 1] input: its planes
/// are the transposed input and the run is the batch.

#include "kernels/epilogue.hpp"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace prunelab::kernels {

struct ConvParams {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
};

class SparseConv {
 public:
  /// `weight` [O, I/groups, kh, kw] for a conv or [O, I] for a linear layer (any memory format,
  /// float32, CPU); `bias` [O] or undefined. The nonzeros are copied: later changes to `weight`
  /// are not seen.
  SparseConv(const at::Tensor& weight, const at::Tensor& bias, ConvParams params = {});

  /// The layer's output for `x` ([N, I, H, W] for a conv, [N, I] for a linear layer; float32,
  /// CPU), as a contiguous tensor, with `epilogue` applied (fused into the output copy of a conv
  /// when its residual is a contiguous float32 CPU tensor of the output's sizes). Throws
  /// std::invalid_argument for an input the weight cannot take.
  at::Tensor forward(const at::Tensor& x, const Epilogue& epilogue = {});

  /// Whether forward can take inputs of these sizes at all (index range, workspace size).
  bool supports(at::IntArrayRef input_sizes) const;

  bool is_linear() const { return linear_; }
  int64_t nonzeros() const { return static_cast<int64_t>(value_.size()); }
  double density() const;

 private:
  struct Geometry {
    int64_t n = 0, h = 0, w = 0;  // input
    int64_t hs = 0, ws = 0;        // one phase plane of one image
    int64_t oh = 0, ow = 0;        // output
    int64_t chunk = 1, chunks = 1; // images packed at once (at most; sized to stay in L2), and how many packs
    int64_t plane = 0;             // chunk * hs * ws: the stride between planes, the flat output grid
    int64_t row = 0;               // one output channel's grid in the buffer: plane rounded up to kTile
    int64_t input_floats = 0;      // planes plus the slack the last tile reads past them
    bool operator==(const Geometry& o) const { return n == o.n && h == o.h && w == o.w; }
  };
  struct Workspace {
    std::vector<float> in, out;
  };
  Geometry geometry_for(int64_t n, int64_t h, int64_t w) const;
  // The geometry of an input of these sizes, or none when forward cannot take it.
  std::optional<Geometry> geometry_of(at::IntArrayRef sizes) const;
  void prepare(const Geometry& g);  // offsets and workspaces for g
  int64_t chunk_first(int64_t c) const;  // chunk c's first image (chunk_first(chunks) = n)
  // The epilogue as the output copy applies it: residual data in y's layout, or null.
  struct FusedEpilogue {
    const float* residual = nullptr;
    bool relu = false;
  };
  void run_chunk(const at::Tensor& x, at::Tensor& y, int64_t first, int64_t count, Workspace& ws,
                 FusedEpilogue e) const;
  void pack(const at::Tensor& x, int64_t first, int64_t count, Workspace& ws) const;
  void pack_row(const float* in_row, float* phase0, int64_t p) const;
  void split_row2(const float* in_row, float* phase0) const;
  void pack_channels_last(const at::Tensor& x, int64_t first, int64_t count, Workspace& ws) const;
  void compute(int64_t count, Workspace& ws) const;
  void unpack(at::Tensor& y, int64_t first, int64_t count, const Workspace& ws, FusedEpilogue e) const;

  int64_t out_ = 0, in_per_group_ = 0, kh_ = 1, kw_ = 1;
  ConvParams p_;
  bool linear_ = false;
  std::vector<int64_t> row_begin_;  // CSR: output channel o's nonzeros are [row_begin_[o], row_begin_[o + 1])
  std::vector<int32_t> channel_, tap_h_, tap_w_;  // per nonzero: absolute input channel, kernel tap
  std::vector<float> value_, bias_;
  std::vector<char> phase_used_;  // per stride phase (p * stride + q): read by some nonzero
  int64_t phases_used_ = 1;

  // Per input geometry (rebuilt when it changes); guarded so concurrent forwards stay correct.
  std::mutex mutex_;
  Geometry g_;
  std::vector<int32_t> offset_;         // per nonzero, into the packed input
  std::vector<Workspace> workspaces_;  // one per thread
};

}  // namespace prunelab::kernels
