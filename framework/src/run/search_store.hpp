#pragma once
/// The SearchStore a run hands its ratio policy: curves shared through the results database,
/// and the run's search log for the current pruning step.

#include "store/result_store.hpp"

#include <prunelab/plugin_api.hpp>

#include <string>

namespace prunelab {

struct RunSpec;

class RunSearchStore final : public SearchStore {
 public:
  /// `code` identifies the framework's, the criterion's and the policy's code
  /// (framework_code_fingerprint, PluginRegistry::code_fingerprint): curves measured by other
  /// code are not reused, and neither are cached first steps (FirstStepCache builds on this key).
  RunSearchStore(ResultStore& store, const RunSpec& run, int64_t run_id, std::string code);
  /// Called before each pruning step (0-based): the state key changes after the first.
  void begin_step(size_t step_index);

  std::string state_key() const override { return state_key_; }
  std::vector<CurvePoint> load_curves(const std::string& kind, const std::string& key) override;
  void save_curves(const std::string& kind, const std::string& key, const std::vector<CurvePoint>& points) override;
  void log(const std::string& kind, const std::string& json) override;

 private:
  ResultStore& store_;
  const RunSpec& run_;
  int64_t run_id_;
  std::string code_;
  int step_ = 0;
  std::string state_key_;
};

}  // namespace prunelab
