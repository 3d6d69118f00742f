#include "prune/physical.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>

namespace prunelab {

namespace {

// Replaces a parameter's or buffer's data with the selected slices along `dim`.
void keep(at::Tensor& t, int64_t dim, const at::Tensor& idx) {
  auto sliced = t.index_select(dim, idx);
  if (sliced.dim() == 4) sliced = sliced.contiguous(at::MemoryFormat::ChannelsLast);
  t.set_data(sliced);
}

at::Tensor zero_rows(const at::Tensor& w) { return w.reshape({w.size(0), -1}).ne(0).sum(1).eq(0); }

}  // namespace

int64_t remove_dead_channels(Network& net) {
  at::NoGradGuard no_grad;
  const auto layers = net.prunable_layers();
  int64_t removed = 0;
  for (const auto& group : net.channel_groups()) {
    at::Tensor dead = at::ones({group.channels}, at::kBool);
    for (size_t p : group.producers) {
      const auto& e = layers[p];
      auto d = zero_rows(e.layer->weight).cpu();
      if (e.layer->bias.defined()) d = d.logical_and(e.layer->bias.eq(0).cpu());
      if (e.bn) d = d.logical_and(e.bn->weight.eq(0).cpu()).logical_and(e.bn->bias.eq(0).cpu());
      dead = dead.logical_and(d);
    }
    auto kept = dead.logical_not().nonzero().flatten();
    if (kept.numel() == 0) kept = at::zeros({1}, at::kLong);  // never cut the network in two
    if (kept.numel() == group.channels) continue;
    removed += group.channels - kept.numel();
    const auto device = layers[group.producers[0]].layer->weight.device();
    kept = kept.to(device);
    for (size_t p : group.producers) {
      const auto& e = layers[p];
      keep(e.layer->weight, 0, kept);
      if (e.layer->bias.defined()) keep(e.layer->bias, 0, kept);
      if (e.bn) {
        keep(e.bn->weight, 0, kept);
        keep(e.bn->bias, 0, kept);
        keep(e.bn->running_mean, 0, kept);
        keep(e.bn->running_var, 0, kept);
        e.bn->options.num_features(kept.numel());
      }
    }
    for (const auto& c : group.consumers) {
      auto& w = layers[c.layer].layer->weight;
      // Input channel k is columns [k * spatial, (k + 1) * spatial) of a flattened input.
      auto cols = c.spatial == 1
                      ? kept
                      : (kept.unsqueeze(1) * c.spatial + at::arange(c.spatial, kept.options())).flatten();
      keep(w, 1, cols);
    }
  }
  return removed;
}

std::shared_ptr<Network> physical_copy(Network& net, const std::string& model, const InputShape& shape,
                                       c10::Device device) {
  auto copy = make_network(model, shape);
  copy->to(device);
  copy_state(net, *copy);
  copy->train(net.is_training());
  remove_dead_channels(*copy);
  return copy;
}

OutputComparison compare_outputs(Network& a, Network& b, const at::Tensor& inputs) {
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

double max_output_difference(Network& a, Network& b, const at::Tensor& inputs) {
  return compare_outputs(a, b, inputs).max_diff;
}

}  // namespace prunelab
