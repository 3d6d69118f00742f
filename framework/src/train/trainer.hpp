#pragma once
/// SGD training and evaluation loops over in-memory tensors, with masks enforced every step.

#include "data/dataset.hpp"
#include "models/model.hpp"
#include "train/weight_constraint.hpp"

#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>

namespace prunelab {

struct OptimSpec {
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  std::string lr_schedule = "cosine";  // cosine | step | constant
  int64_t batch_size = 128;
  // Sparsity-inducing regularisers, added to the gradients of every step.
  double bn_l1 = 0.0;        // lambda * sum |gamma| over BatchNorm scales (network slimming)
  double group_lasso = 0.0;  // lambda * sum_c ||W_c||_2 over the output channels of conv/linear weights
};

/// Adds the regularisers' (sub)gradients to the parameters' gradients: lambda * sign(gamma) for
/// BatchNorm scales, lambda * W_c / ||W_c|| for every output channel of a prunable weight.
void add_regularizer_gradients(Model& net, const OptimSpec& spec);

/// Learning rate at step `t` of `total` (step: x0.1 at 50% and 75% of the steps).
double learning_rate(const OptimSpec& spec, int64_t t, int64_t total);

struct TrainProgress {
  int64_t step = 0, total = 0;
  double loss = 0.0;
};
using ProgressFn = std::function<void(const TrainProgress&)>;

struct TrainResult {
  int64_t steps = 0;       // optimizer steps taken by this call
  double mean_loss = 0.0;  // over the last epoch's worth of steps (or all steps if fewer)
};

/// Knowledge distillation from a teacher (the dense model) during fine-tuning (Hinton et al.):
/// loss = (1 - weight) * CE(student, labels) + weight * T^2 * KL(softmax(teacher/T) || softmax(student/T)).
struct DistillSpec {
  double weight = 0.0;  // 0 = plain cross-entropy (the teacher is never run)
  double temperature = 4.0;
};

/// The fine-tuning loss above; exactly cross-entropy when spec.weight is 0.
at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                             const at::Tensor& labels, const DistillSpec& spec);

/// One training session: one SGD optimizer (its momentum), one LR schedule spanning
/// `total_steps`, one seeded batch order. `run()` may be called several times and continues
/// where it stopped: gradual pruning (AGP) prunes between calls and keeps training.
class TrainSession {
 public:
  TrainSession(Model& net, const TensorDataset& data, const OptimSpec& spec, int64_t total_steps,
               uint64_t seed, const c10::Device& device);
  ~TrainSession();
  /// Distil from `teacher` (kept in eval mode, never updated) when spec.weight > 0.
  void set_teacher(Model* teacher, const DistillSpec& spec);
  /// The next `steps` optimizer steps (at most what is left of total_steps). With a constraint
  /// (the pruning masks), it acts before and after every optimizer step.
  /// Throws if the loss stops being finite.
  TrainResult run(int64_t steps, WeightConstraint* masks, const ProgressFn& progress);
  int64_t steps_done() const { return done_; }
  int64_t total_steps() const { return total_; }

 private:
  struct State;
  Model& net_;
  const OptimSpec spec_;
  const int64_t total_;
  const c10::Device device_;
  int64_t done_ = 0;
  Model* teacher_ = nullptr;
  DistillSpec distill_;
  std::unique_ptr<State> state_;
};

/// Re-estimates every BatchNorm's running statistics from scratch on `batches` training batches
/// (a cumulative average over them, no gradient, no parameter change), then restores the
/// model's mode and the BatchNorms' momentum.
void recalibrate_batchnorm(Model& net, const TensorDataset& data, int64_t batches, int64_t batch_size,
                           uint64_t seed, const c10::Device& device);

/// A session of exactly `steps` steps, run to the end.
TrainResult train_steps(Model& net, const TensorDataset& data, const OptimSpec& spec,
                        int64_t steps, uint64_t seed, WeightConstraint* masks, const ProgressFn& progress,
                        const c10::Device& device);

struct EvalResult {
  double top1 = 0.0;  // 0..1
  double loss = 0.0;
  double top5 = 0.0;  // label among the 5 highest logits (all of them with fewer than 5 classes)
};

/// Inference-mode evaluation in eval mode; `max_samples` 0 means the whole split. BatchNorm is
/// folded into the convs for the evaluation (BatchNormFolding: exact up to float rounding,
/// about 1.2x faster on ResNet-20) and the model restored exactly afterwards.
EvalResult evaluate(Model& net, const TensorDataset& data, int64_t batch_size,
                    const c10::Device& device, int64_t max_samples = 0, bool fold_batchnorm = true);

}  // namespace prunelab
