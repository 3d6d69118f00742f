#include "models/torchscript_model.hpp"

#include "core/errors.hpp"
#include "core/zip_check.hpp"
#include "models/channel_analysis.hpp"
#include "models/jit_layer_ops.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/library.h>
#include <torch/nn/init.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace prunelab {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// ---------------------------------------------------------------------------------------------
// The observe operator: inserted into every conv/linear forward of a loaded module. It finds the
// layer by its weight tensor (types, and so methods, are shared by modules of the same class).
namespace {
std::mutex observers_mutex;
std::unordered_map<const c10::TensorImpl*, std::function<void(const at::Tensor&, const at::Tensor&)>> observers;
std::atomic<size_t> observer_count{0};

void observe(const at::Tensor& input, const at::Tensor& output, const at::Tensor& weight) {
  if (observer_count.load(std::memory_order_relaxed) == 0) return;  // training: costs one load
  std::function<void(const at::Tensor&, const at::Tensor&)> f;
  {
    std::lock_guard<std::mutex> lock(observers_mutex);
    auto it = observers.find(weight.unsafeGetTensorImpl());
    if (it == observers.end()) return;
    f = it->second;
  }
  f(input, output);
}

constexpr const char* kObserveOp = "prunelab::observe";
}  // namespace

TORCH_LIBRARY(prunelab, m) {
  // CONSERVATIVE: the op has side effects, so the JIT never removes it as dead code.
  m.def(torch::schema("prunelab::observe(Tensor input, Tensor output, Tensor weight) -> ()",
                      c10::AliasAnalysisKind::CONSERVATIVE),
        observe);
}

