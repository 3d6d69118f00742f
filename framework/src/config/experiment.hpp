#pragma once
/// A parsed experiment file: shared settings and the expanded grid of concrete runs.

#include "data/dataset.hpp"
#include "models/model_spec.hpp"
#include "train/trainer.hpp"

#include <prunelab/granularity.hpp>
#include <prunelab/params.hpp>

#include <string>
#include <vector>

namespace prunelab {

/// `{type: NAME, ...params}` after validation: params hold every accepted key, defaults filled.
struct ComponentSpec {
  std::string type;
  std::string version;  // the plugin's version: a changed plugin is a different run
  Params params;
  std::vector<std::string> explicit_keys;  // the keys the config wrote, for labels
  std::vector<std::string> unhashed;       // at a default that ParamSpec keeps out of the hash
  std::string to_json() const;
  /// Short name for tables: the type, plus explicitly set parameters: "one_shot(epochs=0)".
  std::string label() const;
};

struct TrainSpec {
  double epochs = 10;
  OptimSpec optim;
};

struct FinetuneSpec {
  double epochs = 1;  // the total fine-tuning budget of a run; schedules split it
  OptimSpec optim;    // lr defaults to the dense lr / 10
  DistillSpec distill;  // knowledge distillation from the dense model (weight 0 = off)
  // Training batches over which BatchNorm statistics are re-estimated after every pruning step,
  // before fine-tuning and evaluation (0 = off): pruning shifts each layer's output
  // distribution, and stale running statistics are what make prune-only accuracy collapse.
  int64_t recalibrate_bn = 0;
};

struct EvalSpec {
  int64_t batch_size = 128;  // measured fastest on CPU: larger batches fall out of cache
  int64_t latency_repeats = 20;  // timed passes per model and batch size (1 and 64); 0 = skip
  bool save_models = true;       // write the masked and the physically pruned model of each run
};

struct RunSpec {
  std::string experiment;
  int64_t index = 0;  // position in the grid, 0-based
  int64_t seed = 0;
  ModelSpec model;
  DataSpec data;
  TrainSpec train;
  FinetuneSpec finetune;
  EvalSpec eval;
  ComponentSpec criterion, ratio_policy, schedule;
  Granularity granularity;
  double sparsity = 0.0;

  /// Everything that determines the run's results (not threads, device, evaluation batch size
  /// or file paths: those change speed, not numbers).
  std::string canonical_json() const;
  std::string hash() const;
  /// Everything that determines the dense model: model, data, dense training, seed.
  std::string dense_json() const;
  std::string dense_hash() const;
  std::string summary() const;  // one line for progress and logs
};

struct Experiment {
  std::string file;
  std::string name;
  std::string description;
  int threads = 0;              // 0 = leave LibTorch's default
  std::string device = "cpu";   // cpu | cuda | auto
  std::vector<RunSpec> runs;
};

std::string to_json(const DataSpec& d);
std::string to_json(const OptimSpec& o);
std::string to_json(const Granularity& g);

}  // namespace prunelab
