#pragma once
/// The one interface the whole pipeline uses for a network, whatever it is made of: a built-in
/// LibTorch module (models/builtin_model.hpp) or a user's TorchScript file
/// (models/torchscript_model.hpp). Nothing above the model layer knows which one it has.

#include "core/input_shape.hpp"
#include "kernels/sparse_execution.hpp"

#include <prunelab/layer.hpp>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace prunelab {

/// How a conv maps inputs to outputs (a linear layer keeps the defaults).
struct ConvGeometry {
  int64_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool known = true;  // false: the conv call could not be read, or its stride/padding is not square
};

/// A BatchNorm's tensors: the model's own (shared storage), so writing them changes the model.
struct BatchNormRef {
  std::string name;
  at::Tensor weight, bias, running_mean, running_var;
  at::Tensor num_batches_tracked;  // may be undefined
  double eps = 1e-5;
  double momentum = 0.1;  // NaN: a cumulative average (PyTorch's momentum=None)
  bool defined() const { return weight.defined(); }
};

/// A conv or linear layer. `weight` and `bias` are the model's parameters themselves.
struct ModelLayer {
  std::string name;  // the module's path, e.g. "stage2_block0.conv1" or "features.3"
  LayerKind kind = LayerKind::Conv2d;
  at::Tensor weight, bias;  // bias undefined when the layer has none
  BatchNormRef bn;          // the BatchNorm that directly normalises its output, if any
  ConvGeometry conv;
  // What the last probe() saw: spatial sizes of the (last) input and output, the
  // multiply-accumulates each weight costs per sample (summed over every call of the layer),
  // and how often the forward pass ran it (0: never, e.g. a weight read by another module).
  std::vector<int64_t> in_hw, out_hw;
  int64_t macs_per_weight = 0;
  int64_t calls = 0;
  bool prunable = true;  // false: the config keeps it dense (model.keep_dense)
};

/// A layer that reads a channel group's channels: group channel group_offset + k is its input
/// channel in_offset + k, which is input columns [c * spatial, (c + 1) * spatial) (spatial > 1
/// for a linear layer after a flatten). Offsets other than 0 come from concatenations and splits.
struct ChannelConsumer {
  size_t layer = 0;  // index into Model::layers()
  int64_t spatial = 1;
  int64_t in_offset = 0;     // the consumer's first input channel this slice feeds
  int64_t group_offset = 0;  // the group's first channel in the slice
  int64_t length = -1;       // channels in the slice; -1 = the whole group
};

/// A BatchNorm that normalises a tensor holding a slice of a group's channels at an offset (one
/// after a concatenation): its entries leave with the channels when they are removed.
struct BatchNormSlice {
  BatchNormRef bn;
  int64_t offset = 0;        // the BatchNorm's first channel of the slice
  int64_t group_offset = 0;  // the group's first channel of the slice
  int64_t length = 0;
};

/// Channels that must be pruned together: the producers' output channel c (and their bias and
/// BatchNorm entries) all feed the same tensor channel, which every consumer reads.
struct ChannelGroup {
  std::string name;
  std::vector<size_t> producers;  // indices into Model::layers()
  std::vector<ChannelConsumer> consumers;
  bool residual = false;  // the producers meet at an addition (a ResNet stream)
  int64_t channels = 0;   // current channel count (the producers' output size)
  std::vector<BatchNormSlice> batchnorms;  // BatchNorms other than the producers' own
};

/// Called after a layer's forward with the layer's index, its input and its output.
using LayerObserver = std::function<void(size_t layer, const at::Tensor& input, const at::Tensor& output)>;