// ---------------------------------------------------------------------------------------------
namespace {

enum class ModuleKind { Other, Conv2d, Linear, BatchNorm2d };

// The Python class name without TorchScript's mangling ("___torch_mangle_7.").
std::string class_name(const torch::jit::Module& m) {
  auto name = m.type()->name();
  if (!name) return "";
  std::string q = name->qualifiedName();
  static const std::regex mangle(R"(___torch_mangle_\d+\.)");
  q = std::regex_replace(q, mangle, "");
  const auto dot = q.rfind('.');
  return dot == std::string::npos ? q : q.substr(dot + 1);
}

at::Tensor tensor_attr(const torch::jit::Module& m, const std::string& name) {
  if (!m.hasattr(name)) return {};
  auto v = m.attr(name);
  return v.isTensor() ? v.toTensor() : at::Tensor();
}

ModuleKind kind_of(const torch::jit::Module& m) {
  const auto cls = class_name(m);
  const auto w = tensor_attr(m, "weight");
  if (cls == "BatchNorm2d" && w.defined()) return ModuleKind::BatchNorm2d;
  if (!w.defined()) return ModuleKind::Other;
  if (cls == "Conv2d" && w.dim() == 4) return ModuleKind::Conv2d;
  if (cls.size() >= 6 && cls.compare(cls.size() - 6, 6, "Linear") == 0 && w.dim() == 2) return ModuleKind::Linear;
  return ModuleKind::Other;
}

std::shared_ptr<Graph> forward_graph(const torch::jit::Module& m) {
  auto method = m.find_method("forward");
  return method ? method->graph() : nullptr;
}


// The forward graph inlined and constant-folded: what the module computes, with its constants.
std::shared_ptr<Graph> resolved_forward(const torch::jit::Module& m) {
  auto g = forward_graph(m);
  if (!g) return nullptr;
  g = g->copy();
  torch::jit::Inline(*g);
  torch::jit::ConstantPropagation(g);
  return g;
}

int64_t first_int(const c10::optional<c10::IValue>& v, int64_t fallback, bool* square = nullptr) {
  if (!v) return fallback;
  if (v->isInt()) return v->toInt();
  if (v->isIntList()) {
    const auto l = v->toIntVector();
    if (l.empty()) return fallback;
    if (square) *square = *square && std::all_of(l.begin(), l.end(), [&](int64_t x) { return x == l[0]; });
    return l[0];
  }
  if (square) *square = false;
  return fallback;
}

// Stride, padding, dilation and groups as the module's own conv call has them.
ConvGeometry conv_geometry(const torch::jit::Module& m) {
  ConvGeometry geo;
  auto g = resolved_forward(m);
  Node* conv = nullptr;
  if (g)
    for_each_node(g->block(), [&](Node* n) {
      const std::string k = op_name(n);
      if (!conv && (k == "aten::conv2d" || k == "aten::_convolution" || k == "aten::convolution"))
        conv = n;
    });
  if (!conv) {
    geo.known = false;
    return geo;
  }
  const bool is_conv2d = op_name(conv) == "aten::conv2d";
  bool square = true;
  geo.stride = first_int(torch::jit::toIValue(conv->input(3)), -1, &square);
  auto padding = torch::jit::toIValue(conv->input(4));
  if (padding && padding->isString()) {
    // padding="valid" is 0; "same" keeps the size, which only odd kernels at stride 1 do evenly.
    geo.padding = padding->toStringRef() == "valid" ? 0 : -1;
  } else {
    geo.padding = first_int(padding, -1, &square);
  }
  geo.dilation = first_int(torch::jit::toIValue(conv->input(5)), -1, &square);
  Value* groups = conv->input(is_conv2d ? 6 : 8);
  geo.groups = first_int(torch::jit::toIValue(groups), -1);
  // A depthwise conv whose groups follow its weight (groups_follow_weight): aten::size(weight, 0).
  if (geo.groups < 0 && groups->node()->kind() == c10::aten::size && groups->node()->input(0) == conv->input(1)) {
    const auto w = tensor_attr(m, "weight");
    const auto dim = torch::jit::toIValue(groups->node()->input(1));
    if (w.defined() && dim && dim->isInt() && dim->toInt() == 0) geo.groups = w.size(0);
  }
  geo.known = square && geo.stride > 0 && geo.padding >= 0 && geo.dilation > 0 && geo.groups > 0;
  return geo;
}

// eps and momentum of a BatchNorm: class constants when scripted, the call's constants when traced.
void batchnorm_constants(const torch::jit::Module& m, BatchNormRef& ref) {
  const auto type = m.type();
  if (type->hasConstant("eps")) ref.eps = type->getConstant("eps").toDouble();
  if (type->hasConstant("momentum")) {
    const auto mom = type->getConstant("momentum");
    ref.momentum = mom.isNone() ? std::nan("") : mom.toDouble();
    return;
  }
  auto g = resolved_forward(m);
  if (!g) return;
  for_each_node(g->block(), [&](Node* n) {
    if (std::string(n->kind().toQualString()) != "aten::batch_norm") return;
    if (auto v = torch::jit::toIValue(n->input(6)); v && v->isDouble()) ref.momentum = v->toDouble();
    if (auto v = torch::jit::toIValue(n->input(7)); v && v->isDouble()) ref.eps = v->toDouble();
  });
}

BatchNormRef batchnorm_ref(const std::string& name, const torch::jit::Module& m) {
  BatchNormRef r;
  r.name = name;
  r.weight = tensor_attr(m, "weight");
  r.bias = tensor_attr(m, "bias");
  r.running_mean = tensor_attr(m, "running_mean");
  r.running_var = tensor_attr(m, "running_var");
  r.num_batches_tracked = tensor_attr(m, "num_batches_tracked");
  batchnorm_constants(m, r);
  return r;
}

// Tracing freezes `training` into a constant: read the module's attribute instead.
void unfreeze_training_flags(Graph& g) {
  Value* self = g.inputs().empty() ? nullptr : g.inputs()[0];
  if (!self || self->type()->kind() != c10::TypeKind::ClassType) return;
  std::vector<std::pair<Node*, size_t>> frozen;
  for_each_node(g.block(), [&](Node* n) {
    const std::string k = n->kind().toQualString();
    size_t index = 0;
    if (k == "aten::batch_norm") index = 5;
    else if (k == "aten::dropout" || k == "aten::feature_dropout" || k == "aten::alpha_dropout") index = 2;
    else return;
    if (n->inputs().size() > index && n->input(index)->node()->kind() == c10::prim::Constant)
      frozen.emplace_back(n, index);
  });
  for (auto& [n, index] : frozen) {
    torch::jit::WithInsertPoint guard(n);
    n->replaceInput(index, g.insertGetAttr(self, "training"));
  }
}

// Calls prunelab::observe(input, output, self.weight) just before the module's forward returns.
bool insert_observer(Graph& g) {
  if (g.inputs().size() != 2 || g.outputs().size() != 1) return false;
  Value* in = g.inputs()[1];
  Value* out = g.outputs()[0];
  if (in->type()->kind() != c10::TypeKind::TensorType || out->type()->kind() != c10::TypeKind::TensorType) return false;
  torch::jit::WithInsertPoint guard(g.return_node());
  Value* weight = g.insertGetAttr(g.inputs()[0], "weight");
  g.insertNode(g.create(c10::Symbol::fromQualString(kObserveOp), {in, out, weight}, 0));
  return true;
}

// A depthwise conv's `groups` is a constant of its code: make it the weight's row count, so the
// conv still runs once channel pruning has removed rows. Done before anything runs (the JIT keeps
// the graphs it first executed or inlined), for every depthwise conv; idempotent.
void groups_follow_weight(const torch::jit::Module& conv) {
  const auto w = tensor_attr(conv, "weight");
  if (!w.defined() || w.dim() != 4 || w.size(1) != 1 || w.size(0) <= 1) return;
  for (auto* f : conv.type()->methods()) {
    auto* gf = dynamic_cast<torch::jit::GraphFunction*>(f);
    if (!gf) continue;
    auto g = gf->graph();
    for_each_node(g->block(), [&](Node* n) {
      const std::string k = op_name(n);
      const size_t index = k == "aten::conv2d" ? 6 : (k == "aten::_convolution" || k == "aten::convolution") ? 8 : 0;
      if (index == 0) return;
      const auto groups = torch::jit::toIValue(n->input(index));
      if (!groups || !groups->isInt() || groups->toInt() != w.size(0)) return;
      torch::jit::WithInsertPoint guard(n);
      Value* rows = g->insert(c10::aten::size, {n->input(1), 0});
      n->replaceInput(index, rows);
    });
  }
}

std::string join_path(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

// For the graph of the module at `path`: each submodule forward call's output, and the path of the
// module called; conv/linear outputs that go only into a BatchNorm's forward pair with it.
std::vector<std::pair<std::string, std::string>> batchnorm_pairs(const torch::jit::Module& m, const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  auto g = forward_graph(m);
  if (!g || g->inputs().empty()) return out;
  std::unordered_map<Value*, std::string> module_path{{g->inputs()[0], path}};
  std::unordered_map<Value*, std::string> produced_by;  // output of a forward call -> callee path
  for (Node* n : g->nodes()) {
    if (n->kind() == c10::prim::GetAttr) {
      if (auto it = module_path.find(n->input(0)); it != module_path.end())
        module_path[n->output()] = join_path(it->second, n->s(c10::attr::name));
    } else if (n->kind() == c10::prim::CallMethod && n->s(c10::attr::name) == "forward" && n->inputs().size() == 2) {
      auto callee = module_path.find(n->input(0));
      if (callee == module_path.end()) continue;
      if (auto p = produced_by.find(n->input(1)); p != produced_by.end() && n->input(1)->uses().size() == 1)
        out.emplace_back(p->second, callee->second);
      if (n->outputs().size() == 1) produced_by[n->output()] = callee->second;
    }
  }
  return out;
}

constexpr const char* kMetadataFile = "prunelab_metadata.json";
constexpr const char* kSaveHint =
    "save a module with torch.jit.script(model).save(path) or torch.jit.trace(...).save(path)";
constexpr const char* kShapeFile = "prunelab_shape";

// `bytes` were checked by read_checked_archive: LibTorch's parser can crash on a damaged archive.
torch::jit::Module load_module(const std::string& bytes, const std::string& path, torch::jit::ExtraFilesMap* extra) {
  std::istringstream in(bytes);
  torch::jit::ExtraFilesMap none;
  try {
    return torch::jit::load(in, at::kCPU, extra ? *extra : none);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("'{}' is not a TorchScript file ({}); {}", path, one_line(e), kSaveHint));
  }
}

void to_channels_last(torch::jit::Module& m) {
  at::NoGradGuard no_grad;
  for (const auto& p : m.parameters())
    if (p.dim() == 4) at::Tensor(p).set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
}

// deepcopy() clones parameters with autograd history; a parameter must be a leaf to be trained.
void make_parameters_leaves(torch::jit::Module& m) {
  for (const auto& item : m.named_modules()) {
    auto sub = item.value;
    for (const auto& p : sub.named_parameters(/*recurse=*/false))
      if (!p.value.is_leaf()) {
        const bool grad = p.value.requires_grad();
        sub.register_parameter(p.name, p.value.detach().requires_grad_(grad), false);
      }
  }
}

class NoFold : public BatchNormFold {
 public:
  size_t folded() const override { return 0; }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
TorchScriptModel::TorchScriptModel(std::shared_ptr<const std::string> bytes, std::string origin,
                                   torch::jit::Module module, const InputShape& shape)
    : bytes_(std::move(bytes)), origin_(std::move(origin)), module_(std::move(module)) {
  shape_ = shape;
  index_modules();
}

TorchScriptModel::~TorchScriptModel() {
  if (observing_) set_observer({});
}

namespace {
void rewrite(torch::jit::Module& module) {
  std::set<Graph*> done;
  for (const auto& item : module.named_modules()) {
    auto g = forward_graph(item.value);
    if (!g || !done.insert(g.get()).second) continue;
    unfreeze_training_flags(*g);
    const auto kind = kind_of(item.value);
    if (kind == ModuleKind::Conv2d || kind == ModuleKind::Linear) insert_observer(*g);
    if (kind == ModuleKind::Conv2d) groups_follow_weight(item.value);
    if (kind == ModuleKind::Conv2d || kind == ModuleKind::Linear)
      for (auto* f : item.value.type()->methods())
        if (auto* gf = dynamic_cast<torch::jit::GraphFunction*>(f)) route_layer_ops(*gf->graph());
  }
}
}  // namespace

namespace {
// The JIT's optimising executor re-specialises for every new input shape and may swap eager
// autograd for its own symbolic gradients: run the graph op by op instead, so a TorchScript model
// computes what the same network computes in eager mode (and in our built-ins), to the bit.
void run_graphs_as_written() {
  static const bool once = [] {
    torch::jit::setGraphExecutorOptimize(false);
    return true;
  }();
  (void)once;
}
}  // namespace

std::unique_ptr<TorchScriptModel> TorchScriptModel::load(const std::string& path, const InputShape& shape) {
  run_graphs_as_written();
  if (!std::filesystem::is_regular_file(path)) throw std::runtime_error(fmt::format("model file '{}' not found", path));
  auto bytes = std::make_shared<const std::string>(
      read_checked_archive(path, "TorchScript file", std::string("; ") + kSaveHint));
  auto module = load_module(*bytes, path, nullptr);
  if (module.parameters().size() == 0)
    throw std::runtime_error(fmt::format(
        "'{}' has no parameters: a frozen module (torch.jit.freeze, optimize_for_inference) cannot be "
        "trained or pruned; save the module before freezing it",
        path));
  rewrite(module);
  to_channels_last(module);
  std::unique_ptr<TorchScriptModel> model(new TorchScriptModel(bytes, path, module, shape));
  if (model->layers_.empty()) {
    std::set<std::string> classes;
    for (const auto& item : module.named_modules()) classes.insert(class_name(item.value));
    throw std::runtime_error(fmt::format("'{}' has no nn.Conv2d or nn.Linear layer with a weight (module classes: {})",
                                         path, fmt::join(classes, ", ")));
  }
  model->check_classifier();
  return model;
}

void TorchScriptModel::check_classifier() {
  const auto& s = shape_;
  at::Tensor y;
  try {
    probe(to_model_layout(at::zeros({1, s.channels, s.height, s.width})));
    at::NoGradGuard no_grad;
    const bool was_training = is_training();
    eval();
    y = forward(to_model_layout(at::zeros({2, s.channels, s.height, s.width})));
    train(was_training);
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("'{}': a forward pass on input [N, {}, {}, {}] failed: {}", origin_,
                                         s.channels, s.height, s.width, one_line(e)));
  }
  if (y.dim() != 2 || y.size(0) != 2 || y.size(1) != s.classes)
    throw std::runtime_error(fmt::format("'{}': the output for 2 inputs is [{}], expected [2, {}] (batch, classes)",
                                         origin_, fmt::join(y.sizes(), ", "), s.classes));
}

void TorchScriptModel::index_modules() {
  layers_.clear();
  bns_.clear();
  std::unordered_map<std::string, size_t> layer_index;
  std::unordered_map<std::string, BatchNormRef> bn_by_path;
  for (const auto& item : module_.named_modules()) {
    const auto kind = kind_of(item.value);
    if (kind == ModuleKind::BatchNorm2d) {
      bns_.push_back(batchnorm_ref(item.name, item.value));
      bn_by_path[item.name] = bns_.back();
      continue;
    }
    if (kind != ModuleKind::Conv2d && kind != ModuleKind::Linear) continue;
    ModelLayer l;
    l.name = item.name;
    l.kind = kind == ModuleKind::Conv2d ? LayerKind::Conv2d : LayerKind::Linear;
    l.weight = tensor_attr(item.value, "weight");
    l.bias = tensor_attr(item.value, "bias");
    if (kind == ModuleKind::Conv2d) l.conv = conv_geometry(item.value);
    layer_index[item.name] = layers_.size();
    layers_.push_back(std::move(l));
  }
  for (const auto& item : module_.named_modules())
    for (const auto& [layer, bn] : batchnorm_pairs(item.value, item.name)) {
      auto li = layer_index.find(layer);
      auto b = bn_by_path.find(bn);
      if (li != layer_index.end() && b != bn_by_path.end()) layers_[li->second].bn = b->second;
    }
  auto analysis = analyse_channels(module_, layers_, bns_);
  groups_ = std::move(analysis.groups);
  refused_ = std::move(analysis.refused);
}

at::Tensor TorchScriptModel::forward(const at::Tensor& x) {
  auto y = module_.forward({x});
  // Inception-style models return (logits, aux logits) while training: the first is the output.
  if (y.isTuple() && !y.toTupleRef().elements().empty()) y = y.toTupleRef().elements()[0];
  if (!y.isTensor()) throw std::runtime_error(fmt::format("'{}': forward returned {}, not a tensor", origin_, y.tagKind()));
  return y.toTensor();
}

void TorchScriptModel::to(const c10::Device& device) {
  module_.to(device);
  auto probed = layers_;
  index_modules();
  for (size_t i = 0; i < layers_.size() && i < probed.size(); ++i) {
    layers_[i].in_hw = probed[i].in_hw;
    layers_[i].out_hw = probed[i].out_hw;
    layers_[i].macs_per_weight = probed[i].macs_per_weight;
    layers_[i].calls = probed[i].calls;
    layers_[i].prunable = probed[i].prunable;
  }
  if (observing_) set_observer({});
}

NamedTensors TorchScriptModel::named_parameters() {
  NamedTensors out;
  for (const auto& p : module_.named_parameters(true)) out.emplace_back(p.name, p.value);
  return out;
}

NamedTensors TorchScriptModel::named_buffers() {
  NamedTensors out;
  for (const auto& b : module_.named_buffers(true)) out.emplace_back(b.name, b.value);
  return out;
}

std::vector<BatchNormRef> TorchScriptModel::batchnorms() { return bns_; }

void TorchScriptModel::set_observer(LayerObserver observer) {
  std::lock_guard<std::mutex> lock(observers_mutex);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto* key = layers_[i].weight.unsafeGetTensorImpl();
    const bool had = observers.erase(key) > 0;
    if (had) --observer_count;
    if (!observer) continue;
    observers[key] = [observer, i](const at::Tensor& in, const at::Tensor& out) { observer(i, in, out); };
    ++observer_count;
  }
  observing_ = static_cast<bool>(observer);
}

