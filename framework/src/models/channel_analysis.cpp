#include "models/channel_analysis.hpp"
#include "models/jit_layer_ops.hpp"

#include <fmt/format.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/peephole.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace prunelab {

namespace {

using torch::jit::Node;
using torch::jit::Value;

struct Segment {
  int gid = 0;
  int64_t offset = 0, length = 0;  // channels [offset, offset + length) of group gid
};

/// What dimension 1 of a tensor holds.
struct Channels {
  std::vector<Segment> segs;
  int64_t rank = 4;   // -1: unknown
  bool flat = false;  // flattened from [N, C, H, W]: each channel is a block of columns
  // The channels are the last dimension, not dimension 1: a linear layer's output on a tensor of
  // rank > 2 (or of unknown rank). Only element-wise operations and linear layers may read it.
  bool last = false;
  int64_t total() const {
    int64_t n = 0;
    for (const auto& s : segs) n += s.length;
    return n;
  }
};

const std::set<std::string>& passthrough_ops() {
  static const std::set<std::string> ops = {
      "aten::relu", "aten::relu_", "aten::relu6", "aten::relu6_", "aten::hardtanh", "aten::hardtanh_", "aten::sigmoid",
      "aten::sigmoid_", "aten::hardsigmoid", "aten::hardsigmoid_", "aten::silu", "aten::silu_", "aten::hardswish",
      "aten::hardswish_", "aten::gelu", "aten::tanh", "aten::tanh_", "aten::leaky_relu", "aten::leaky_relu_",
      "aten::elu", "aten::elu_", "aten::selu", "aten::mish", "aten::clamp", "aten::clamp_", "aten::dropout",
      "aten::dropout_", "aten::feature_dropout", "aten::feature_dropout_", "aten::alpha_dropout", "aten::contiguous",
      "aten::clone", "aten::detach", "aten::max_pool2d", "aten::avg_pool2d", "aten::adaptive_avg_pool2d",
      "aten::adaptive_max_pool2d", "aten::to", "aten::upsample_nearest2d", "aten::upsample_bilinear2d"};
  return ops;
}

// Pass-through operations that are not element-wise: they read dimension 1 as the channels.
const std::set<std::string>& spatial_ops() {
  static const std::set<std::string> ops = {"aten::max_pool2d", "aten::avg_pool2d", "aten::adaptive_avg_pool2d",
                                            "aten::adaptive_max_pool2d", "aten::upsample_nearest2d",
                                            "aten::upsample_bilinear2d"};
  return ops;
}

const std::set<std::string>& shape_readers() {
  static const std::set<std::string> ops = {"aten::size", "aten::dim", "aten::len", "prim::device", "prim::dtype",
                                            "aten::numel", "prim::shape", "prim::layout", "aten::is_floating_point",
                                            "prim::is_cuda", "aten::__isnot__", "aten::__is__", "prim::unchecked_cast",
                                            "aten::warn", "prim::RaiseException"};
  return ops;
}

const std::set<std::string>& binary_ops() {
  static const std::set<std::string> ops = {"aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::mul",
                                            "aten::mul_", "aten::div", "aten::div_"};
  return ops;
}

c10::optional<int64_t> const_int(Value* v) {
  auto iv = torch::jit::toIValue(v);
  if (iv && iv->isInt()) return iv->toInt();
  return c10::nullopt;
}

c10::optional<std::vector<int64_t>> const_ints(Value* v) {
  auto iv = torch::jit::toIValue(v);
  if (iv && iv->isIntList()) return iv->toIntVector();
  if (iv && iv->isInt()) return std::vector<int64_t>{iv->toInt()};
  return c10::nullopt;
}

// A conv's groups: a constant, or its weight's row count where the model layer made a depthwise
// conv's groups follow its weight (aten::size(weight, 0), see torchscript_model.cpp).
c10::optional<int64_t> conv_groups(Node* conv, size_t index, const at::Tensor& weight) {
  Value* g = conv->input(index);
  if (auto c = const_int(g)) return c;
  Node* s = g->node();
  if (s->kind() == c10::aten::size && s->inputs().size() == 2 && s->input(0) == conv->input(1) &&
      const_int(s->input(1)) == 0)
    return weight.size(0);
  return c10::nullopt;
}

class Analyser {
 public:
  Analyser(const std::vector<ModelLayer>& layers, const std::vector<BatchNormRef>& bns) : layers_(layers), bns_(bns) {
    for (size_t i = 0; i < layers.size(); ++i) layer_by_name_[layers[i].name] = i;
    for (size_t i = 0; i < bns.size(); ++i) bn_by_name_[bns[i].name] = i;
    layer_gid_.assign(layers.size(), -1);
    layer_inputs_.resize(layers.size());
  }

