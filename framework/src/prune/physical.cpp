#include "prune/physical.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

#include <map>

namespace prunelab {

namespace {

// Replaces a parameter's or buffer's data with the selected slices along `dim`.
void keep(const at::Tensor& t, int64_t dim, const at::Tensor& idx) {
  auto sliced = t.index_select(dim, idx);
  if (sliced.dim() == 4) sliced = sliced.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor(t).set_data(sliced);
}

at::Tensor zero_rows(const at::Tensor& w) { return w.reshape({w.size(0), -1}).ne(0).sum(1).eq(0); }

}  // namespace

namespace {
// Which entries of a tensor's dimension survive, starting from "all": groups clear what they remove.
struct KeepMask {
  at::Tensor keep;  // bool, on the CPU
  void drop(int64_t offset, const at::Tensor& dead_slice, int64_t spatial) {
    auto d = spatial == 1 ? dead_slice : dead_slice.repeat_interleave(spatial);
    keep.narrow(0, offset * spatial, d.size(0)).logical_and_(d.logical_not());
  }
};
}  // namespace

int64_t remove_dead_channels(Model& model) {
  at::NoGradGuard no_grad;
  const auto& layers = model.layers();
  int64_t removed = 0;
  // Every removal is decided first and applied once per tensor, so offsets (concatenations) stay valid.
  std::map<size_t, KeepMask> rows, cols;                 // per layer: output rows, input columns
  std::map<const c10::TensorImpl*, std::pair<BatchNormRef, KeepMask>> bns;  // BatchNorms on slices
  auto rows_of = [&](size_t l) -> KeepMask& {
    auto it = rows.find(l);
    if (it == rows.end()) it = rows.emplace(l, KeepMask{at::ones({layers[l].weight.size(0)}, at::kBool)}).first;
    return it->second;
  };
  for (const auto& group : model.channel_groups()) {
    at::Tensor dead = at::ones({group.channels}, at::kBool);
    for (size_t p : group.producers) {
      const auto& l = layers[p];
      auto d = zero_rows(l.weight).cpu();
      if (l.bias.defined()) d = d.logical_and(l.bias.eq(0).cpu());
      if (l.bn.defined()) d = d.logical_and(l.bn.weight.eq(0).cpu()).logical_and(l.bn.bias.eq(0).cpu());
      dead = dead.logical_and(d);
    }
    if (dead.all().item<bool>()) dead[0] = false;  // never cut the network in two
    const int64_t n_dead = dead.sum().item<int64_t>();
    if (n_dead == 0) continue;
    removed += n_dead;
    for (size_t p : group.producers) rows_of(p).drop(0, dead, 1);
    for (const auto& c : group.consumers) {
      auto it = cols.find(c.layer);
      if (it == cols.end()) it = cols.emplace(c.layer, KeepMask{at::ones({layers[c.layer].weight.size(1)}, at::kBool)}).first;
      const int64_t length = c.length < 0 ? group.channels - c.group_offset : c.length;
      it->second.drop(c.in_offset, dead.narrow(0, c.group_offset, length), c.spatial);
    }
    for (const auto& s : group.batchnorms) {
      auto key = s.bn.weight.unsafeGetTensorImpl();
      auto it = bns.find(key);
      if (it == bns.end()) it = bns.emplace(key, std::make_pair(s.bn, KeepMask{at::ones({s.bn.weight.size(0)}, at::kBool)})).first;
      it->second.second.drop(s.offset, dead.narrow(0, s.group_offset, s.length), 1);
    }
  }
  auto index = [](const KeepMask& m, const at::Tensor& like) { return m.keep.nonzero().flatten().to(like.device()); };
  for (auto& [l, m] : rows) {
    const auto& layer = layers[l];
    const auto kept = index(m, layer.weight);
    keep(layer.weight, 0, kept);
    if (layer.bias.defined()) keep(layer.bias, 0, kept);
    if (layer.bn.defined())
      for (const auto& t : {layer.bn.weight, layer.bn.bias, layer.bn.running_mean, layer.bn.running_var}) keep(t, 0, kept);
  }
  for (auto& [l, m] : cols) keep(layers[l].weight, 1, index(m, layers[l].weight));
  for (auto& [key, entry] : bns) {
    const auto& bn = entry.first;
    const auto kept = index(entry.second, bn.weight);
    for (const auto& t : {bn.weight, bn.bias, bn.running_mean, bn.running_var}) keep(t, 0, kept);
  }
  if (removed > 0) model.shapes_changed();
  return removed;
}

std::unique_ptr<Model> physical_copy(Model& model) {
  auto copy = model.clone();
  remove_dead_channels(*copy);
  return copy;
}

OutputComparison compare_outputs(Model& a, Model& b, const at::Tensor& inputs) {
  const bool a_training = a.is_training(), b_training = b.is_training();
  a.eval();
  b.eval();
  OutputComparison out;
  {
    c10::InferenceMode guard;
    const auto ya = a.forward(inputs);
    out.max_diff = (ya - b.forward(inputs)).abs().max().item<double>();
    out.max_abs_a = ya.abs().max().item<double>();
  }
  a.train(a_training);
  b.train(b_training);
  return out;
}

double max_output_difference(Model& a, Model& b, const at::Tensor& inputs) {
  return compare_outputs(a, b, inputs).max_diff;
}

}  // namespace prunelab
