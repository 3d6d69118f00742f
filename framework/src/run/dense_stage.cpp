#include "run/dense_stage.hpp"

#include "run/dense_cache.hpp"
#include "run/grid_runner.hpp"
#include "run/progress.hpp"
#include "run/threads.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <set>

namespace prunelab {

std::vector<const RunSpec*> distinct_dense_models(const Experiment& exp) {
  std::vector<const RunSpec*> out;
  std::set<std::string> seen;
  for (const auto& run : exp.runs)
    if (seen.insert(run.dense_hash()).second) out.push_back(&run);
  return out;
}

int train_dense_models(const Experiment& exp, const DenseStageOptions& opt) {
  configure_threads(opt.threads > 0 ? opt.threads : exp.threads);
  const c10::Device device = resolve_device(opt.device.empty() ? exp.device : opt.device);
  const auto models = distinct_dense_models(exp);
  std::vector<const RunSpec*> mine;
  for (size_t k = 0; k < models.size(); ++k)
    if (static_cast<int>(k % opt.shard.count) == opt.shard.index) mine.push_back(models[k]);
  DenseCache cache(opt.cache_dir);
  Progress progress(static_cast<int64_t>(mine.size()), opt.quiet);
  progress.message(fmt::format("{}: {} of {} dense models (part {}) -> {} ({} threads, {})", exp.name, mine.size(),
                               models.size(), opt.shard.text(), opt.cache_dir, at::get_num_threads(), device.str()));
  for (size_t k = 0; k < mine.size(); ++k) {
    const RunSpec& run = *mine[k];
    progress.start_run(static_cast<int64_t>(k), fmt::format("dense {} seed={}", run.model.label(), run.seed));
    DataSplits d = load_data(run.data);
    for (TensorDataset* split : {&d.train, &d.val, &d.test}) *split = {split->images.to(device), split->labels.to(device)};
    const DenseModel& m = cache.get(run, d, device, progress);
    progress.end_run(fmt::format("{} test top-1 {:.2f}% -> {}", m.from_cache ? "in the cache," : "trained,", 100 * m.top1,
                                 cache.checkpoint_path(run)),
                     !m.from_cache);
  }
  return static_cast<int>(mine.size());
}

}  // namespace prunelab