  void run(torch::jit::Graph& g) {
    path_[g.inputs()[0]] = "";
    collect_paths(g.block());
    input_gid_ = new_group(-1);
    refuse_group(input_gid_, "the network's input");
    for (size_t i = 1; i < g.inputs().size(); ++i) chan_[g.inputs()[i]] = Channels{{{input_gid_, 0, -1}}, 4, false};
    for (Node* n : g.nodes()) visit(n);
    for (Value* out : g.outputs()) refuse_value(out, "the network's output");
  }

  ChannelAnalysis result() {
    ChannelAnalysis out;
    std::map<int, ChannelGroup> groups;
    std::map<int, std::vector<std::string>> members;  // per root, the layer names (for messages)
    auto add_producer = [&](size_t l, int gid) {
      const int r = find(gid);
      members[r].push_back(layers_[l].name);
      if (!poison_[r].empty()) return;
      auto& g = groups[r];
      g.producers.push_back(l);
      g.channels = length_[r];
      g.residual = residual_[r];
    };
    for (size_t l = 0; l < layers_.size(); ++l)
      if (layer_gid_[l] >= 0) add_producer(l, layer_gid_[l]);
    for (const auto& [l, gid] : depthwise_) {
      add_producer(l, gid);
      if (poison_[find(gid)].empty()) out.depthwise.push_back(l);
    }
    for (const auto& c : consumers_) {
      auto it = groups.find(find(c.seg.gid));
      if (it == groups.end()) continue;
      const bool whole = c.seg.offset == 0 && c.seg.length == it->second.channels;
      it->second.consumers.push_back({c.layer, c.spatial, c.in_offset, c.seg.offset, whole ? -1 : c.seg.length});
    }
    for (const auto& b : bn_slices_) {
      auto it = groups.find(find(b.seg.gid));
      if (it != groups.end()) it->second.batchnorms.push_back({bns_[b.bn], b.offset, b.seg.offset, b.seg.length});
    }
    for (auto& [root, g] : groups) {
      std::sort(g.producers.begin(), g.producers.end());
      g.producers.erase(std::unique(g.producers.begin(), g.producers.end()), g.producers.end());
      g.name = layers_[g.producers.front()].name + (g.producers.size() > 1 ? fmt::format("+{}", g.producers.size() - 1) : "");
      if (g.consumers.empty()) continue;  // nothing reads it: nothing to gain
      out.groups.push_back(std::move(g));
    }
    std::sort(out.groups.begin(), out.groups.end(),
              [](const ChannelGroup& a, const ChannelGroup& b) { return a.producers.front() < b.producers.front(); });
    for (const auto& [root, names] : members)
      if (!poison_[root].empty()) out.refused.push_back(fmt::format("{}: {}", fmt::join(names, ", "), poison_[root]));
    return out;
  }

