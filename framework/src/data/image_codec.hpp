#pragma once
/// PNG and JPEG in memory (libpng's simplified API, libjpeg-turbo), plus the resize and centre
/// crop of the image-folder loader. Pixels are interleaved rows: [H][W][C], C = 1 or 3.

#include <cstdint>
#include <string>
#include <vector>

namespace prunelab::data {

struct ImageInfo {
  int64_t width = 0, height = 0;
  int64_t channels = 0;  // 1 (grey) or 3 (colour) as stored; an alpha channel is not counted
};

/// Header only (fast); throws std::runtime_error with the decoder's reason.
ImageInfo read_image_info(const uint8_t* data, size_t size);

/// Decodes to `channels` (1 or 3) 8-bit channels: grey is replicated to colour, colour becomes
/// grey by the decoder's own conversion, alpha is composited on black. Throws with the reason.
std::vector<uint8_t> decode_image(const uint8_t* data, size_t size, int64_t channels, ImageInfo& info);

/// Antialiased bilinear resize (a triangle filter widened when shrinking, as PIL's BILINEAR).
std::vector<uint8_t> resize_image(const std::vector<uint8_t>& src, int64_t width, int64_t height, int64_t channels,
                                  int64_t out_width, int64_t out_height);

/// For tests and benchmarks: encoders writing what the decoders read.
std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t width, int64_t height, int64_t channels);
std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height, int64_t channels, int quality);

}  // namespace prunelab::data
