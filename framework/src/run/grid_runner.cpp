#include "run/grid_runner.hpp"

#include "core/errors.hpp"
#include "core/stop_signal.hpp"
#include "plugin/registry.hpp"
#include "run/dense_cache.hpp"
#include "run/first_step_cache.hpp"
#include "run/progress.hpp"
#include "run/run_executor.hpp"
#include "run/threads.hpp"
#include "store/result_store.hpp"
#include "store/store_ops.hpp"
#include "util/errors.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include <chrono>
#include <filesystem>
#include <map>

namespace prunelab {

c10::Device resolve_device(const std::string& name) {
  if (name == "cuda") {
    if (!torch::cuda::is_available()) throw std::runtime_error("device 'cuda' requested but LibTorch sees no CUDA device");
    return c10::Device(c10::kCUDA);
  }
  if (name == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  return c10::Device(c10::kCPU);
}

GridSummary run_grid(const Experiment& exp, const PluginRegistry& registry, const GridOptions& opt) {
  const std::string db_path = opt.db_path.empty() ? fmt::format("results/{}.db", exp.name) : opt.db_path;
  auto db_dir = std::filesystem::path(db_path).parent_path();
  if (!db_dir.empty()) std::filesystem::create_directories(db_dir);
  const std::string cache_dir = opt.cache_dir.empty() ? (db_dir / "cache").string() : opt.cache_dir;
  const int threads = opt.threads > 0 ? opt.threads : exp.threads;
  configure_threads(threads);
  const std::string device_name = opt.device.empty() ? exp.device : opt.device;
  const c10::Device device = resolve_device(device_name);

  ResultStore store(db_path, opt.wal);
  write_meta(store.db(), opt.meta);
  const std::string models_dir = opt.models_dir.empty() ? (db_dir / "models").string() : opt.models_dir;
  DenseCache dense(cache_dir, opt.train_dense);
  Progress progress(static_cast<int64_t>(exp.runs.size()), opt.quiet);
  // Warnings (a corrupt cache entry being rebuilt) are lines that stay, even when quiet.
  WarningSink warnings([&](const std::string& m) {
    if (opt.quiet) fmt::print(stderr, "warning: {}\n", m);
    else progress.message("warning: " + m);
  });
  FirstStepCache first_steps(cache_dir);
  RunContext ctx{registry, store, dense, progress, device, models_dir,
                 opt.share_first_steps ? &first_steps : nullptr};
  std::map<std::string, DataSplits> data_by_spec;  // loaded once per distinct data section
  GridSummary summary;
  progress.message(fmt::format("{}: {} runs -> {} ({} threads, {})", exp.name, exp.runs.size(), db_path,
                               at::get_num_threads(), device.str()));

  int64_t position = 0;  // in this list: a shard's or a worker's runs are a part of the grid
  for (const auto& run : exp.runs) {
    if ((summary.stopped_by = stop_signal())) break;  // SIGTERM between runs: claim nothing more
    progress.start_run(position++, run.summary());
    const auto t0 = std::chrono::steady_clock::now();
    const RunClaim claim = store.claim_run(run, {at::get_num_threads(), device.str()});
    if (!claim.run_id) {
      switch (claim.skip) {
        case RunClaim::Skip::Done: ++summary.skipped; break;
        case RunClaim::Skip::FailedElsewhere: ++summary.failed; break;  // the grid has a failed run
        default: ++summary.held_elsewhere; break;
      }
      progress.end_run(claim.skipped_because + ", skipped", false);
      continue;
    }
    const int64_t run_id = *claim.run_id;
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    try {
      const std::string data_key = to_json(run.data);
      if (!data_by_spec.count(data_key)) {
        progress.phase("loading data");
        // Splits stay in host memory (uint8 where the source is): batches move to the device.
        data_by_spec.emplace(data_key, load_data(run.data));
      }
      execute_run(run, data_by_spec.at(data_key), run_id, ctx);
      store.finish_run(run_id, elapsed());
      ++summary.done;
      progress.end_run("done", true);
    } catch (const StopRequested& e) {
      forget_run(store.db(), run_id);  // pending again: the next invocation redoes it
      summary.stopped_by = e.signal();
      progress.end_run(fmt::format("interrupted by {}: will be redone", signal_name(e.signal())), false);
      break;
    } catch (const std::exception& e) {
      // runs.error and the terminal get one line; the full text (LibTorch's stack) the debug log.
      const std::string error = one_line(e);
      debug_log(fmt::format("run {} of {} ({})", run.index, exp.name, run.summary()), e);
      store.fail_run(run_id, error, elapsed());
      ++summary.failed;
      progress.end_run(fmt::format("FAILED: {}", error), true);
    }
  }
  progress.message(fmt::format("{}: {} done, {} skipped (already done), {} failed{}{}", exp.name, summary.done,
                               summary.skipped, summary.failed,
                               summary.held_elsewhere ? fmt::format(", {} left to other runners", summary.held_elsewhere) : "",
                               summary.stopped_by ? fmt::format("; stopped by {}", signal_name(summary.stopped_by)) : ""));
  return summary;
}

}  // namespace prunelab