 private:
  // ---- groups (union-find) ----
  int new_group(int64_t length) {
    parent_.push_back(static_cast<int>(parent_.size()));
    length_.push_back(length);
    poison_.emplace_back();
    residual_.push_back(false);
    return parent_.back();
  }
  int find(int g) {
    while (parent_[g] != g) g = parent_[g] = parent_[parent_[g]];
    return g;
  }
  void unite(int a, int b, bool residual) {
    a = find(a), b = find(b);
    if (a == b) {
      residual_[a] = residual_[a] || residual;
      return;
    }
    parent_[b] = a;
    if (poison_[a].empty()) poison_[a] = poison_[b];
    residual_[a] = residual_[a] || residual_[b] || residual;
  }
  void refuse_group(int g, const std::string& why) {
    g = find(g);
    if (poison_[g].empty()) poison_[g] = why;
  }
  void refuse(const Channels& c, const std::string& why) {
    for (const auto& s : c.segs) refuse_group(s.gid, why);
  }
  void refuse_value(Value* v, const std::string& why) {
    if (auto it = chan_.find(v); it != chan_.end()) refuse(it->second, why);
    if (auto it = lists_.find(list_of(v)); it != lists_.end())
      for (Value* e : std::vector<Value*>(it->second)) refuse_value(e, why);
    if (auto it = pieces_.find(v); it != pieces_.end())
      for (const auto& c : it->second) refuse(c, why);
  }
  bool tracked(Value* v) const { return chan_.count(v) || lists_.count(list_of(v)) || pieces_.count(v); }
  // The list a value stands for (a cast of a list is the same list, appends included).
  Value* list_of(Value* v) const {
    for (auto it = list_alias_.find(v); it != list_alias_.end(); it = list_alias_.find(v)) v = it->second;
    return v;
  }

  // Module and parameter paths of GetAttr chains from the root, in every block.
  void collect_paths(torch::jit::Block* block) {
    for (Node* n : block->nodes()) {
      if (n->kind() == c10::prim::GetAttr)
        if (auto it = path_.find(n->input(0)); it != path_.end())
          path_[n->output()] = it->second.empty() ? n->s(c10::attr::name) : it->second + "." + n->s(c10::attr::name);
      for (auto* b : n->blocks()) collect_paths(b);
    }
  }
  // The path of a value, looking through `x if cond else None` (scripted BatchNorm's statistics).
  c10::optional<std::string> path_of(Value* v) const {
    if (auto p = path_.find(v); p != path_.end()) return p->second;
    Node* n = v->node();
    if (n->kind() != c10::prim::If) return c10::nullopt;
    for (auto* b : n->blocks())
      if (auto p = path_of(b->outputs()[v->offset()])) return p;
    return c10::nullopt;
  }
  // "features.0.weight" -> "features.0" when the last part is `leaf`.
  c10::optional<std::string> owner(Value* v, const char* leaf) const {
    auto p = path_of(v);
    if (!p) return c10::nullopt;
    const auto dot = p->rfind('.');
    if (dot == std::string::npos || p->substr(dot + 1) != leaf) return c10::nullopt;
    return p->substr(0, dot);
  }
  // The layer whose weight `v` is, if any.
  c10::optional<size_t> layer_of(Value* v) const {
    auto name = owner(v, "weight");
    if (!name) return c10::nullopt;
    auto it = layer_by_name_.find(*name);
    if (it == layer_by_name_.end()) return c10::nullopt;
    return it->second;
  }
  c10::optional<size_t> batchnorm_of(Node* n) const {
    auto name = owner(n->input(1), "weight");
    if (!name) name = owner(n->input(3), "running_mean");
    if (!name) return c10::nullopt;
    auto it = bn_by_name_.find(*name);
    if (it == bn_by_name_.end()) return c10::nullopt;
    return it->second;
  }
  // Tracked values a node's blocks read from outside (control flow over channels).
  void tracked_in_blocks(Node* n, std::vector<Value*>& out) const {
    for (auto* b : n->blocks())
      for (Node* inner : b->nodes()) {
        // Reading a shape inside a branch (F.batch_norm's batch-size check) touches no channel.
        if (!shape_readers().count(inner->kind().toQualString()))
          for (Value* v : inner->inputs())
            if (tracked(v)) out.push_back(v);
        tracked_in_blocks(inner, out);
      }
  }

  std::string describe(Node* n) const {
    std::string what = n->kind().toQualString();
    for (Value* v : n->inputs())
      if (auto l = layer_of(v)) return fmt::format("{} (layer {})", what, layers_[*l].name);
    return what;
  }

  // Segments of the whole input gid stand for "whatever the input has": give them a length.
  Channels resolved(const Channels& c, int64_t total) const {
    Channels out = c;
    for (auto& s : out.segs)
      if (s.length < 0) s.length = total;
    return out;
  }

