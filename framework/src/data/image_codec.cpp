#include "data/image_codec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <jpeglib.h>
#include <png.h>

namespace prunelab::data {

namespace {

bool is_png(const uint8_t* d, size_t n) { return n >= 8 && png_sig_cmp(d, 0, 8) == 0; }
bool is_jpeg(const uint8_t* d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }

// ---- PNG (simplified API: every bit depth, palette and alpha form, errors as messages) ----

struct PngImage {
  png_image image;
  PngImage() {
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.flags = PNG_IMAGE_FLAG_16BIT_sRGB;  // 16-bit files are sRGB like 8-bit ones (as most tools assume)
  }
  ~PngImage() { png_image_free(&image); }
  void begin(const uint8_t* data, size_t size) {
    if (!png_image_begin_read_from_memory(&image, data, size))
      throw std::runtime_error(fmt::format("libpng: {}", image.message));
  }
};

// ---- JPEG (libjpeg's errors longjmp out; the message is kept for the exception) ----

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};
void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  cinfo->err->format_message(cinfo, err->message);
  std::longjmp(err->jump, 1);
}
void jpeg_quiet(j_common_ptr, int) {}  // warnings (corrupt data the decoder recovered from) stay silent

// Decodes (or, with out == nullptr, reads the header of) a JPEG. Plain C data only between
// setjmp and the decoder calls: longjmp skips destructors.
bool jpeg_read(const uint8_t* data, size_t size, int64_t channels, ImageInfo& info, uint8_t* out, size_t out_size,
               char* message) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  err.mgr.emit_message = jpeg_quiet;
  if (setjmp(err.jump)) {
    std::snprintf(message, JMSG_LENGTH_MAX, "%s", err.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  info.width = cinfo.image_width;
  info.height = cinfo.image_height;
  if (cinfo.num_components != 1 && cinfo.num_components != 3) {
    std::snprintf(message, JMSG_LENGTH_MAX, "%d-component (CMYK?) JPEG files are not supported", cinfo.num_components);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  info.channels = cinfo.num_components;
  if (out) {
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    const size_t stride = size_t(cinfo.output_width) * size_t(cinfo.output_components);
    if (stride * cinfo.output_height > out_size) {
      std::snprintf(message, JMSG_LENGTH_MAX, "unexpected output size");
      jpeg_destroy_decompress(&cinfo);
      return false;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = out + size_t(cinfo.output_scanline) * stride;
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

ImageInfo read_image_info(const uint8_t* data, size_t size) {
  ImageInfo info;
  if (is_png(data, size)) {
    PngImage png;
    png.begin(data, size);
    info.width = png.image.width;
    info.height = png.image.height;
    info.channels = (png.image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    return info;
  }
  if (is_jpeg(data, size)) {
    char message[JMSG_LENGTH_MAX];
    if (!jpeg_read(data, size, 0, info, nullptr, 0, message)) throw std::runtime_error(fmt::format("libjpeg: {}", message));
    return info;
  }
  throw std::runtime_error("neither a PNG nor a JPEG file (its first bytes are no PNG or JPEG signature)");
}

std::vector<uint8_t> decode_image(const uint8_t* data, size_t size, int64_t channels, ImageInfo& info) {
  if (channels != 1 && channels != 3) throw std::invalid_argument("decode_image: channels must be 1 or 3");
  info = read_image_info(data, size);
  std::vector<uint8_t> out(size_t(info.width) * size_t(info.height) * size_t(channels));
  if (is_png(data, size)) {
    PngImage png;
    png.begin(data, size);
    png.image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    const png_color black{0, 0, 0};
    if (!png_image_finish_read(&png.image, &black, out.data(), 0, nullptr))
      throw std::runtime_error(fmt::format("libpng: {}", png.image.message));
    return out;
  }
  char message[JMSG_LENGTH_MAX];
  if (!jpeg_read(data, size, channels, info, out.data(), out.size(), message))
    throw std::runtime_error(fmt::format("libjpeg: {}", message));
  return out;
}

namespace {
// For each output position along one axis: the first input index and the normalised weights.
struct Taps {
  std::vector<int64_t> first, count;
  std::vector<double> weights;  // count[i] weights per output i, at offset i * width
  int64_t width = 0;
};
Taps make_taps(int64_t in, int64_t out) {
  const double scale = double(in) / double(out);
  const double radius = std::max(1.0, scale);  // triangle of half-width 1 output pixel, in input pixels
  Taps t;
  t.width = static_cast<int64_t>(std::ceil(radius)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(size_t(out * t.width), 0.0);
  for (int64_t i = 0; i < out; ++i) {
    const double center = (double(i) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(center - radius)));
    const int64_t hi = std::min<int64_t>(in, static_cast<int64_t>(std::ceil(center + radius)));
    double sum = 0.0;
    int64_t n = 0;
    for (int64_t j = lo; j < hi && n < t.width; ++j, ++n) {
      const double w = std::max(0.0, 1.0 - std::abs((double(j) + 0.5 - center) / radius));
      t.weights[size_t(i * t.width + n)] = w;
      sum += w;
    }
    for (int64_t k = 0; k < n; ++k) t.weights[size_t(i * t.width + k)] /= sum > 0 ? sum : 1.0;
    t.first[i] = lo;
    t.count[i] = n;
  }
  return t;
}
}  // namespace

std::vector<uint8_t> resize_image(const std::vector<uint8_t>& src, int64_t width, int64_t height, int64_t channels,
                                  int64_t out_width, int64_t out_height) {
  if (width == out_width && height == out_height) return src;
  const Taps tx = make_taps(width, out_width), ty = make_taps(height, out_height);
  std::vector<double> rows(size_t(height * out_width * channels));  // horizontal pass
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < out_width; ++x)
      for (int64_t c = 0; c < channels; ++c) {
        double v = 0.0;
        for (int64_t k = 0; k < tx.count[x]; ++k)
          v += tx.weights[size_t(x * tx.width + k)] * src[size_t(((y * width) + tx.first[x] + k) * channels + c)];
        rows[size_t((y * out_width + x) * channels + c)] = v;
      }
  std::vector<uint8_t> out(size_t(out_height * out_width * channels));
  for (int64_t y = 0; y < out_height; ++y)
    for (int64_t x = 0; x < out_width; ++x)
      for (int64_t c = 0; c < channels; ++c) {
        double v = 0.0;
        for (int64_t k = 0; k < ty.count[y]; ++k)
          v += ty.weights[size_t(y * ty.width + k)] * rows[size_t(((ty.first[y] + k) * out_width + x) * channels + c)];
        out[size_t((y * out_width + x) * channels + c)] = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
  return out;
}

std::vector<uint8_t> encode_png(const uint8_t* pixels, int64_t width, int64_t height, int64_t channels) {
  PngImage png;
  png.image.width = static_cast<png_uint_32>(width);
  png.image.height = static_cast<png_uint_32>(height);
  png.image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png.image, nullptr, &size, 0, pixels, 0, nullptr))
    throw std::runtime_error(fmt::format("libpng: {}", png.image.message));
  std::vector<uint8_t> out(size);
  if (!png_image_write_to_memory(&png.image, out.data(), &size, 0, pixels, 0, nullptr))
    throw std::runtime_error(fmt::format("libpng: {}", png.image.message));
  out.resize(size);
  return out;
}

std::vector<uint8_t> encode_jpeg(const uint8_t* pixels, int64_t width, int64_t height, int64_t channels, int quality) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);  // encoding our own buffers cannot hit a data error
  jpeg_create_compress(&cinfo);
  unsigned char* mem = nullptr;
  unsigned long mem_size = 0;
  jpeg_mem_dest(&cinfo, &mem, &mem_size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = static_cast<int>(channels);
  cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t stride = size_t(width * channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(pixels) + size_t(cinfo.next_scanline) * stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::vector<uint8_t> out(mem, mem + mem_size);
  jpeg_destroy_compress(&cinfo);
  std::free(mem);
  return out;
}

}  // namespace prunelab::data
