#include "data/augment.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <stdexcept>

namespace prunelab::data {

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

template <typename T, typename Map>
void assemble(const T* base, const TensorDataset& d, const int64_t* idx, int64_t start, int64_t count,
              const SampleTransform* tf, float* out, Map&& map) {
  const int64_t C = d.images.size(1), H = d.images.size(2), W = d.images.size(3), plane = H * W;
  std::vector<float> pad(size_t(C), 0.0f);
  for (int64_t c = 0; c < C && c < int64_t(d.pad.size()); ++c) pad[size_t(c)] = d.pad[size_t(c)];
  for (int64_t i = 0; i < count; ++i) {
    const int64_t n = idx ? idx[i] : start + i;
    const T* src = base + n * C * plane;
    float* o = out + i * plane * C;
    const SampleTransform t = tf ? tf[i] : SampleTransform{};
    if (!tf || (t.shift_y == 0 && t.shift_x == 0 && !t.flip)) {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < plane; ++p) o[c * plane + p] = map(c, src[c * plane + p]);
      continue;
    }
    for (int64_t c = 0; c < C; ++c) {
      const T* s = src + c * plane;
      float* oc = o + c * plane;
      const float fill = pad[size_t(c)];
      for (int64_t y = 0; y < H; ++y) {
        const int64_t sy = y + t.shift_y;
        float* row = oc + y * W;
        if (sy < 0 || sy >= H) {
          std::fill(row, row + W, fill);
          continue;
        }
        // Output x reads source column x + shift (mirrored: W - 1 - x + shift); outside the
        // source it is padding. The valid range is one run, so the loops do not branch.
        const T* srow = s + sy * W;
        const int64_t lo = t.flip ? std::max<int64_t>(0, t.shift_x) : std::max<int64_t>(0, -t.shift_x);
        const int64_t hi = t.flip ? std::min<int64_t>(W, W + t.shift_x) : std::min<int64_t>(W, W - t.shift_x);
        std::fill(row, row + lo, fill);
        if (t.flip) {
          for (int64_t x = lo; x < hi; ++x) row[x] = map(c, srow[W - 1 - x + t.shift_x]);
        } else {
          for (int64_t x = lo; x < hi; ++x) row[x] = map(c, srow[x + t.shift_x]);
        }
        std::fill(row + std::max(lo, hi), row + W, fill);
      }
    }
  }
}
}  // namespace

SampleTransform draw_transform(const AugmentSpec& a, uint64_t seed, int64_t epoch, int64_t position) {
  const uint64_t h = splitmix64(splitmix64(splitmix64(seed ^ 0x5eedau) + uint64_t(epoch)) + uint64_t(position));
  SampleTransform t;
  if (a.crop_padding > 0) {
    const uint64_t span = uint64_t(2 * a.crop_padding + 1);
    t.shift_y = int64_t((h & 0xffffffffULL) % span) - a.crop_padding;
    t.shift_x = int64_t(((h >> 32) & 0x7fffffffULL) % span) - a.crop_padding;
  }
  t.flip = a.flip && (h >> 63) != 0;
  return t;
}

void assemble_inputs(const TensorDataset& d, const int64_t* idx, int64_t start, int64_t count, const SampleTransform* tf,
                     float* out) {
  if (d.images.scalar_type() == at::kByte) {
    const float* lut = d.lut.data_ptr<float>();
    assemble(d.images.data_ptr<uint8_t>(), d, idx, start, count, tf, out,
             [lut](int64_t c, uint8_t v) { return lut[c * 256 + v]; });
  } else if (d.images.scalar_type() == at::kFloat) {
    assemble(d.images.data_ptr<float>(), d, idx, start, count, tf, out, [](int64_t, float v) { return v; });
  } else {
    throw std::invalid_argument("dataset images must be uint8 or float");
  }
}

}  // namespace prunelab::data