  Channels layer_output(size_t l, int64_t rank) {
    if (layer_gid_[l] < 0) layer_gid_[l] = new_group(layers_[l].weight.size(0));
    return Channels{{{layer_gid_[l], 0, layers_[l].weight.size(0)}}, rank, false};
  }

  bool same(const std::vector<Segment>& a, const std::vector<Segment>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (find(a[i].gid) != find(b[i].gid) || a[i].offset != b[i].offset || a[i].length != b[i].length) return false;
    return true;
  }

  // a and b meet in one channel-wise operation: their channels must be pruned together.
  void couple(const Channels& a, const Channels& b, bool residual, const std::string& op) {
    if (a.last == b.last && same(a.segs, b.segs)) return;
    const bool whole = a.segs.size() == 1 && b.segs.size() == 1 && a.segs[0].offset == 0 && b.segs[0].offset == 0 &&
                       a.segs[0].length == length_[find(a.segs[0].gid)] && b.segs[0].length == length_[find(b.segs[0].gid)] &&
                       a.segs[0].length == b.segs[0].length;
    if (whole && a.rank == b.rank && a.last == b.last) {
      unite(a.segs[0].gid, b.segs[0].gid, residual);
      return;
    }
    const auto why = fmt::format("{} combines tensors whose channels are laid out differently", op);
    refuse(a, why);
    refuse(b, why);
  }

  void consume(size_t l, const Channels& in, int64_t spatial) {
    if (!layer_inputs_[l].empty()) {  // one module applied more than once: its inputs share columns
      Channels first{layer_inputs_[l], in.rank, false};
      couple(first, in, false, fmt::format("layer {} applied twice", layers_[l].name));
      return;
    }
    layer_inputs_[l] = in.segs;
    int64_t offset = 0;
    for (const auto& s : in.segs) {
      consumers_.push_back({l, s, offset, spatial});
      offset += s.length;
    }
  }

  void visit_conv(Node* n, const std::string& kind) {
    Value* x = n->input(0);
    auto l = layer_of(n->input(1));
    if (!l) {
      refuse_value(x, fmt::format("{} with a weight that is not a module's", kind));
      return;
    }
    const auto& w = layers_[*l].weight;
    const auto groups = conv_groups(n, kind == "aten::conv2d" ? 6 : 8, w);
    Channels in = resolved(chan_.count(x) ? chan_[x] : Channels{}, w.size(1) * groups.value_or(1));
    if (groups && *groups == 1) {
      consume(*l, in, 1);
      chan_[n->output()] = layer_output(*l, 4);
    } else if (groups && *groups == w.size(0) && w.size(1) == 1 && in.segs.size() == 1 && in.segs[0].offset == 0 &&
               in.segs[0].length == *groups && length_[find(in.segs[0].gid)] == *groups) {
      // Depthwise: output channel c is input channel c filtered; it follows the input's group.
      depthwise_.emplace_back(*l, in.segs[0].gid);
      chan_[n->output()] = in;
    } else {
      const bool depthwise = groups && *groups == w.size(0) && w.size(1) == 1;
      const auto why = depthwise ? fmt::format("depthwise conv {} on channels that are not one whole group", layers_[*l].name)
                                 : fmt::format("grouped conv {} (groups {})", layers_[*l].name, groups.value_or(-1));
      refuse(in, why);
      auto out = layer_output(*l, 4);
      refuse(out, why);
      chan_[n->output()] = out;
    }
  }

