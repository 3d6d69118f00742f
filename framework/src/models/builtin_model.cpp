#include "models/builtin_model.hpp"

#include "models/fold_bn.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cmath>

namespace prunelab {

namespace {
BatchNormRef bn_ref(const std::string& name, torch::nn::BatchNorm2dImpl& bn) {
  BatchNormRef r;
  r.name = name;
  r.weight = bn.weight;
  r.bias = bn.bias;
  r.running_mean = bn.running_mean;
  r.running_var = bn.running_var;
  r.num_batches_tracked = bn.num_batches_tracked;
  r.eps = bn.options.eps();
  r.momentum = bn.options.momentum() ? *bn.options.momentum() : std::nan("");
  return r;
}

NamedTensors to_vector(const torch::OrderedDict<std::string, at::Tensor>& dict) {
  NamedTensors out;
  for (const auto& item : dict) out.emplace_back(item.key(), item.value());
  return out;
}

class BuiltinFold : public BatchNormFold {
 public:
  explicit BuiltinFold(Network& net) : folding_(net) {}
  size_t folded() const override { return folding_.folded(); }

 private:
  BatchNormFolding folding_;
};
}  // namespace

BuiltinModel::BuiltinModel(const std::string& arch, const InputShape& shape)
    : arch_(arch), net_(make_network(arch, shape)) {
  shape_ = shape;
  index_layers();
}

void BuiltinModel::index_layers() {
  layers_.clear();
  for (const auto& e : net_->prunable_layers()) {
    ModelLayer l;
    l.name = e.name;
    l.kind = e.layer->kind();
    l.weight = e.layer->weight;
    l.bias = e.layer->bias;
    if (e.bn) l.bn = bn_ref(e.name + ".bn", *e.bn);
    if (auto conv = std::dynamic_pointer_cast<Conv2dLayerImpl>(e.layer)) {
      l.conv.stride = conv->spec().stride;
      l.conv.padding = conv->spec().padding;
    }
    layers_.push_back(std::move(l));
  }
}

void BuiltinModel::to(const c10::Device& device) {
  net_->to(device);
  // Tensor handles survive a move of the module only as long as the impls do: re-read them.
  auto old = layers_;
  index_layers();
  for (size_t i = 0; i < layers_.size() && i < old.size(); ++i) {
    layers_[i].in_hw = old[i].in_hw;
    layers_[i].out_hw = old[i].out_hw;
    layers_[i].macs_per_weight = old[i].macs_per_weight;
    layers_[i].calls = old[i].calls;
    layers_[i].prunable = old[i].prunable;
  }
}

NamedTensors BuiltinModel::named_parameters() { return to_vector(net_->named_parameters(true)); }
NamedTensors BuiltinModel::named_buffers() { return to_vector(net_->named_buffers(true)); }

std::vector<BatchNormRef> BuiltinModel::batchnorms() {
  std::vector<BatchNormRef> out;
  for (const auto& item : net_->named_modules("", /*include_self=*/false))
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(item.value()))
      out.push_back(bn_ref(item.key(), *bn));
  return out;
}

void BuiltinModel::set_observer(LayerObserver observer) {
  const auto entries = net_->prunable_layers();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!observer) {
      entries[i].layer->hook = nullptr;
      continue;
    }
    entries[i].layer->hook = [observer, i](const at::Tensor& in, const at::Tensor& out) { observer(i, in, out); };
  }
}

std::unique_ptr<BatchNormFold> BuiltinModel::fold_batchnorm() { return std::make_unique<BuiltinFold>(*net_); }

std::unique_ptr<kernels::SparseExecution> BuiltinModel::use_sparse_kernels() {
  std::vector<std::shared_ptr<kernels::MeasuredChoice>> chosen;
  std::vector<std::shared_ptr<PrunableLayerImpl>> layers;
  for (const auto& e : net_->prunable_layers()) {
    kernels::ConvParams params;
    if (auto conv = std::dynamic_pointer_cast<Conv2dLayerImpl>(e.layer)) {
      params.stride = conv->spec().stride;
      params.padding = conv->spec().padding;
    }
    auto plan = kernels::sparse_plan_for(e.layer->weight, e.layer->bias, params);
    if (!plan) continue;
    auto* layer = e.layer.get();
    auto choice = std::make_shared<kernels::MeasuredChoice>(
        e.name, [layer](const at::Tensor& x) { return layer->dense_forward(x); }, std::move(plan));
    e.layer->kernel = choice;
    chosen.push_back(choice);
    layers.push_back(e.layer);
  }
  return std::make_unique<kernels::SparseExecution>(std::move(chosen), [layers] {
    for (const auto& l : layers) l->kernel = nullptr;
  });
}

std::unique_ptr<Model> BuiltinModel::clone() {
  auto copy = std::make_unique<BuiltinModel>(arch_, shape_);
  if (!net_->parameters().empty()) copy->to(net_->parameters().front().device());
  copy_state(*this, *copy);
  copy->train(is_training());
  copy->layers_ = layers_;  // probe results carry over; tensors are re-read below
  auto probed = copy->layers_;
  copy->index_layers();
  for (size_t i = 0; i < probed.size(); ++i) {
    copy->layers_[i].in_hw = probed[i].in_hw;
    copy->layers_[i].out_hw = probed[i].out_hw;
    copy->layers_[i].macs_per_weight = probed[i].macs_per_weight;
    copy->layers_[i].calls = probed[i].calls;
    copy->layers_[i].prunable = probed[i].prunable;
  }
  return copy;
}

void BuiltinModel::shapes_changed() {
  for (const auto& item : net_->named_modules("", false))
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(item.value()))
      bn->options.num_features(bn->weight.size(0));
}

namespace {
constexpr const char* kArchKey = "prunelab_builtin_arch";
constexpr const char* kShapeKey = "prunelab_builtin_shape";
constexpr const char* kMetaKey = "prunelab_metadata";
}  // namespace

void BuiltinModel::save(const std::string& path, const std::string& metadata) {
  torch::serialize::OutputArchive archive;
  net_->save(archive);
  archive.write(kArchKey, c10::IValue(arch_));
  archive.write(kShapeKey, c10::IValue(std::vector<int64_t>{shape_.channels, shape_.height, shape_.width, shape_.classes}));
  archive.write(kMetaKey, c10::IValue(metadata));
  save_archive(archive, path);
}

std::unique_ptr<BuiltinModel> BuiltinModel::load(const std::string& bytes, const c10::Device& device,
                                                 std::string* metadata) {
  torch::serialize::InputArchive archive;
  archive.load_from(bytes.data(), bytes.size(), device);
  c10::IValue arch, shape, meta;
  if (!archive.try_read(kArchKey, arch) || !archive.try_read(kShapeKey, shape)) return nullptr;
  const auto s = shape.toIntVector();
  auto model = std::make_unique<BuiltinModel>(arch.toStringRef(), InputShape{s.at(0), s.at(1), s.at(2), s.at(3)});
  model->to(device);
  // Module::load adopts each stored tensor's shape, so a physically pruned file loads as saved.
  model->net_->load(archive);
  {
    at::NoGradGuard no_grad;
    for (auto& p : model->net_->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  }
  model->shapes_changed();
  model->index_layers();
  if (metadata && archive.try_read(kMetaKey, meta)) *metadata = meta.toStringRef();
  return model;
}

}  // namespace prunelab
