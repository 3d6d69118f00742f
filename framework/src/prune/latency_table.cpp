#include "prune/latency_table.hpp"


#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>

namespace prunelab {

LatencyTable::LatencyTable(SearchStore* store, int64_t batch, c10::Device device)
    : store_(store), batch_(batch), device_(device) {}

std::string LatencyTable::geometry_key(const ModelLayer& layer) const {
  // Everything but the channel counts that decides the layer's time, and the machine setting.
  std::string shape = "linear";
  if (layer.kind == LayerKind::Conv2d) {
    if (layer.in_hw.size() != 2) throw std::logic_error("latency table: layer has not seen an input yet");
    if (layer.conv.groups != 1 || !layer.conv.known)
      throw std::runtime_error(fmt::format("latency table: layer '{}' is a grouped conv, which it cannot time yet", layer.name));
    const auto& s = layer.conv;
    shape = fmt::format("conv k{} s{} p{} bias{} in{}x{}", layer.weight.size(2), s.stride, s.padding,
                        layer.bias.defined() ? 1 : 0, layer.in_hw[0], layer.in_hw[1]);
    if (s.dilation != 1) shape += fmt::format(" d{}", s.dilation);
    if (layer.weight.size(2) != layer.weight.size(3)) shape += fmt::format(" kw{}", layer.weight.size(3));
  } else if (layer.bias.defined()) {
    shape = "linear bias1";
  }
  return fmt::format("{} batch{} threads{} {}", shape, batch_, at::get_num_threads(), device_.str());
}

double LatencyTable::measure(const ModelLayer& layer, int64_t in, int64_t out) const {
  c10::InferenceMode guard;
  const auto opts = at::TensorOptions().device(device_);
  at::Tensor x, w, b;
  std::function<at::Tensor()> run;
  if (layer.kind == LayerKind::Conv2d) {
    const auto s = layer.conv;
    x = at::randn({batch_, in, layer.in_hw[0], layer.in_hw[1]}, opts).contiguous(at::MemoryFormat::ChannelsLast);
    w = at::randn({out, in, layer.weight.size(2), layer.weight.size(3)}, opts).contiguous(at::MemoryFormat::ChannelsLast);
    if (layer.bias.defined()) b = at::randn({out}, opts);
    run = [&, s] { return at::conv2d(x, w, b, {s.stride, s.stride}, {s.padding, s.padding}, {s.dilation, s.dilation}); };
  } else {
    x = at::randn({batch_, in}, opts);
    w = at::randn({out, in}, opts);
    if (layer.bias.defined()) b = at::randn({out}, opts);
    run = [&] { return at::linear(x, w, b); };
  }
  for (int i = 0; i < 3; ++i) run();
  if (device_.is_cuda()) torch::cuda::synchronize();
  std::vector<double> ms;
  for (int i = 0; i < 15; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    if (device_.is_cuda()) torch::cuda::synchronize();  // wait for the kernel, copy nothing
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

double LatencyTable::layer_ms(const ModelLayer& layer, int64_t in, int64_t out) {
  if (in <= 0 || out <= 0) return 0.0;
  const auto key = geometry_key(layer);
  auto it = table_.find(key);
  if (it == table_.end()) {
    it = table_.emplace(key, std::map<std::pair<int64_t, int64_t>, double>{}).first;
    if (store_)
      for (const auto& p : store_->load_curves("latency", key))
        it->second[{std::stoll(p.label), static_cast<int64_t>(p.x)}] = p.y;
  }
  auto& entries = it->second;
  if (auto e = entries.find({in, out}); e != entries.end()) return e->second;
  const double ms = measure(layer, in, out);
  entries[{in, out}] = ms;
  dirty_[key] = true;
  return ms;
}

double LatencyTable::model_ms(const MaskSet& masks, const std::vector<at::Tensor>& weight_masks,
                              const std::vector<at::Tensor>& channel_masks) {
  const auto& layers = masks.layers();
  double total = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& w = weight_masks[i];
    const int64_t out = channel_masks[i].ne(0).sum().item<int64_t>();
    // An input channel (a column for a linear layer) is live if any output still reads it.
    const auto live_in = w.dim() == 4 ? w.ne(0).any(0).flatten(1).any(1) : w.ne(0).any(0);
    total += layer_ms(layers[i], live_in.sum().item<int64_t>(), out);
  }
  return total;
}

void LatencyTable::flush() {
  if (!store_) return;
  for (auto& [key, dirty] : dirty_) {
    if (!dirty) continue;
    std::vector<CurvePoint> points;
    for (const auto& [io, ms] : table_.at(key)) points.push_back({std::to_string(io.first), double(io.second), ms});
    store_->save_curves("latency", key, points);
    dirty = false;
  }
}

}  // namespace prunelab
