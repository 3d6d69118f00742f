#pragma once
/// A user's network from a TorchScript file (torch.jit.script or torch.jit.trace, then .save())
/// behind the Model interface.
///
/// What the model layer does to the loaded module (never to the file, never to what save() writes):
///  - each nn.Conv2d / nn.Linear forward gets a call to the `prunelab::observe` operator before it
///    returns, so the framework sees every layer's input and output (calibration, MACs, probes);
///  - a traced module's BatchNorm and Dropout calls, whose `training` flag tracing froze into a
///    constant, read the module's `training` attribute instead, so train() and eval() work.
///  - a depthwise conv that channel pruning may shrink reads its `groups` from its weight's size.
/// Saving starts again from the file as it was loaded and copies the current values into it (with
/// the depthwise change), so the saved file loads in Python with torch.jit.load and needs nothing
/// of prunelab. Channel groups come from the graph: models/channel_analysis.hpp.

#include "models/model.hpp"

#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>

namespace prunelab {

class TorchScriptModel : public Model {
 public:
  /// Loads `path` (throws a one-line std::runtime_error naming the file for anything that is not
  /// a usable TorchScript classifier) and checks it against `shape` with one probe forward.
  static std::unique_ptr<TorchScriptModel> load(const std::string& path, const InputShape& shape);
  /// Reads what save() wrote, from the checked bytes of the file at `path` (read_checked_archive);
  /// null if it carries no prunelab metadata.
  static std::unique_ptr<TorchScriptModel> load_saved(std::shared_ptr<const std::string> bytes, const std::string& path,
                                                      const c10::Device& device, std::string* metadata);

  at::Tensor forward(const at::Tensor& x) override;
  void train(bool on = true) override { module_.train(on); }
  bool is_training() const override { return module_.is_training(); }
  void to(const c10::Device& device) override;
  NamedTensors named_parameters() override;
  NamedTensors named_buffers() override;
  std::vector<ModelLayer>& layers() override { return layers_; }
  std::vector<BatchNormRef> batchnorms() override;
  std::vector<ChannelGroup> channel_groups() override { return groups_; }
  std::vector<std::string> channel_refusals() const override { return refused_; }
  void set_observer(LayerObserver observer) override;
  std::unique_ptr<BatchNormFold> fold_batchnorm() override;
  std::unique_ptr<kernels::SparseExecution> use_sparse_kernels() override;
  std::unique_ptr<Model> clone() override;
  void save(const std::string& path, const std::string& metadata) override;

  /// Draws every Conv2d, Linear and BatchNorm2d parameter afresh from the global generator, by the
  /// built-in models' rules and in module order (He normal fan-out convs with zero bias, PyTorch's
  /// default Linear, BatchNorm 1 and 0), so a Python copy of a built-in gets the same values.
  void reinitialize();

  ~TorchScriptModel() override;

 private:
  TorchScriptModel(std::shared_ptr<const std::string> bytes, std::string origin, torch::jit::Module module,
                   const InputShape& shape);
  void index_modules();
  void check_classifier();

  std::shared_ptr<const std::string> bytes_;  // the file as loaded: what save() starts from
  std::string origin_;                        // the path it came from, for messages
  torch::jit::Module module_;                 // rewritten (observers, training flags)
  std::vector<ModelLayer> layers_;
  std::vector<BatchNormRef> bns_;
  std::vector<ChannelGroup> groups_;  // from the graph (models/channel_analysis.hpp)
  std::vector<std::string> refused_;
  bool observing_ = false;
};

}  // namespace prunelab