  void visit_linear(Node* n) {
    Value* x = n->input(0);
    auto l = layer_of(n->input(1));
    if (!l) {
      refuse_value(x, "aten::linear with a weight that is not a module's");
      return;
    }
    const int64_t in_features = layers_[*l].weight.size(1);
    if (auto it = chan_.find(x); it != chan_.end()) {
      const auto& c = it->second;
      const auto in = resolved(c, in_features);
      if (c.flat && in.total() > 0 && in_features % in.total() == 0) {
        consume(*l, in, in_features / in.total());
      } else if (!c.flat && (c.rank == 2 || c.last)) {
        consume(*l, in, 1);
      } else {
        refuse(c, fmt::format("linear layer {} reads a tensor of rank {}", layers_[*l].name, c.rank));
      }
    }
    // A linear layer maps the last dimension: on a tensor of rank > 2 its outputs are not dimension 1.
    auto out = layer_output(*l, 2);
    auto it = chan_.find(x);
    if (it == chan_.end() || !(it->second.flat || it->second.rank == 2)) {
      out.rank = it == chan_.end() ? -1 : it->second.rank;
      out.last = true;
    }
    chan_[n->output()] = out;
  }

  void visit_batchnorm(Node* n) {
    Value* x = n->input(0);
    auto it = chan_.find(x);
    if (it == chan_.end()) return;
    auto bn = batchnorm_of(n);
    const auto in = resolved(it->second, bn ? bns_[*bn].running_mean.size(0) : -1);
    chan_[n->output(0)] = in;
    if (!bn) {
      refuse(in, "aten::batch_norm on statistics that are not a module's");
      return;
    }
    // A producer's (or a depthwise conv's) own BatchNorm is masked and removed with it; any
    // other one by slices.
    if (in.segs.size() == 1 && in.segs[0].offset == 0) {
      const int group = find(in.segs[0].gid);
      const auto own = [&](size_t l) { return layers_[l].bn.defined() && layers_[l].bn.name == bns_[*bn].name; };
      for (size_t l = 0; l < layers_.size(); ++l)
        if (layer_gid_[l] >= 0 && find(layer_gid_[l]) == group && own(l)) return;
      for (const auto& [l, gid] : depthwise_)
        if (find(gid) == group && own(l)) return;
    }
    int64_t offset = 0;
    for (const auto& s : in.segs) {
      bn_slices_.push_back({*bn, s, offset});
      offset += s.length;
    }
  }

  void visit_binary(Node* n, const std::string& kind) {
    Value* a = n->input(0);
    Value* b = n->input(1);
    const bool ta = chan_.count(a), tb = chan_.count(b);
    if (ta && tb) {
      couple(chan_[a], chan_[b], kind.find("add") != std::string::npos || kind.find("sub") != std::string::npos, kind);
      chan_[n->output()] = chan_[a];
      return;
    }
    Value* t = ta ? a : b;
    Value* other = ta ? b : a;
    if (other->type()->kind() == c10::TypeKind::TensorType) {
      auto iv = torch::jit::toIValue(other);
      if (!(iv && iv->isTensor() && iv->toTensor().dim() == 0)) {
        refuse_value(t, fmt::format("{} with a tensor that does not come from the input", kind));
        return;
      }
    }
    chan_[n->output()] = chan_[t];
  }

  void visit_mean(Node* n, const std::string& kind) {
    const auto& c = chan_[n->input(0)];
    auto dims = const_ints(n->input(1));
    auto keep = torch::jit::toIValue(n->input(2));
    if (!dims || !keep || !keep->isBool()) {
      refuse(c, kind + " over dimensions that are not constant");
      return;
    }
    for (auto d : *dims)
      if ((d < 0 ? d + c.rank : d) <= 1) {
        refuse(c, kind + " over the batch or channel dimension");
        return;
      }
    Channels out = c;
    if (!keep->toBool() && out.rank > 0) out.rank -= static_cast<int64_t>(dims->size());
    chan_[n->output()] = out;
  }

  void visit_flatten(Node* n) {
    const auto& c = chan_[n->input(0)];
    auto start = const_int(n->input(1)), end = const_int(n->input(2));
    if (start && *start == 1 && end && (*end == -1 || *end == c.rank - 1)) {
      Channels out = c;
      if (c.rank > 2) out.flat = true;
      out.rank = 2;
      chan_[n->output()] = out;
      return;
    }
    refuse(c, "aten::flatten that does not start at the channel dimension");
  }

