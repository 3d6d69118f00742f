#include "run/search_store.hpp"

#include "config/experiment.hpp"
#include "config/json.hpp"

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
  return store_.load_curves(kind, key);
}

void RunSearchStore::save_curves(const std::string& kind, const std::string& key, const std::vector<CurvePoint>& points) {
  store_.save_curves(kind, key, points);
}

void RunSearchStore::log(const std::string& kind, const std::string& json) {
  store_.add_search_log(run_id_, step_, kind, json);
}

}  // namespace prunelab
