#include "kernels/sparse_conv.hpp"

#include "kernels/sparse_rows.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace prunelab::kernels {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Past the planes: what the last (partly thrown away) tile and the widest tap offset read.
constexpr int64_t kSlack = 16;
// to[j] = from[j * S] with S known to the compiler (stride-2 layers), so it can vectorise.
template <int S>
void copy_strided(const float* from, float* to, int64_t n) {
  for (int64_t j = 0; j < n; ++j) to[j] = from[j * S];
}

// Packed planes plus outputs of one chunk of images: half of a 2 MiB L2.
constexpr int64_t kChunkBytes = int64_t{1} << 20;
}  // namespace

SparseConv::SparseConv(const at::Tensor& weight, const at::Tensor& bias, ConvParams params) : p_(params) {
  if (weight.dim() != 2 && weight.dim() != 4)
    throw std::invalid_argument(fmt::format("sparse kernels take conv or linear weights, not {}-d", weight.dim()));
  if (p_.stride < 1 || p_.dilation < 1 || p_.padding < 0 || p_.groups < 1)
    throw std::invalid_argument("sparse conv: stride, dilation and groups must be positive, padding not negative");
  linear_ = weight.dim() == 2;
  const auto w = weight.detach().to(at::kCPU, at::kFloat).contiguous();
  out_ = w.size(0);
  in_per_group_ = w.size(1);
  if (!linear_) {
    kh_ = w.size(2);
    kw_ = w.size(3);
  }
  if (out_ % p_.groups != 0)
    throw std::invalid_argument(fmt::format("sparse conv: {} output channels in {} groups", out_, p_.groups));
  const int64_t out_per_group = out_ / p_.groups;
  const float* data = w.data_ptr<float>();
  row_begin_.reserve(out_ + 1);
  row_begin_.push_back(0);
  for (int64_t o = 0; o < out_; ++o) {
    const int64_t first_channel = (o / out_per_group) * in_per_group_;
    for (int64_t c = 0; c < in_per_group_; ++c)
      for (int64_t th = 0; th < kh_; ++th)
        for (int64_t tw = 0; tw < kw_; ++tw) {
          const float v = data[((o * in_per_group_ + c) * kh_ + th) * kw_ + tw];
          if (v == 0.0f) continue;
          channel_.push_back(static_cast<int32_t>(first_channel + c));
          tap_h_.push_back(static_cast<int32_t>(th));
          tap_w_.push_back(static_cast<int32_t>(tw));
          value_.push_back(v);
        }
    row_begin_.push_back(static_cast<int64_t>(value_.size()));
  }
  // Which stride phases some tap reads (only those planes are filled).
  phase_used_.assign(p_.stride * p_.stride, 0);
  for (size_t k = 0; k < value_.size(); ++k)
    phase_used_[(tap_h_[k] * p_.dilation % p_.stride) * p_.stride + tap_w_[k] * p_.dilation % p_.stride] = true;
  phases_used_ = std::count(phase_used_.begin(), phase_used_.end(), 1);
  bias_.assign(out_, 0.0f);
  if (bias.defined()) {
    const auto b = bias.detach().to(at::kCPU, at::kFloat).contiguous();
    if (b.numel() != out_) throw std::invalid_argument("sparse conv: bias size differs from the output channels");
    std::memcpy(bias_.data(), b.data_ptr<float>(), sizeof(float) * out_);
  }
}

double SparseConv::density() const {
  return static_cast<double>(value_.size()) / static_cast<double>(out_ * in_per_group_ * kh_ * kw_);
}

