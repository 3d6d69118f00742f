#pragma once
/// The three extension kinds (criterion, ratio policy, schedule) and how a plugin registers them.
///
/// Contract, in the order the framework calls things at every pruning step of a run:
///   1. Schedule::plan() once per run: the sequence of (target sparsity, fine-tune steps).
///   2. Criterion::score(): a score per element or per slice, higher = keep.
///   3. The framework reduces element scores to slices, groups them into prune units (one per
///      layer; for channel granularity one per channel group, summing the group's producers),
///      and marks already-pruned slices -inf.
///   4. RatioPolicy::ratios(): the fraction of slices to prune in each unit.
///   5. The framework picks the lowest-scored slices per unit, writes masks, zeroes weights
///      (for a channel also its bias, BatchNorm scale and shift, and its consumers' inputs).
///   6. Criterion::after_masking(): may adjust the surviving weights (OBS, least-squares refit).
///   7. The framework rewinds the weights if the step asks (lottery ticket), then fine-tunes with
///      masks re-applied after every optimizer step (in a fresh session, or continuing the last).
/// Only the framework changes masks or shapes.

#include <prunelab/granularity.hpp>
#include <prunelab/layer.hpp>
#include <prunelab/params.hpp>
#include <prunelab/plugin_abi.hpp>

#include <torch/types.h>

#include <boost/config.hpp>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace prunelab {

/// One batch of the training split (inputs on the run's device, int64 labels).
struct Batch {
  at::Tensor inputs;
  at::Tensor labels;
};

/// Data and model access for data-driven criteria (Taylor, OBD, OBS, reconstruction).
/// Everything comes from the training split, never validation or test.
class Calibration {
 public:
  virtual ~Calibration() = default;
  /// `count` batches, the same ones for the same run seed.
  virtual std::vector<Batch> batches(int64_t count) = 0;
  /// Per prunable layer, the sum over `count` batches of dL/dW and of (dL/dW)^2 (empirical Fisher),
  /// as {grad_sum, grad_sq_sum}, in layer order. The model is left unchanged.
  virtual std::vector<std::pair<at::Tensor, at::Tensor>> gradients(int64_t count) = 0;
  /// The inputs the named layer received over `count` batches (eval mode), concatenated on dim 0.
  virtual at::Tensor layer_inputs(const std::string& layer, int64_t count) = 0;
};

/// Lets a ratio policy try per-layer ratios before committing (sensitivity, AMC, NetAdapt).
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  /// Validation top-1 (0..1) after pruning each prune unit at `ratios[i]` of its slices by the
  /// current scores, on at most `max_samples` validation samples; the model is restored exactly.
  virtual double accuracy_with_ratios(const std::vector<double>& ratios, int64_t max_samples) = 0;
  /// Validation top-1 (0..1) of the model as it is now.
  virtual double accuracy(int64_t max_samples) = 0;
  /// Effective MACs per sample if each prune unit were pruned at `ratios[i]` of its slices
  /// (for channels, consumers' inputs included).
  virtual int64_t macs_with_ratios(const std::vector<double>& ratios) = 0;
  /// Estimated inference latency (ms per batch) if each unit were pruned at `ratios[i]`: the sum
  /// over prunable layers of a lookup table of the layer's time at its live input and output
  /// channel counts, measured on this machine with the run's threads (cached in the results
  /// database, table `curves`, kind 'latency'). Only channel pruning changes it.
  virtual double latency_ms_with_ratios(const std::vector<double>& /*ratios*/) {
    throw std::logic_error("this evaluator has no latency table");
  }
  /// Validation top-1 after pruning each unit at `ratios[i]` and fine-tuning `steps` optimizer
  /// steps (masks enforced; plain SGD with the run's fine-tuning optimiser settings, no
  /// distillation); every parameter, BatchNorm statistic and mask is restored afterwards.
  virtual double accuracy_after_finetune(const std::vector<double>& /*ratios*/, int64_t /*steps*/,
                                         int64_t /*max_samples*/) {
    throw std::logic_error("this evaluator cannot fine-tune");
  }
};

struct PruneUnit;

struct CriterionContext {
  std::vector<LayerView>& layers;
  Granularity granularity;
  Calibration* calibration = nullptr;  // never null while running; may be null in unit tests
  uint64_t seed = 0;                   // the run's seed, for criteria that draw random numbers
  /// The units this step decides over (see PruneUnit): for channel granularity, which layers
  /// produce each channel group and which consume it (reconstruction criteria need the latter).
  /// Never null while running; may be null in unit tests.
  const std::vector<PruneUnit>* units = nullptr;
};

class BOOST_SYMBOL_VISIBLE Criterion {
 public:
  virtual ~Criterion() = default;
  /// Per layer, either weight-shaped element scores (reduced over slices by slice_norm_p())
  /// or scores already shaped like slice_grid_shape(). Higher = keep.
  virtual std::vector<at::Tensor> score(CriterionContext& ctx) = 0;
  /// p of the norm used to reduce element scores over a slice (1 = sum of |scores|).
  virtual double slice_norm_p() const { return 1.0; }
  /// Called after the new masks are written and pruned weights zeroed.
  virtual void after_masking(CriterionContext& /*ctx*/) {}
};