  void visit_cat(Node* n) {
    auto list = lists_.find(list_of(n->input(0)));
    auto dim = const_int(n->input(1));
    std::vector<Channels> parts;
    bool ok = list != lists_.end() && dim;
    if (ok)
      for (Value* v : list->second) {
        if (!chan_.count(v)) ok = false;
        else parts.push_back(chan_[v]);
      }
    if (ok && !parts.empty() && (*dim == 1 || *dim == 1 - parts[0].rank)) {
      Channels out{{}, parts[0].rank, false};
      for (const auto& p : parts) {
        // A part of unknown size (the input, what a refused operation returns) leaves the offsets unknown.
        if (p.rank != out.rank || p.flat || p.last || !sized(p)) ok = false;
        out.segs.insert(out.segs.end(), p.segs.begin(), p.segs.end());
      }
      if (ok) {
        chan_[n->output()] = out;
        return;
      }
      refuse_value(n->input(0), "aten::cat of a part whose channels are not known (or not along dimension 1)");
      return;
    }
    refuse_value(n->input(0), "aten::cat along a dimension other than the channels (or of unknown tensors)");
  }

  static bool sized(const Channels& c) {
    return std::all_of(c.segs.begin(), c.segs.end(), [](const Segment& s) { return s.length >= 0; });
  }

  // Channels [start, start + length) of c.
  static Channels slice(const Channels& c, int64_t start, int64_t length) {
    Channels out{{}, c.rank, c.flat};
    int64_t at = 0;
    for (const auto& s : c.segs) {
      const int64_t lo = std::max(start, at), hi = std::min(start + length, at + s.length);
      if (lo < hi) out.segs.push_back({s.gid, s.offset + (lo - at), hi - lo});
      at += s.length;
    }
    return out;
  }

  void visit_split(Node* n, const std::string& kind) {
    const auto& c = chan_[n->input(0)];
    const int64_t total = c.total();
    auto dim = const_int(n->input(2));
    std::vector<int64_t> sizes;
    if (kind == "aten::chunk") {
      auto chunks = const_int(n->input(1));
      if (chunks && *chunks > 0 && total % *chunks == 0) sizes.assign(static_cast<size_t>(*chunks), total / *chunks);
    } else if (auto list = const_ints(n->input(1))) {
      if (kind == "aten::split" && list->size() == 1 && (*list)[0] > 0 && total % (*list)[0] == 0)
        sizes.assign(static_cast<size_t>(total / (*list)[0]), (*list)[0]);
      else if (list->size() > 1)
        sizes = *list;
    }
    if (!dim || (*dim != 1 && *dim != 1 - c.rank) || sizes.empty() || c.flat || c.last || !sized(c)) {
      refuse(c, kind + " along a dimension other than the channels, or into unknown sizes");
      return;
    }
    std::vector<Channels> parts;
    int64_t start = 0;
    for (auto s : sizes) {
      parts.push_back(slice(c, start, s));
      start += s;
    }
    pieces_[n->output()] = parts;
  }

  void visit(Node* n) {
    visit_node(n);
    track_outputs(n);
  }

  // What a refused operation returns still reaches layers: it gets a group of its own, refused,
  // so the layers after it are analysed (and what they produce may be prunable).
  void track_outputs(Node* n) {
    bool any = false;
    for (Value* v : n->inputs()) any = any || tracked(v) || opaque_lists_.count(v);
    if (!any && !n->blocks().empty()) {
      std::vector<Value*> inside;
      tracked_in_blocks(n, inside);
      any = !inside.empty();
    }
    if (!any) return;
    for (Value* out : n->outputs()) {
      if (tracked(out) || opaque_lists_.count(out)) continue;
      if (auto t = out->type()->cast<c10::TensorType>()) {
        const int g = new_group(-1);
        refuse_group(g, fmt::format("channels come out of {}", n->kind().toQualString()));
        const auto dim = t->dim();
        chan_[out] = Channels{{{g, 0, -1}}, dim ? static_cast<int64_t>(*dim) : -1, false};
      } else if (auto l = out->type()->cast<c10::ListType>(); l && l->getElementType()->cast<c10::TensorType>()) {
        opaque_lists_.insert(out);
      }
    }
  }

