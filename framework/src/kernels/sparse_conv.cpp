#include "kernels/sparse_conv.hpp"

#include "kernels/sparse_rows.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
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
  g.positions = n * g.hs * g.ws;
  g.tiles = ceil_div(g.positions, kTile);
  g.row = g.tiles * kTile;
  const int64_t channels = in_per_group_ * p_.groups;
  const int64_t widest_tap = ((kh_ - 1) * d / s) * g.ws + (kw_ - 1) * d / s;
  g.input_floats = channels * s * s * g.positions + (g.row - g.positions) + widest_tap + kSlack;
  return g;
}

bool SparseConv::supports(at::IntArrayRef sizes) const {
  const int64_t channels = in_per_group_ * p_.groups;
  if (linear_ ? sizes.size() != 2 : sizes.size() != 4) return false;
  if (sizes[1] != channels || sizes[0] < 1) return false;
  const auto g = linear_ ? geometry_for(sizes[0], 1, 1) : geometry_for(sizes[0], sizes[2], sizes[3]);
  if (g.oh < 1 || g.ow < 1) return false;
  // Offsets are 32-bit; workspaces above 1 GiB are not worth a layer's speed-up.
  constexpr int64_t kMaxFloats = int64_t{1} << 28;
  return g.input_floats < kMaxFloats && out_ * g.row < kMaxFloats;
}

void SparseConv::prepare(const Geometry& g) {
  if (g == g_ && !offset_.empty()) return;
  g_ = g;
  const int64_t s = p_.stride, d = p_.dilation;
  offset_.resize(value_.size());
  for (size_t k = 0; k < value_.size(); ++k) {
    const int64_t th = tap_h_[k] * d, tw = tap_w_[k] * d;
    const int64_t plane = (channel_[k] * s + th % s) * s + tw % s;
    offset_[k] = static_cast<int32_t>(plane * g.positions + (th / s) * g.ws + tw / s);
  }
  in_buf_.assign(g.input_floats, 0.0f);
  out_buf_.assign(out_ * g.row, 0.0f);
}

void SparseConv::pack_input(const at::Tensor& x) {
  const auto& g = g_;
  const int64_t s = p_.stride, pad = p_.padding;
  const float* src = x.data_ptr<float>();
  const int64_t sn = x.stride(0), sc = x.stride(1);
  const int64_t sh = linear_ ? 0 : x.stride(2), sw = linear_ ? 0 : x.stride(3);
  const int64_t channels = in_per_group_ * p_.groups;
  at::parallel_for(0, channels * s * s, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const int64_t c = plane / (s * s), p = (plane / s) % s, q = plane % s;
      float* dst = in_buf_.data() + plane * g.positions;
      for (int64_t n = 0; n < g.n; ++n)
        for (int64_t i = 0; i < g.hs; ++i) {
          float* row = dst + (n * g.hs + i) * g.ws;
          const int64_t ih = i * s + p - pad;
          if (ih < 0 || ih >= g.h) {
            std::fill(row, row + g.ws, 0.0f);
            continue;
          }
          const float* in_row = src + n * sn + c * sc + ih * sh;
          for (int64_t j = 0; j < g.ws; ++j) {
            const int64_t iw = j * s + q - pad;
            row[j] = iw >= 0 && iw < g.w ? in_row[iw * sw] : 0.0f;
          }
        }
    }
  });
}

void SparseConv::compute() {
  const auto& g = g_;
  const float* in = in_buf_.data();
  float* out = out_buf_.data();
  // One work unit: one output channel over one tile of positions. Units run tile by tile, so a
  // tile's input stays in cache while every output channel reads it.
  at::parallel_for(0, g.tiles * out_, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t t = u / out_, o = u % out_;
      const int64_t first = row_begin_[o], nnz = row_begin_[o + 1] - first;
      const int32_t* off = offset_.data() + first;
      const float* val = value_.data() + first;
      const float* base = in + t * kTile;
      float* dst = out + o * g.row + t * kTile;
      if (g.positions < 16)
        sparse_rows_narrow(base, off, val, nnz, bias_[o], dst, g.positions);
      else
        sparse_rows_tile(base, off, val, nnz, bias_[o], dst);
    }
  });
}

at::Tensor SparseConv::unpack_output() const {
  const auto& g = g_;
  auto y = linear_ ? at::empty({g.n, out_}) : at::empty({g.n, out_, g.oh, g.ow});
  float* dst = y.data_ptr<float>();
  const float* src = out_buf_.data();
  if (linear_) {
    at::parallel_for(0, g.n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n)
        for (int64_t o = 0; o < out_; ++o) dst[n * out_ + o] = src[o * g.row + n];
    });
    return y;
  }
  at::parallel_for(0, g.n * out_, 1, [&](int64_t begin, int64_t end) {
    for (int64_t u = begin; u < end; ++u) {
      const int64_t n = u / out_, o = u % out_;
      const float* from = src + o * g.row + n * g.hs * g.ws;
      float* to = dst + u * g.oh * g.ow;
      for (int64_t r = 0; r < g.oh; ++r) std::memcpy(to + r * g.ow, from + r * g.ws, sizeof(float) * g.ow);
    }
  });
  return y;
}

at::Tensor SparseConv::forward(const at::Tensor& x) {
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat)
    throw std::invalid_argument("sparse kernels run float32 inputs on the CPU");
  if (!supports(x.sizes()))
    throw std::invalid_argument(fmt::format("sparse {} cannot take an input of sizes {}", linear_ ? "linear" : "conv",
                                            fmt::join(x.sizes(), "x")));
  std::lock_guard<std::mutex> lock(mutex_);
  prepare(linear_ ? geometry_for(x.size(0), 1, 1) : geometry_for(x.size(0), x.size(2), x.size(3)));
  pack_input(x);
  compute();
  return unpack_output();
}

}  // namespace prunelab::kernels
