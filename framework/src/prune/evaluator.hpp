#pragma once
/// The framework's Evaluator and Calibration: what ratio policies and criteria may ask of the model.

#include "data/dataset.hpp"
#include "prune/latency_table.hpp"
#include "prune/units.hpp"

#include <prunelab/plugin_api.hpp>

#include <c10/core/Device.h>

#include <functional>
#include <map>

namespace prunelab {

/// Evaluates hypothetical per-unit ratios on the validation split without touching the masks.
class StepEvaluator : public Evaluator {
 public:
  StepEvaluator(Model& net, MaskSet& masks, const UnitLayout& layout, const TensorDataset& val,
                int64_t batch_size, c10::Device device);
  /// The slice scores of the current step (set by prune_step before the policy runs).
  void set_scores(const std::vector<at::Tensor>* scores) { scores_ = scores; }

  /// Short fine-tuning for accuracy_after_finetune(): runs `steps` masked optimizer steps on the
  /// model. Without it that call throws.
  using Finetuner = std::function<void(int64_t steps)>;
  void set_finetuner(Finetuner f) { finetune_ = std::move(f); }
  /// Where the latency table is kept; without it, latency_ms_with_ratios() throws.
  void set_latency_table(LatencyTable* table) { latency_ = table; }

  double accuracy_with_ratios(const std::vector<double>& ratios, int64_t max_samples) override;
  double accuracy(int64_t max_samples) override;
  int64_t macs_with_ratios(const std::vector<double>& ratios) override;
  double latency_ms_with_ratios(const std::vector<double>& ratios) override;
  double accuracy_after_finetune(const std::vector<double>& ratios, int64_t steps, int64_t max_samples) override;

 private:
  LayerMasks hypothetical_masks(const std::vector<double>& ratios);
  Model& net_;
  MaskSet& masks_;
  const UnitLayout& layout_;
  const TensorDataset& val_;
  int64_t batch_size_;
  c10::Device device_;
  const std::vector<at::Tensor>* scores_ = nullptr;
  Finetuner finetune_;
  LatencyTable* latency_ = nullptr;
};

/// Calibration batches from the training split, gradients and layer inputs, all in eval mode
/// so BatchNorm statistics are left untouched.
class DataCalibration : public Calibration {
 public:
  DataCalibration(Model& net, MaskSet& masks, const TensorDataset& train, int64_t batch_size,
                  uint64_t seed, c10::Device device);
  std::vector<Batch> batches(int64_t count) override;
  std::vector<std::pair<at::Tensor, at::Tensor>> gradients(int64_t count) override;
  at::Tensor layer_inputs(const std::string& layer, int64_t count) override;

 private:
  Model& net_;
  MaskSet& masks_;
  const TensorDataset& train_;
  int64_t batch_size_;
  uint64_t seed_;
  c10::Device device_;
  // Batches depend only on (seed, count): drawn once, reused by every layer and every step.
  std::map<int64_t, std::vector<Batch>> batches_;
};

}  // namespace prunelab