  // Layers called inside blocks are never walked: their outputs are refused, not left unnamed.
  void refuse_layers_in_blocks(Node* n, const std::string& why) {
    for (auto* b : n->blocks())
      for (Node* inner : b->nodes()) {
        const std::string k = op_name(inner);
        const bool layer_call = k == "aten::conv2d" || k == "aten::_convolution" || k == "aten::convolution" || k == "aten::linear";
        if (layer_call && inner->inputs().size() > 1)
          if (auto l = layer_of(inner->input(1))) refuse(layer_output(*l, 4), why);
        refuse_layers_in_blocks(inner, why);
      }
  }

  bool reads_last(Node* n) const {
    for (Value* v : n->inputs())
      if (auto it = chan_.find(v); it != chan_.end() && it->second.last) return true;
    return false;
  }

  void visit_node(Node* n) {
    const std::string kind = op_name(n);
    if (n->kind() == c10::prim::GetAttr || kind == "prunelab::observe" || n->kind() == c10::prim::Constant) return;
    if (!n->blocks().empty()) {
      // Control flow the constants did not resolve: whatever channels it touches stay whole.
      std::vector<Value*> inside;
      tracked_in_blocks(n, inside);
      for (Value* v : n->inputs())
        if (tracked(v)) inside.push_back(v);
      const auto why = fmt::format("control flow ({}) over the channels", kind);
      for (Value* v : inside) refuse_value(v, why);
      refuse_layers_in_blocks(n, why);
      return;
    }
    bool any = false;
    for (Value* v : n->inputs()) any = any || tracked(v);
    if (!any) return;
    const bool elementwise = passthrough_ops().count(kind) && !spatial_ops().count(kind);
    if (reads_last(n) && !(elementwise || binary_ops().count(kind) || kind == "aten::linear" || shape_readers().count(kind))) {
      const auto why = fmt::format("channels flow through {} on a linear layer's output of rank > 2", describe(n));
      for (Value* v : n->inputs()) refuse_value(v, why);
      return;
    }
    if (kind == "aten::conv2d" || kind == "aten::_convolution" || kind == "aten::convolution") return visit_conv(n, kind);
    if (kind == "aten::linear") return visit_linear(n);
    if (kind == "aten::batch_norm") return visit_batchnorm(n);
    if (binary_ops().count(kind)) return visit_binary(n, kind);
    if (kind == "aten::mean" || kind == "aten::sum") return visit_mean(n, kind);
    if (kind == "aten::flatten" && chan_.count(n->input(0))) return visit_flatten(n);
    if (kind == "aten::cat") return visit_cat(n);
    if ((kind == "aten::chunk" || kind == "aten::split" || kind == "aten::split_with_sizes") && chan_.count(n->input(0)))
      return visit_split(n, kind);
    if (shape_readers().count(kind)) return;
    if (n->kind() == c10::prim::ListConstruct) {
      lists_[n->output()] = std::vector<Value*>(n->inputs().begin(), n->inputs().end());
      return;
    }
    if (n->kind() == c10::prim::unchecked_cast && lists_.count(n->input(0))) {
      list_alias_[n->output()] = list_of(n->input(0));
      return;
    }
    // DenseNet builds its concatenations with list.append: the list holds what was appended so far.
    if (kind == "aten::append" && n->inputs().size() == 2) {
      lists_[list_of(n->input(0))].push_back(n->input(1));
      if (n->outputs().size() == 1) list_alias_[n->output()] = list_of(n->input(0));
      return;
    }
    if (n->kind() == c10::prim::ListUnpack && pieces_.count(n->input(0)) &&
        pieces_[n->input(0)].size() == n->outputs().size()) {
      for (size_t i = 0; i < n->outputs().size(); ++i) chan_[n->output(i)] = pieces_[n->input(0)][i];
      return;
    }
    if (passthrough_ops().count(kind) && chan_.count(n->input(0))) {
      bool others = false;
      for (size_t i = 1; i < n->inputs().size(); ++i) others = others || tracked(n->input(i));
      if (!others) {
        chan_[n->output(0)] = chan_[n->input(0)];
        return;
      }
    }
    const auto why = fmt::format("channels flow through {}", describe(n));
    for (Value* v : n->inputs()) refuse_value(v, why);
  }