SparseConv::Geometry SparseConv::geometry_for(int64_t n, int64_t h, int64_t w) const {
  Geometry g;
  g.n = n;
  g.h = h;
  g.w = w;
  const int64_t s = p_.stride, d = p_.dilation;
  const int64_t hp = h + 2 * p_.padding, wp = w + 2 * p_.padding;
  g.oh = (hp - d * (kh_ - 1) - 1) / s + 1;
  g.ow = (wp - d * (kw_ - 1) - 1) / s + 1;
  g.hs = ceil_div(hp, s);
  g.ws = ceil_div(wp, s);
  // Images go through in chunks whose planes and outputs fit in L2 together: the input is read
  // from memory once, the planes many times from cache.
  const int64_t channels = in_per_group_ * p_.groups;
  const int64_t floats_per_image = (channels * phases_used_ + out_) * g.hs * g.ws;
  const int64_t most = std::clamp<int64_t>(kChunkBytes / (4 * std::max<int64_t>(1, floats_per_image)), 1, n);
  // As many chunks as that needs, rounded up to a multiple of the threads (they run in
  // parallel), and sizes balanced to within one image.
  const int64_t threads = std::max(1, at::get_num_threads());
  g.chunks = ceil_div(n, most);
  if (g.chunks > 1 || n >= threads) g.chunks = std::min(n, ceil_div(g.chunks, threads) * threads);
  g.chunk = ceil_div(n, g.chunks);
  g.plane = g.chunk * g.hs * g.ws;
  g.row = ceil_div(g.plane, kTile) * kTile;
  const int64_t widest_tap = ((kh_ - 1) * d / s) * g.ws + (kw_ - 1) * d / s;
  g.input_floats = channels * s * s * g.plane + (g.row - g.plane) + widest_tap + kSlack;
  return g;
}

std::optional<SparseConv::Geometry> SparseConv::geometry_of(at::IntArrayRef sizes) const {
  const int64_t channels = in_per_group_ * p_.groups;
  if (linear_ ? sizes.size() != 2 : sizes.size() != 4) return std::nullopt;
  if (sizes[1] != channels || sizes[0] < 1) return std::nullopt;
  const auto g = linear_ ? geometry_for(sizes[0], 1, 1) : geometry_for(sizes[0], sizes[2], sizes[3]);
  if (g.oh < 1 || g.ow < 1) return std::nullopt;
  // Offsets are 32-bit; workspaces above 1 GiB are not worth a layer's speed-up.
  constexpr int64_t kMaxFloats = int64_t{1} << 28;
  if (g.input_floats >= kMaxFloats || out_ * g.row >= kMaxFloats) return std::nullopt;
  return g;
}

bool SparseConv::supports(at::IntArrayRef sizes) const { return geometry_of(sizes).has_value(); }

void SparseConv::prepare(const Geometry& g) {
  const size_t threads = static_cast<size_t>(std::max(1, at::get_num_threads()));
  if (g == g_ && !offset_.empty() && workspaces_.size() == threads) return;
  g_ = g;
  const int64_t s = p_.stride, d = p_.dilation;
  offset_.resize(value_.size());
  for (size_t k = 0; k < value_.size(); ++k) {
    const int64_t th = tap_h_[k] * d, tw = tap_w_[k] * d;
    const int64_t plane = (channel_[k] * s + th % s) * s + tw % s;
    offset_[k] = static_cast<int32_t>(plane * g.plane + (th / s) * g.ws + tw / s);
  }
  workspaces_.assign(threads, {});
  for (auto& ws : workspaces_) {
    ws.in.assign(g.input_floats, 0.0f);  // padding and slack stay zero: packing writes only the input's pixels
    ws.out.assign(out_ * g.row, 0.0f);
  }
}

void SparseConv::pack(const at::Tensor& x, int64_t first, int64_t count, Workspace& ws) const {
  const auto& g = g_;
  if (linear_) {
    // The planes of a linear layer are the transposed input.
    if (x.stride(1) == 1)
      transpose(x.data_ptr<float>() + first * x.stride(0), count, x.size(1), x.stride(0), ws.in.data(), g.plane);
    else
      at::from_blob(ws.in.data(), {x.size(1), count}, {g.plane, 1}).copy_(x.narrow(0, first, count).t());
    return;
  }
  if (x.is_contiguous(at::MemoryFormat::ChannelsLast) && x.size(1) > 1) return pack_channels_last(x, first, count, ws);
  // x is contiguous NCHW here (forward made it so). One unit: phase row p of channel c.
  const int64_t s = p_.stride, pad = p_.padding;
  const int64_t channels = in_per_group_ * p_.groups;
  const float* src = x.data_ptr<float>();
  at::parallel_for(0, channels * s, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t c = u / s, p = u % s;
      float* phase0 = ws.in.data() + (c * s + p) * s * g.plane;  // column phase q is q planes on
      for (int64_t n = 0; n < count; ++n)
        for (int64_t i = 0; i < g.hs; ++i) {
          const int64_t ih = i * s + p - pad;
          if (ih >= 0 && ih < g.h)  // padding rows stay zero (pack_row)
            pack_row(src + (((first + n) * channels + c) * g.h + ih) * g.w, phase0 + (n * g.hs + i) * g.ws, p);
        }
    }
  });
}

