#include "run/search_store.hpp"

#include "config/experiment.hpp"
#include "core/json.hpp"
#include "run/cache_integrity.hpp"
#include "util/errors.hpp"

#include <fmt/format.h>

namespace prunelab {

RunSearchStore::RunSearchStore(ResultStore& store, const RunSpec& run, int64_t run_id, std::string code)
    : store_(store), run_(run), run_id_(run_id), code_(std::move(code)) {}

void RunSearchStore::begin_step(size_t step_index) {
  step_ = static_cast<int>(step_index) + 1;
  // The first step prunes the dense model: what it sees is fixed by the dense model, the
  // criterion, the granularity and the fine-tuning optimiser settings (its batch size draws the
  // calibration batches; NetAdapt's short fine-tuning uses them all), so runs that differ only
  // later (schedule, budget) share it. After that the weights depend on everything the run did.
  state_key_ = step_index == 0
                   ? stable_hash(fmt::format("{}|{}|{}|{}|{}", run_.dense_hash(), run_.criterion.to_json(),
                                             to_json(run_.granularity), to_json(run_.finetune.optim), code_))
                   : fmt::format("{}-step{}", run_.hash(), step_);
}

std::vector<CurvePoint> RunSearchStore::load_curves(const std::string& kind, const std::string& key) {
  auto points = store_.load_curves(kind, key);
  if (kind != "latency") return points;
  // A latency table is a cache of measurements: damaged entries are dropped from the database
  // and measured again rather than read as times (or failing the run on an unparsable label).
  std::vector<CurvePoint> usable;
  for (const auto& p : points)
    if (valid_latency_point(p)) usable.push_back(p);
  if (usable.size() != points.size()) {
    warn(fmt::format("latency table '{}': {} of {} stored entries are damaged (not a positive channel count and "
                     "time); dropping them, they are measured again", key, points.size() - usable.size(), points.size()));
    store_.save_curves(kind, key, usable);
  }
  return usable;
}

void RunSearchStore::save_curves(const std::string& kind, const std::string& key, const std::vector<CurvePoint>& points) {
  store_.save_curves(kind, key, points);
}

void RunSearchStore::log(const std::string& kind, const std::string& json) {
  store_.add_search_log(run_id_, step_, kind, json);
}

}  // namespace prunelab
