// torchvision's ImageFolder layout: root/train/<class>/*.png|jpg and root/test/<class>/*, classes
// sorted by name. Images are decoded once (in parallel) into one uint8 tensor per split.
#include "data/image_codec.hpp"
#include "data/readers.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace prunelab::data {

namespace {

namespace fs = std::filesystem;

struct Item {
  std::string path, rel;  // rel: "<class>/<file>", what the fingerprint records
  std::string file;       // the file name: the sort key
  int64_t label = 0;
};
struct Listing {
  std::vector<std::string> classes;
  std::vector<Item> train, test;
};

bool image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}
bool hidden(const fs::path& p) { return !p.filename().empty() && p.filename().string()[0] == '.'; }

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (!hidden(e.path())) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// One split's images, ordered by file name (then class): a set written with a running index as
// the file name keeps its original order, so limits take a mix of classes, not the first class.
std::vector<Item> list_split(const fs::path& dir, std::vector<std::string>& classes, bool define_classes) {
  std::vector<Item> items;
  for (const auto& entry : sorted_entries(dir)) {
    if (!fs::is_directory(entry))
      throw std::runtime_error(fmt::format("'{}' is not inside a class folder (expected {}/<class>/<image>)",
                                           entry.string(), dir.string()));
    const std::string cls = entry.filename().string();
    int64_t label;
    if (define_classes) {
      label = static_cast<int64_t>(classes.size());
      classes.push_back(cls);
    } else {
      auto it = std::find(classes.begin(), classes.end(), cls);
      if (it == classes.end())
        throw std::runtime_error(fmt::format("'{}' is not a class of the training split (its classes: {})",
                                             entry.string(), fmt::join(classes, ", ")));
      label = it - classes.begin();
    }
    int64_t found = 0;
    for (const auto& file : sorted_entries(entry)) {
      if (fs::is_directory(file) || !image_extension(file))
        throw std::runtime_error(fmt::format("'{}' is not a .png, .jpg or .jpeg file (a class folder holds images only; "
                                             "hidden files are skipped)", file.string()));
      items.push_back({file.string(), cls + "/" + file.filename().string(), file.filename().string(), label});
      ++found;
    }
    if (found == 0) throw std::runtime_error(fmt::format("class folder '{}' holds no images (.png, .jpg, .jpeg)", entry.string()));
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.file != b.file ? a.file < b.file : a.label < b.label;
  });
  return items;
}

Listing list_folder(const DataSpec& spec) {
  Listing l;
  const fs::path root(spec.root);
  for (const char* split : {"train", "test"})
    if (!fs::is_directory(root / split))
      throw std::runtime_error(fmt::format("image folder '{}' has no '{}' folder (expected {}/train/<class>/*.png|jpg "
                                           "and {}/test/<class>/*)", spec.root, split, spec.root, spec.root));
  l.train = list_split(root / "train", l.classes, true);
  if (l.classes.empty()) throw std::runtime_error(fmt::format("'{}' holds no class folders", (root / "train").string()));
  l.test = list_split(root / "test", l.classes, false);
  if (l.test.empty()) throw std::runtime_error(fmt::format("'{}' holds no class folders", (root / "test").string()));
  return l;
}

// The stored size an image must have, and the size it is brought to.
struct Geometry {
  int64_t resize = 0;                 // shorter side resized to this (0: not resized)
  int64_t crop_h = 0, crop_w = 0;     // centre crop (0: none)
};
Geometry geometry(const DataSpec& spec) {
  Geometry g{spec.resize, spec.image_height, spec.image_width};
  if (g.resize > 0 && g.crop_h == 0) g.crop_h = g.crop_w = g.resize;
  return g;
}

// Size after resizing the shorter side to `resize` (torchvision's Resize(int): the longer side truncated).
std::pair<int64_t, int64_t> resized(int64_t w, int64_t h, int64_t resize) {
  if (resize <= 0) return {w, h};
  if (w <= h) return {resize, std::max<int64_t>(1, resize * h / w)};
  return {std::max<int64_t>(1, resize * w / h), resize};
}

std::string image_error(const Item& item, const std::string& why) { return fmt::format("image '{}': {}", item.path, why); }

// Checks an image's stored size against the first image's (or the crop), naming both.
void check_size(const Item& item, const ImageInfo& info, const Geometry& g, const Item& first, const ImageInfo& first_info) {
  if (g.crop_h > 0) {
    const auto [w, h] = resized(info.width, info.height, g.resize);
    if (w < g.crop_w || h < g.crop_h)
      throw std::runtime_error(image_error(item, fmt::format(
          "{}×{} (width × height){} is smaller than data.image_size {}×{}; set data.resize to scale it up", info.width,
          info.height, g.resize > 0 ? fmt::format(", {}×{} after resizing", w, h) : "", g.crop_w, g.crop_h)));
  } else if (info.width != first_info.width || info.height != first_info.height) {
    throw std::runtime_error(image_error(item, fmt::format(
        "{}×{} (width × height), but '{}' is {}×{}: every image must have one size, or set data.image_size "
        "(and data.resize) to bring them to one", info.width, info.height, first.path, first_info.width,
        first_info.height)));
  }
}