  const std::vector<ModelLayer>& layers_;
  const std::vector<BatchNormRef>& bns_;
  std::unordered_map<std::string, size_t> layer_by_name_, bn_by_name_;
  std::vector<int> parent_;
  std::vector<int64_t> length_;
  std::vector<std::string> poison_;
  std::vector<bool> residual_;
  int input_gid_ = 0;
  std::unordered_map<Value*, std::string> path_;
  std::unordered_map<Value*, Channels> chan_;
  std::unordered_map<Value*, std::vector<Value*>> lists_;
  std::unordered_map<Value*, Value*> list_alias_;
  std::unordered_map<Value*, std::vector<Channels>> pieces_;
  std::set<Value*> opaque_lists_;  // lists of tensors a refused operation returned
  std::vector<int> layer_gid_;
  std::vector<std::vector<Segment>> layer_inputs_;
  struct ConsumerRec {
    size_t layer;
    Segment seg;
    int64_t in_offset, spatial;
  };
  std::vector<ConsumerRec> consumers_;
  struct BnSliceRec {
    size_t bn;
    Segment seg;
    int64_t offset;
  };
  std::vector<BnSliceRec> bn_slices_;
  std::vector<std::pair<size_t, int>> depthwise_;
};

bool has_calls(torch::jit::Block* block) {
  for (Node* n : block->nodes()) {
    if (n->kind() == c10::prim::CallMethod || n->kind() == c10::prim::CallFunction) return true;
    for (auto* b : n->blocks())
      if (has_calls(b)) return true;
  }
  return false;
}

// Replaces every read of a plain (bool, int, float, string) module attribute by its value in this
// instance: `if self.use_res_connect:` and `if self.training:` branches then fold away.
void freeze_scalar_attributes(torch::jit::Graph& g, torch::jit::Block* block,
                              std::unordered_map<Value*, c10::IValue>& objects) {
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it++;
    if (n->kind() == c10::prim::GetAttr) {
      auto owner = objects.find(n->input(0));
      if (owner == objects.end() || !owner->second.isObject()) continue;
      const auto obj = owner->second.toObject();
      const auto& name = n->s(c10::attr::name);
      if (!obj->type()->hasAttribute(name)) continue;
      const auto value = obj->getAttr(name);
      if (value.isObject()) {
        objects[n->output()] = value;
      } else if (value.isBool() || value.isInt() || value.isDouble() || value.isString()) {
        torch::jit::WithInsertPoint guard(n);
        n->output()->replaceAllUsesWith(g.insertConstant(value));
      }
      continue;
    }
    for (auto* b : n->blocks()) freeze_scalar_attributes(g, b, objects);
  }
}

}  // namespace

ChannelAnalysis analyse_channels(const torch::jit::Module& module, const std::vector<ModelLayer>& layers,
                                 const std::vector<BatchNormRef>& batchnorms) {
  auto method = module.find_method("forward");
  if (!method) return {};
  auto graph = method->graph()->copy();
  // Inline() inlines one level when the callees' graphs are not optimised (we run them as written),
  // and branches that fold away once plain attributes are constants may hold more calls.
  for (int round = 0; round < 64 && has_calls(graph->block()); ++round) {
    torch::jit::Inline(*graph);
    std::unordered_map<Value*, c10::IValue> objects{{graph->inputs()[0], module._ivalue()}};
    freeze_scalar_attributes(*graph, graph->block(), objects);
    torch::jit::PeepholeOptimize(graph);  // isinstance() on known types
    torch::jit::ConstantPropagation(graph);
  }
  std::unordered_map<Value*, c10::IValue> objects{{graph->inputs()[0], module._ivalue()}};
  freeze_scalar_attributes(*graph, graph->block(), objects);
  torch::jit::PeepholeOptimize(graph);
  torch::jit::ConstantPropagation(graph);  // folds the branches on constants and plain attributes
  Analyser a(layers, batchnorms);
  a.run(*graph);
  return a.result();
}

}  // namespace prunelab