/// While alive, BatchNorms are folded into the convs before them (see Model::fold_batchnorm).
class BatchNormFold {
 public:
  virtual ~BatchNormFold() = default;
  virtual size_t folded() const = 0;
};

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class Model {
 public:
  virtual ~Model() = default;

  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual void train(bool on = true) = 0;
  void eval() { train(false); }
  virtual bool is_training() const = 0;
  virtual void to(const c10::Device& device) = 0;

  /// Every parameter and buffer, named by its path, in a fixed order.
  virtual NamedTensors named_parameters() = 0;
  virtual NamedTensors named_buffers() = 0;
  std::vector<at::Tensor> parameters();
  std::vector<at::Tensor> buffers();

  /// Conv and linear layers in forward (registration) order: what masks and plugins index.
  virtual std::vector<ModelLayer>& layers() = 0;
  /// Every BatchNorm of the model (recalibration, BatchNorm L1 sparsity training).
  virtual std::vector<BatchNormRef> batchnorms() = 0;
  /// Channels that must be pruned together, with indices into layers(). Empty when the model
  /// layer cannot tell (then channel granularity is refused).
  virtual std::vector<ChannelGroup> channel_groups() = 0;
  /// Why layers are left out of channel pruning, one line each ("layers a, b: channels flow
  /// through aten::view"); empty when nothing was refused.
  virtual std::vector<std::string> channel_refusals() const { return {}; }

  /// Every layer's forward calls `observer` until it is replaced or cleared (empty function).
  virtual void set_observer(LayerObserver observer) = 0;
  /// Folds each conv/BatchNorm pair for inference while the handle lives (eval mode only), and
  /// restores the model exactly afterwards. Models that cannot fold return a handle with folded() 0.
  virtual std::unique_ptr<BatchNormFold> fold_batchnorm() = 0;
  /// While the handle lives, every conv and linear layer sparse enough to be worth it runs by
  /// the faster of its dense computation and a sparse kernel, measured per input shape at first
  /// use (kernels/measured_choice.hpp); inference only (inputs wanting gradients run dense). The
  /// kernels copy the weights: fold BatchNorm first, and change no weight while it lives. Models
  /// that cannot swap their kernels return a handle with no layers.
  virtual std::unique_ptr<kernels::SparseExecution> use_sparse_kernels() {
    return std::make_unique<kernels::SparseExecution>();
  }

  /// An independent copy: same architecture, same values, its own tensors.
  virtual std::unique_ptr<Model> clone() = 0;
  /// Tells the model that tensor shapes changed (physical channel removal).
  virtual void shapes_changed() {}

  /// Writes the model (its current values) to `path` in its own format, with `metadata` (JSON)
  /// kept beside it; load_model() reads it back. Atomic: a killed run leaves no half file.
  virtual void save(const std::string& path, const std::string& metadata) = 0;

  /// The input shape and class count the model was built or checked for.
  const InputShape& input_shape() const { return shape_; }

  /// One no-grad forward of `x` in eval mode (the mode is restored) that records each layer's
  /// spatial sizes, calls and MACs per weight in layers().
  void probe(const at::Tensor& x);

 protected:
  InputShape shape_;
};

/// Copies every parameter and buffer of `from` into `to`, matched by name; shapes follow `from`.
void copy_state(Model& from, Model& to);

/// The model's parameters and buffers in a file of their own (caches, snapshots): atomic write.
void save_state(Model& model, const std::string& path);
/// Reads what save_state wrote into `model` (same architecture; shapes follow the file).
void load_state(Model& model, const std::string& path, const c10::Device& device);
/// The same inside an archive of the caller's (which may hold more entries).
void write_state(Model& model, torch::serialize::OutputArchive& archive);
void read_state(Model& model, torch::serialize::InputArchive& archive, const std::string& what);

/// Writes an archive to `path` through a per-process temporary file and a rename: a killed
/// runner never leaves half a file, and two runners writing the same path do not mix.
void save_archive(torch::serialize::OutputArchive& archive, const std::string& path);

/// Writes `write_to(tmp)` to `path` the same way (for formats other than an archive).
void save_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write_to);

/// Puts an input batch in the memory layout the models run fastest with (channels-last).
at::Tensor to_model_layout(const at::Tensor& x);

}  // namespace prunelab
