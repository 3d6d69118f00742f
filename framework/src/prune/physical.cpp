#include "prune/physical.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

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

int64_t remove_dead_channels(Model& model) {
  at::NoGradGuard no_grad;
  const auto& layers = model.layers();
  int64_t removed = 0;
  for (const auto& group : model.channel_groups()) {
    at::Tensor dead = at::ones({group.channels}, at::kBool);
    for (size_t p : group.producers) {
      const auto& l = layers[p];
      auto d = zero_rows(l.weight).cpu();
      if (l.bias.defined()) d = d.logical_and(l.bias.eq(0).cpu());
      if (l.bn.defined()) d = d.logical_and(l.bn.weight.eq(0).cpu()).logical_and(l.bn.bias.eq(0).cpu());
      dead = dead.logical_and(d);
    }
    auto kept = dead.logical_not().nonzero().flatten();
    if (kept.numel() == 0) kept = at::zeros({1}, at::kLong);  // never cut the network in two
    if (kept.numel() == group.channels) continue;
    removed += group.channels - kept.numel();
    kept = kept.to(layers[group.producers[0]].weight.device());
    for (size_t p : group.producers) {
      const auto& l = layers[p];
      keep(l.weight, 0, kept);
      if (l.bias.defined()) keep(l.bias, 0, kept);
      if (l.bn.defined()) {
        keep(l.bn.weight, 0, kept);
        keep(l.bn.bias, 0, kept);
        keep(l.bn.running_mean, 0, kept);
        keep(l.bn.running_var, 0, kept);
      }
    }
    for (const auto& c : group.consumers) {
      // Input channel k is columns [k * spatial, (k + 1) * spatial) of a flattened input.
      auto cols = c.spatial == 1
                      ? kept
                      : (kept.unsqueeze(1) * c.spatial + at::arange(c.spatial, kept.options())).flatten();
      keep(layers[c.layer].weight, 1, cols);
    }
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
