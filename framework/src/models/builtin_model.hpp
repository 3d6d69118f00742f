#pragma once
/// The built-in networks (LeNets, CIFAR ResNets) behind the Model interface.

#include "models/model.hpp"
#include "models/network.hpp"

#include <memory>
#include <string>

namespace prunelab {

class BuiltinModel : public Model {
 public:
  /// A freshly initialised `arch` (a make_network() name) built for `shape`; uses the global seed.
  BuiltinModel(const std::string& arch, const InputShape& shape);

  at::Tensor forward(const at::Tensor& x) override { return net_->forward(x); }
  void train(bool on = true) override { net_->train(on); }
  bool is_training() const override { return net_->is_training(); }
  void to(const c10::Device& device) override;
  NamedTensors named_parameters() override;
  NamedTensors named_buffers() override;
  std::vector<ModelLayer>& layers() override { return layers_; }
  std::vector<BatchNormRef> batchnorms() override;
  std::vector<ChannelGroup> channel_groups() override { return net_->channel_groups(); }
  void set_observer(LayerObserver observer) override;
  std::unique_ptr<BatchNormFold> fold_batchnorm() override;
  std::unique_ptr<kernels::SparseExecution> use_sparse_kernels() override;
  std::unique_ptr<Model> clone() override;
  void shapes_changed() override;
  void save(const std::string& path, const std::string& metadata) override;

  /// Reads what save() wrote, from the file's checked bytes (read_checked_archive); null if it is
  /// not a built-in model file.
  static std::unique_ptr<BuiltinModel> load(const std::string& bytes, const c10::Device& device,
                                            std::string* metadata);

  Network& network() { return *net_; }

 private:
  void index_layers();

  std::string arch_;
  std::shared_ptr<Network> net_;
  std::vector<ModelLayer> layers_;
};

}  // namespace prunelab