// Runs f(i) for i in [0, n) on a few threads; rethrows the error of the lowest failing index.
template <typename F>
void parallel_items(int64_t n, F&& f) {
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(n, std::min(8u, std::max(1u, std::thread::hardware_concurrency()))));
  std::vector<std::string> errors(static_cast<size_t>(threads));
  std::vector<int64_t> error_at(size_t(threads), -1);
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> first_error{n};
  auto work = [&](int64_t t) {
    for (int64_t i; (i = next++) < n && i < first_error.load();) {
      try {
        f(i);
      } catch (const std::exception& e) {
        errors[size_t(t)] = e.what();
        error_at[size_t(t)] = i;
        for (int64_t cur = first_error.load(); i < cur && !first_error.compare_exchange_weak(cur, i);) {
        }
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  int64_t best = -1;
  for (int64_t t = 0; t < threads; ++t)
    if (error_at[size_t(t)] >= 0 && (best < 0 || error_at[size_t(t)] < error_at[size_t(best)])) best = t;
  if (best >= 0) throw std::runtime_error(errors[size_t(best)]);
}

std::vector<int64_t> header_info(const Item& item, const std::vector<uint8_t>& bytes) {
  try {
    const auto info = read_image_info(bytes.data(), bytes.size());
    return {info.width, info.height, info.channels};
  } catch (const std::exception& e) {
    throw std::runtime_error(image_error(item, fmt::format("not a readable image ({})", e.what())));
  }
}

}  // namespace

void probe_image_folder(const DataSpec& spec, Fingerprint& fp, DataProbe& out) {
  const Listing l = list_folder(spec);
  const Geometry g = geometry(spec);
  std::vector<const Item*> all;
  for (const auto& i : l.train) all.push_back(&i);
  for (const auto& i : l.test) all.push_back(&i);
  std::vector<FileDigest> digests(all.size());
  parallel_items(static_cast<int64_t>(all.size()), [&](int64_t i) {
    const Item& item = *all[size_t(i)];
    digests[size_t(i)] = digest_file(item.path, "image", [&](const std::vector<uint8_t>& b) { return header_info(item, b); });
  });
  const ImageInfo first{digests[0].info.at(0), digests[0].info.at(1), digests[0].info.at(2)};
  for (size_t i = 0; i < all.size(); ++i) {
    check_size(*all[i], {digests[i].info.at(0), digests[i].info.at(1), digests[i].info.at(2)}, g, *all[0], first);
    fp.add((i < l.train.size() ? "train/" : "test/") + all[i]->rel, digests[i]);
  }
  out.train = static_cast<int64_t>(l.train.size());
  out.test = static_cast<int64_t>(l.test.size());
  int64_t channels = spec.channels;
  if (channels == 0)
    channels = std::any_of(digests.begin(), digests.end(), [](const FileDigest& d) { return d.info.at(2) == 3; }) ? 3 : 1;
  out.shape = {channels, g.crop_h > 0 ? g.crop_h : first.height, g.crop_w > 0 ? g.crop_w : first.width,
               static_cast<int64_t>(l.classes.size())};
}

RawData read_image_folder(const DataSpec& spec) {
  const Listing l = list_folder(spec);
  const Geometry g = geometry(spec);
  std::vector<const Item*> all;
  for (const auto& i : l.train) all.push_back(&i);
  for (const auto& i : l.test) all.push_back(&i);
  const int64_t n = static_cast<int64_t>(all.size());
  // Pass 1: read every file and its header (the channel count may depend on all of them).
  std::vector<std::vector<uint8_t>> bytes(static_cast<size_t>(n));
  std::vector<ImageInfo> infos(static_cast<size_t>(n));
  parallel_items(n, [&](int64_t i) {
    bytes[size_t(i)] = read_file(all[size_t(i)]->path);
    const auto h = header_info(*all[size_t(i)], bytes[size_t(i)]);
    infos[size_t(i)] = {h[0], h[1], h[2]};
  });
  int64_t channels = spec.channels;
  if (channels == 0)
    channels = std::any_of(infos.begin(), infos.end(), [](const ImageInfo& i) { return i.channels == 3; }) ? 3 : 1;
  for (int64_t i = 0; i < n; ++i) check_size(*all[size_t(i)], infos[size_t(i)], g, *all[0], infos[0]);
  const int64_t H = g.crop_h > 0 ? g.crop_h : infos[0].height, W = g.crop_w > 0 ? g.crop_w : infos[0].width;

  RawData out;
  const int64_t n_train = static_cast<int64_t>(l.train.size());
  out.train = {at::empty({n_train, channels, H, W}, at::kByte), at::empty({n_train}, at::kLong)};
  out.test = {at::empty({n - n_train, channels, H, W}, at::kByte), at::empty({n - n_train}, at::kLong)};
  out.classes = static_cast<int64_t>(l.classes.size());
  // Pass 2: decode, resize, crop, and write each image's planes into its slot.
  parallel_items(n, [&](int64_t i) {
    const Item& item = *all[size_t(i)];
    ImageInfo info;
    std::vector<uint8_t> px;
    try {
      px = decode_image(bytes[size_t(i)].data(), bytes[size_t(i)].size(), channels, info);
    } catch (const std::exception& e) {
      throw std::runtime_error(image_error(item, fmt::format("cannot be decoded ({})", e.what())));
    }
    std::vector<uint8_t>().swap(bytes[size_t(i)]);
    auto [w, h] = resized(info.width, info.height, g.resize);
    if (g.resize > 0) px = resize_image(px, info.width, info.height, channels, w, h);
    const int64_t y0 = (h - H) / 2, x0 = (w - W) / 2;
    RawSplit& split = i < n_train ? out.train : out.test;
    const int64_t k = i < n_train ? i : i - n_train;
    split.labels.data_ptr<int64_t>()[k] = item.label;
    uint8_t* dst = split.images.data_ptr<uint8_t>() + k * channels * H * W;
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          dst[(c * H + y) * W + x] = px[size_t(((y0 + y) * w + x0 + x) * channels + c)];
  });
  return out;
}

}  // namespace prunelab::data