// Only the input's own columns are written: padding columns and rows were zeroed when the
// workspace was made and nothing else writes them, so they stay zero from call to call.
void SparseConv::pack_row(const float* in_row, float* phase0, int64_t p) const {
  const auto& g = g_;
  const int64_t s = p_.stride, pad = p_.padding;
  if (s == 2 && phase_used_[p * 2] && phase_used_[p * 2 + 1]) return split_row2(in_row, phase0);
  for (int64_t q = 0; q < s; ++q) {
    if (!phase_used_[p * s + q]) continue;  // no tap reads it (e.g. a 1x1 conv with stride 2)
    // Columns j with 0 <= j * s + q - pad < w hold input.
    const int64_t lo = std::min(g.ws, ceil_div(std::max<int64_t>(0, pad - q), s));
    const int64_t hi = std::clamp<int64_t>(ceil_div(g.w + pad - q, s), lo, g.ws);
    float* row = phase0 + q * g.plane + lo;
    const float* from = in_row + lo * s + q - pad;
    if (s == 1)
      std::memcpy(row, from, sizeof(float) * (hi - lo));
    else if (s == 2)
      copy_strided<2>(from, row, hi - lo);
    else
      for (int64_t j = 0; j < hi - lo; ++j) row[j] = from[j * s];
  }
}

// Stride 2 with both column phases read (a 3x3 conv): input column m belongs to phase
// (m + pad) % 2 at column (m + pad) / 2, so consecutive pairs of columns go to the same column
// of both phases and one pass splits the row (two strided copies were the layer's largest cost).
void SparseConv::split_row2(const float* in_row, float* phase0) const {
  const auto& g = g_;
  const int64_t pad = p_.padding;
  float* q0 = phase0;
  float* q1 = phase0 + g.plane;
  int64_t m = 0;
  if (pad % 2 == 1) q1[(pad - 1) / 2] = in_row[m++];  // an odd padding puts column 0 in phase 1
  const int64_t pairs = (g.w - m) / 2, j = (m + pad) / 2;
  split_columns2(in_row + m, q0 + j, q1 + j, pairs);
  m += 2 * pairs;
  if (m < g.w) q0[(m + pad) / 2] = in_row[m];  // the last column, without its pair
}

// From NHWC: each input row is [W][C]; read it once, contiguously, and scatter its channels to
// their planes (ATen's own NHWC -> NCHW copy is several times slower here).
void SparseConv::pack_channels_last(const at::Tensor& x, int64_t first, int64_t count, Workspace& ws) const {
  const auto& g = g_;
  const int64_t s = p_.stride, pad = p_.padding;
  const int64_t channels = in_per_group_ * p_.groups;
  const int64_t plane_step = s * s * g.plane;  // from channel c's plane to c + 1's, same phase
  const float* src = x.data_ptr<float>();
  // One unit: plane row i of phase row p of image n, for every channel and column phase.
  at::parallel_for(0, count * s * g.hs, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t n = u / (s * g.hs), p = (u / g.hs) % s, i = u % g.hs;
      const int64_t ih = i * s + p - pad;
      if (ih < 0 || ih >= g.h) continue;  // padding rows stay zero (pack_row)
      const float* in_row = src + ((first + n) * g.h + ih) * g.w * channels;
      for (int64_t q = 0; q < s; ++q) {
        if (!phase_used_[p * s + q]) continue;
        float* row = ws.in.data() + (p * s + q) * g.plane + (n * g.hs + i) * g.ws;
        for (int64_t j = 0; j < g.ws; ++j) {
          const int64_t iw = j * s + q - pad;
          float* dst = row + j;
          if (iw < 0 || iw >= g.w) continue;  // padding columns stay zero
          const float* pixel = in_row + iw * channels;
          for (int64_t c = 0; c < channels; ++c) dst[c * plane_step] = pixel[c];
        }
      }
    }
  });
}

void SparseConv::compute(int64_t count, Workspace& ws) const {
  const auto& g = g_;
  const int64_t positions = count * g.hs * g.ws;
  const int64_t tiles = ceil_div(positions, kTile);
  const float* in = ws.in.data();
  float* out = ws.out.data();
  // One work unit: one output channel over one tile of positions. Units run tile by tile, so a
  // tile's input stays in L1 while every output channel reads it.
  at::parallel_for(0, tiles * out_, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t t = u / out_, o = u % out_;
      const int64_t first = row_begin_[o], nnz = row_begin_[o + 1] - first;
      const int32_t* off = offset_.data() + first;
      const float* val = value_.data() + first;
      const float* base = in + t * kTile;
      float* dst = out + o * g.row + t * kTile;
      if (positions < 16)
        sparse_rows_narrow(base, off, val, nnz, bias_[o], dst, positions);
      else
        sparse_rows_tile(base, off, val, nnz, bias_[o], dst);
    }
  });
}

