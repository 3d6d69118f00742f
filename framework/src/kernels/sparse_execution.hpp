#pragma once
/// The handle a model returns while its layers run sparse kernels (Model::use_sparse_kernels):
/// what each layer decided, and the model put back to dense when the handle goes.

#include "kernels/measured_choice.hpp"

#include <functional>
#include <memory>
#include <vector>

namespace prunelab::kernels {

class SparseExecution {
 public:
  SparseExecution() = default;
  /// `release` takes the kernels out of the model again (called once, by the destructor).
  SparseExecution(std::vector<std::shared_ptr<MeasuredChoice>> layers, std::function<void()> release)
      : layers_(std::move(layers)), release_(std::move(release)) {}
  ~SparseExecution() {
    if (release_) release_();
  }
  SparseExecution(const SparseExecution&) = delete;
  SparseExecution& operator=(const SparseExecution&) = delete;

  /// The layers sparse enough to be offered a sparse kernel.
  const std::vector<std::shared_ptr<MeasuredChoice>>& layers() const { return layers_; }

  /// Turns every layer's sparse kernel off (all dense) or back on.
  void set_enabled(bool on) {
    for (const auto& l : layers_) l->set_enabled(on);
  }
  bool enabled() const { return layers_.empty() || layers_.front()->enabled(); }

  /// Layers whose decision for an input with batch size `batch` was the sparse kernel (0 while
  /// disabled).
  size_t sparse_layers(int64_t batch) const {
    if (!enabled()) return 0;
    size_t n = 0;
    for (const auto& l : layers_)
      for (const auto& d : l->decisions())
        if (d.sparse && !d.input_sizes.empty() && d.input_sizes[0] == batch) ++n;
    return n;
  }

  /// The largest relative difference between a sparse and a dense output seen at a decision.
  double max_rel_diff() const {
    double m = 0;
    for (const auto& l : layers_)
      for (const auto& d : l->decisions()) m = std::max(m, d.max_rel_diff);
    return m;
  }

 private:
  std::vector<std::shared_ptr<MeasuredChoice>> layers_;
  std::function<void()> release_;
};

}  // namespace prunelab::kernels