std::unique_ptr<BatchNormFold> TorchScriptModel::fold_batchnorm() { return std::make_unique<NoFold>(); }

// Kernels are found by weight tensor from the routed conv/linear calls (models/jit_layer_ops.hpp).
std::unique_ptr<kernels::SparseExecution> TorchScriptModel::use_sparse_kernels() {
  std::vector<std::shared_ptr<kernels::MeasuredChoice>> chosen;
  std::vector<at::Tensor> weights;
  for (const auto& l : layers_) {
    if (l.kind == LayerKind::Conv2d && !l.conv.known) continue;  // geometry unread: stays dense
    const kernels::ConvParams p{l.conv.stride, l.conv.padding, l.conv.dilation, l.conv.groups};
    auto plan = kernels::sparse_plan_for(l.weight, l.bias, p);
    if (!plan) continue;
    kernels::MeasuredChoice::Forward dense;
    if (l.kind == LayerKind::Conv2d)
      dense = [w = l.weight, b = l.bias, p](const at::Tensor& x) {
        return at::conv2d(x, w, b, {p.stride, p.stride}, {p.padding, p.padding}, {p.dilation, p.dilation}, p.groups);
      };
    else
      dense = [w = l.weight, b = l.bias](const at::Tensor& x) { return at::linear(x, w, b); };
    auto choice = std::make_shared<kernels::MeasuredChoice>(l.name, std::move(dense), std::move(plan));
    register_layer_kernel(l.weight, choice);
    chosen.push_back(std::move(choice));
    weights.push_back(l.weight);
  }
  return std::make_unique<kernels::SparseExecution>(std::move(chosen), [weights] {
    for (const auto& w : weights) unregister_layer_kernel(w);
  });
}