void SparseConv::unpack(at::Tensor& y, int64_t first, int64_t count, const Workspace& ws, FusedEpilogue e) const {
  const auto& g = g_;
  const float* src = ws.out.data();
  if (linear_) {
    // Output channel o's row holds its outputs for the chunk: transposed into y's rows.
    transpose(src, out_, count, g.row, y.data_ptr<float>() + first * out_, out_);
    return;
  }
  float* dst = y.data_ptr<float>();
  at::parallel_for(0, count * out_, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t n = u / out_, o = u % out_;
      const float* from = src + o * g.row + n * g.hs * g.ws;
      const int64_t at = ((first + n) * out_ + o) * g.oh * g.ow;
      const float* residual = e.residual ? e.residual + at : nullptr;
      for (int64_t r = 0; r < g.oh; ++r)
        finish_row(from + r * g.ws, residual ? residual + r * g.ow : nullptr, e.relu, dst + at + r * g.ow, g.ow);
    }
  });
}

int64_t SparseConv::chunk_first(int64_t c) const { return c * g_.n / g_.chunks; }

void SparseConv::run_chunk(const at::Tensor& x, at::Tensor& y, int64_t first, int64_t count, Workspace& ws,
                           FusedEpilogue e) const {
  pack(x, first, count, ws);
  compute(count, ws);
  unpack(y, first, count, ws, e);
}

at::Tensor SparseConv::forward(const at::Tensor& x, const Epilogue& epilogue) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat)
    throw std::invalid_argument("sparse kernels run float32 inputs on the CPU");
  const auto geometry = geometry_of(x.sizes());
  if (!geometry)
    throw std::invalid_argument(fmt::format("sparse {} cannot take an input of sizes {}", linear_ ? "linear" : "conv",
                                            fmt::join(x.sizes(), "x")));
  std::lock_guard<std::mutex> lock(mutex_);
  prepare(*geometry);
  const auto& g = g_;
  // Outputs are NCHW whatever the input: a row copy out, and a row copy into the next sparse
  // layer's planes (NHWC in and out would cost a transpose at both ends of every layer).
  const bool nhwc = !linear_ && x.is_contiguous(at::MemoryFormat::ChannelsLast) && x.size(1) > 1;
  const auto in = linear_ || nhwc ? x : x.contiguous();
  auto y = linear_ ? at::empty({g.n, out_}) : at::empty({g.n, out_, g.oh, g.ow});
  // A conv's output rows are copied out one by one anyway: the epilogue rides along when its
  // residual is laid out as y. Otherwise (and for linear layers) it runs after, in place.
  const auto& r = epilogue.residual;
  const bool fuse = !linear_ && (!r.defined() || (r.sizes() == y.sizes() && r.is_contiguous() &&
                                                  r.device().is_cpu() && r.scalar_type() == at::kFloat));
  const FusedEpilogue fused{fuse && r.defined() ? r.data_ptr<float>() : nullptr, fuse && epilogue.relu};
  if (g.chunks > 1 && workspaces_.size() > 1) {
    // Chunks in parallel, one workspace per thread (the phases inside run on that thread). A
    // strided linear input is copied by ATen: the workers get the caller's inference mode.
    const at::ThreadLocalState caller;
    at::parallel_for(0, g.chunks, 1, [&](int64_t begin, int64_t end) {
      at::ThreadLocalStateGuard same_mode(caller);
      auto& ws = workspaces_[static_cast<size_t>(at::get_thread_num()) % workspaces_.size()];
      for (int64_t c = begin; c < end; ++c)
        run_chunk(in, y, chunk_first(c), chunk_first(c + 1) - chunk_first(c), ws, fused);
    });
  } else {
    for (int64_t c = 0; c < g.chunks; ++c)
      run_chunk(in, y, chunk_first(c), chunk_first(c + 1) - chunk_first(c), workspaces_[0], fused);
  }
  if (!fuse) apply_in_place(y, epilogue);
  return y;
}

}  // namespace prunelab::kernels