/// What a ratio policy decides over. For element, pattern, vector and kernel granularity there is
/// one unit per layer. For channel granularity a unit is a channel group the model declares: the
/// layers whose output channels are pruned together (one conv, or every conv feeding one residual
/// stream), so one decision removes a channel from all of them and from their consumers.
/// A layer that reads a channel unit's channels: channel c is its input columns
/// [c * spatial, (c + 1) * spatial) (spatial > 1 for a linear layer after a flatten).
struct UnitConsumer {
  size_t layer = 0;  // index into the layers
  int64_t spatial = 1;
  int64_t in_offset = 0;  // the consumer's input channel fed by the unit's first channel (concatenations)
  int64_t length = -1;    // unit channels it reads, from the first; -1 = all of them
};

struct PruneUnit {
  std::string name;            // the layer's name, or the group's ("stage2.stream")
  std::vector<size_t> layers;  // the producing layers, indices into RatioContext::layers
  int64_t slices = 0;          // decisions in the unit (elements, kernels, channels, ...)
  int64_t weights_per_slice = 0;  // producer weights one slice holds (what sparsity counts)
  std::vector<UnitConsumer> consumers;  // channel granularity: layers whose inputs lose a pruned channel
};

/// One measured point of a curve a search keeps: `label` (a unit, a layer) and y at x.
struct CurvePoint {
  std::string label;
  double x = 0, y = 0;
};

/// Where a ratio policy keeps what its search measured, in the results database.
class SearchStore {
 public:
  virtual ~SearchStore() = default;
  /// Identifies the weights and scores this step starts from: the same for every run that
  /// prunes the same dense model with the same criterion and granularity in its first step (so
  /// their curves are shared); specific to the run and step afterwards.
  virtual std::string state_key() const = 0;
  /// Curves saved earlier under (kind, key), by this run or any other; empty if none.
  virtual std::vector<CurvePoint> load_curves(const std::string& kind, const std::string& key) = 0;
  /// Saves (replaces) the curves under (kind, key): table `curves`.
  virtual void save_curves(const std::string& kind, const std::string& key, const std::vector<CurvePoint>& points) = 0;
  /// One row of this run's search log (kind: "choice", "episode", "iteration", ...) with a JSON
  /// object as its data: table `search_log`.
  virtual void log(const std::string& kind, const std::string& json) = 0;
};

struct RatioContext {
  const std::vector<LayerView>& layers;
  const std::vector<PruneUnit>& units;
  /// Per unit, flattened slice scores; already-pruned slices are -inf.
  const std::vector<at::Tensor>& slice_scores;
  Granularity granularity;
  /// Fraction of the units' weights (sum of slices x weights_per_slice) to be pruned after this
  /// step. With one unit per layer that is the fraction of all prunable weights; for channels it
  /// is the fraction of channels (weighted by their producer weights) removed from the groups.
  double target_sparsity = 0.0;
  Evaluator* evaluator = nullptr;
  uint64_t seed = 0;
  SearchStore* store = nullptr;  // never null while running; may be null in unit tests
};

class BOOST_SYMBOL_VISIBLE RatioPolicy {
 public:
  virtual ~RatioPolicy() = default;
  /// Per unit, the fraction (0..1) of its slices to prune, already-pruned ones included.
  virtual std::vector<double> ratios(const RatioContext& ctx) = 0;
};

/// One pruning step: prune to `target_sparsity`, then fine-tune `finetune_steps` optimizer steps.
struct PruneStep {
  double target_sparsity = 0.0;
  int64_t finetune_steps = 0;
  /// Keep training in the previous step's session (its optimizer momentum, and one LR schedule
  /// spanning every step of the chain) instead of starting a fresh fine-tuning: gradual pruning
  /// during training (AGP). Ignored on the first step.
  bool continue_training = false;
  /// Lottery-ticket rewinding: after pruning, reset the surviving weights (and every other
  /// parameter and BatchNorm statistic) to the dense training's state at this optimizer step,
  /// 0 = the initialisation, then fine-tune from there. -1 = no rewind.
  int64_t rewind_to_step = -1;
  /// With rewind_to_step: draw fresh initial values (another seed) instead of the original
  /// ones, the random re-initialisation control of Frankle & Carbin.
  bool random_reinit = false;
  /// Peak learning rate of this step's fine-tuning session; < 0 = the config's finetune.lr.
  double finetune_lr = -1.0;
};

struct ScheduleContext {
  double final_sparsity = 0.0;
  int64_t budget_steps = 0;     // total fine-tuning budget from the config's `finetune` section
  int64_t steps_per_epoch = 0;  // optimizer steps in one pass over the training split
  int64_t dense_steps = 0;      // optimizer steps of the dense training (rewind points lie in [0, this])
};

class BOOST_SYMBOL_VISIBLE Schedule {
 public:
  virtual ~Schedule() = default;
  virtual std::vector<PruneStep> plan(const ScheduleContext& ctx) = 0;
};

/// What a component says about itself; `params` is validated by the framework before construction.
struct ComponentInfo {
  std::string name;
  std::string version;
  std::string summary;
  std::vector<ParamSpec> params;
};

using CriterionFactory = std::function<std::unique_ptr<Criterion>(const Params&)>;
using RatioPolicyFactory = std::function<std::unique_ptr<RatioPolicy>(const Params&)>;
using ScheduleFactory = std::function<std::unique_ptr<Schedule>(const Params&)>;

/// Handed to a plugin's register function; a plugin may register any number of components.
class BOOST_SYMBOL_VISIBLE Registrar {
 public:
  virtual ~Registrar() = default;
  virtual void add_criterion(ComponentInfo info, CriterionFactory factory) = 0;
  virtual void add_ratio_policy(ComponentInfo info, RatioPolicyFactory factory) = 0;
  virtual void add_schedule(ComponentInfo info, ScheduleFactory factory) = 0;
};

}  // namespace prunelab