std::unique_ptr<Model> TorchScriptModel::clone() {
  auto copy = module_.deepcopy();  // shares the (rewritten) types, copies every tensor
  make_parameters_leaves(copy);
  std::unique_ptr<TorchScriptModel> out(new TorchScriptModel(bytes_, origin_, copy, shape_));
  for (size_t i = 0; i < out->layers_.size() && i < layers_.size(); ++i) {
    out->layers_[i].in_hw = layers_[i].in_hw;
    out->layers_[i].out_hw = layers_[i].out_hw;
    out->layers_[i].macs_per_weight = layers_[i].macs_per_weight;
    out->layers_[i].calls = layers_[i].calls;
    out->layers_[i].prunable = layers_[i].prunable;
  }
  return out;
}

void TorchScriptModel::reinitialize() {
  at::NoGradGuard no_grad;
  for (const auto& item : module_.named_modules()) {
    const auto kind = kind_of(item.value);
    auto w = tensor_attr(item.value, "weight");
    auto b = tensor_attr(item.value, "bias");
    if (kind == ModuleKind::Conv2d) {
      // Drawn into a fresh contiguous tensor as the built-ins are, then copied into the layout used.
      auto fresh = at::empty(w.sizes());
      torch::nn::init::kaiming_normal_(fresh, 0.0, torch::kFanOut, torch::kReLU);
      w.copy_(fresh);
      if (b.defined()) b.zero_();
    } else if (kind == ModuleKind::Linear) {
      auto fresh = at::empty(w.sizes());
      torch::nn::init::kaiming_uniform_(fresh, std::sqrt(5.0));
      w.copy_(fresh);
      if (b.defined()) {
        const double bound = 1.0 / std::sqrt(static_cast<double>(w.size(1)));
        b.copy_(at::empty(b.sizes()).uniform_(-bound, bound));
      }
    } else if (kind == ModuleKind::BatchNorm2d) {
      w.fill_(1.0);
      if (b.defined()) b.zero_();
      auto mean = tensor_attr(item.value, "running_mean"), var = tensor_attr(item.value, "running_var");
      if (mean.defined()) mean.zero_();
      if (var.defined()) var.fill_(1.0);
      if (auto n = tensor_attr(item.value, "num_batches_tracked"); n.defined()) n.zero_();
    }
  }
}

void TorchScriptModel::save(const std::string& path, const std::string& metadata) {
  // From the file as loaded (no observer calls, tracing's flags as they were), with today's values.
  auto clean = load_module(*bytes_, origin_, nullptr);
  for (const auto& item : clean.named_modules())
    if (kind_of(item.value) == ModuleKind::Conv2d) groups_follow_weight(item.value);
  {
    at::NoGradGuard no_grad;
    std::unordered_map<std::string, at::Tensor> now;
    for (const auto& [name, t] : named_parameters()) now[name] = t;
    for (const auto& [name, t] : named_buffers()) now[name] = t;
    auto adopt = [&](const std::string& name, const at::Tensor& target) {
      auto it = now.find(name);
      if (it == now.end()) throw std::logic_error(fmt::format("save: no value for '{}'", name));
      at::Tensor(target).set_data(it->second.detach().to(at::kCPU).contiguous().clone());
    };
    for (const auto& item : clean.named_parameters(true)) adopt(item.name, item.value);
    for (const auto& item : clean.named_buffers(true)) adopt(item.name, item.value);
  }
  clean.eval();
  torch::jit::ExtraFilesMap extra{
      {kMetadataFile, metadata},
      {kShapeFile, fmt::format("{},{},{},{}", shape_.channels, shape_.height, shape_.width, shape_.classes)}};
  save_atomically(path, [&](const std::string& tmp) { clean.save(tmp, extra); });
}

std::unique_ptr<TorchScriptModel> TorchScriptModel::load_saved(std::shared_ptr<const std::string> bytes,
                                                                const std::string& path, const c10::Device& device,
                                                                std::string* metadata) {
  run_graphs_as_written();
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}, {kShapeFile, ""}};
  auto module = load_module(*bytes, path, &extra);
  if (extra[kMetadataFile].empty() || extra[kShapeFile].empty()) return nullptr;
  InputShape shape;
  if (std::sscanf(extra[kShapeFile].c_str(), "%ld,%ld,%ld,%ld", &shape.channels, &shape.height, &shape.width,
                  &shape.classes) != 4)
    throw std::runtime_error(fmt::format("'{}': unreadable {}", path, kShapeFile));
  rewrite(module);
  to_channels_last(module);
  std::unique_ptr<TorchScriptModel> model(new TorchScriptModel(bytes, path, module, shape));
  model->to(device);
  if (metadata) *metadata = extra[kMetadataFile];
  return model;
}

}  // namespace prunelab
