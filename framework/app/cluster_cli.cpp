#include "cluster_cli.hpp"

#include "config/config_loader.hpp"
#include "core/stop_signal.hpp"
#include "plugin/registry.hpp"
#include "run/dense_stage.hpp"
#include "run/shard.hpp"
#include "run/shard_status.hpp"
#include "run/slurm.hpp"
#include "run/subprocess.hpp"
#include "run/worker_pool.hpp"
#include "store/merge.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <csignal>
#include <filesystem>
#include <fstream>

namespace prunelab::cli {

namespace {

void add_plugin_dir_option(CLI::App& app, std::vector<std::string>& dirs) {
  app.add_option("--plugin-dir", dirs, "extra directory of plugin libraries (repeatable)");
}

/// After SIGTERM/SIGUSR1: with --requeue inside a Slurm job, ask Slurm to run the task again.
int stopped(int signal, bool requeue) {
  fmt::print(stderr, "stopped by {}: the database is consistent, the interrupted run will be redone\n", signal_name(signal));
  if (requeue) {
    std::string message;
    request_requeue(message);
    fmt::print(stderr, "{}\n", message);
  }
  return kStopped;
}

/// This runner's arguments for a --jobs worker: without --jobs and --threads (the pool sets them).
std::vector<std::string> worker_args(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--jobs" || a == "--threads") {
      ++i;
      continue;
    }
    if (a.rfind("--jobs=", 0) == 0 || a.rfind("--threads=", 0) == 0) continue;
    out.push_back(a);
  }
  return out;
}

int cmd_dense(int argc, char** argv, const PluginLoader& load_plugins) {
  CLI::App app{"Train each distinct dense model of a grid once into the cache (the first Slurm array)", "runner dense"};
  std::string file, db_path, shard = "0/1";
  DenseStageOptions opt;
  std::vector<std::string> plugin_dirs;
  bool requeue = false;
  app.add_option("config", file, "experiment YAML file")->required();
  app.add_option("--shard", shard, "train only the models k with k % N == I (I/N, 0-based)")->capture_default_str();
  app.add_option("--db", db_path, "the grid's database: the cache defaults to <db dir>/cache");
  app.add_option("--cache-dir", opt.cache_dir, "dense checkpoint cache (default <db dir>/cache)");
  app.add_option("--threads", opt.threads, "LibTorch intra-op threads (default: the config's)");
  app.add_option("--device", opt.device, "cpu | cuda | auto (default: the config's)");
  app.add_flag("--requeue", requeue, "stopped by SIGTERM/SIGUSR1 inside a Slurm job: requeue the job");
  app.add_flag("--quiet", opt.quiet, "no progress output");
  add_plugin_dir_option(app, plugin_dirs);
  CLI11_PARSE(app, argc, argv);
  opt.shard = ShardSpec::parse(shard);
  install_stop_handlers();
  PluginRegistry registry;
  load_plugins(registry, plugin_dirs);
  auto exp = load_experiment(file, registry);
  if (db_path.empty()) db_path = fmt::format("results/{}.db", exp.name);
  if (opt.cache_dir.empty()) opt.cache_dir = (std::filesystem::path(db_path).parent_path() / "cache").string();
  try {
    train_dense_models(exp, opt);
  } catch (const StopRequested& e) {
    return stopped(e.signal(), requeue);
  }
  return kOk;
}

int cmd_merge(int argc, char** argv, const PluginLoader& load_plugins) {
  CLI::App app{"Merge shard databases into one results database (idempotent)", "runner merge"};
  std::string out;
  std::vector<std::string> inputs;
  app.add_option("out", out, "the merged database (created if missing)")->required();
  app.add_option("shards", inputs, "shard databases, or directories of them (<db>.shards/)")->required();
  CLI11_PARSE(app, argc, argv);
  const auto s = merge_databases(out, expand_shard_paths(inputs));
  fmt::print("merged {} shard(s) into {}: {} runs added, {} replaced by a better copy, {} already there\n", s.shards, out,
             s.added, s.replaced, s.kept);
  const int64_t missing = s.grid_runs >= 0 ? s.grid_runs - s.merged.total() : 0;
  fmt::print("{}: {} done, {} failed, {} running{}\n", out, s.merged.done, s.merged.failed, s.merged.running,
             s.grid_runs >= 0 ? fmt::format(", {} not started, of the grid's {} runs", std::max<int64_t>(0, missing), s.grid_runs) : "");
  const bool complete = s.merged.failed == 0 && s.merged.running == 0 && missing <= 0;
  return complete ? kOk : kRunsFailed;
}

int cmd_status(int argc, char** argv, const PluginLoader& load_plugins) {
  CLI::App app{"Done / running / failed / pending per shard of a grid, from the shard databases", "runner status"};
  std::string target, db_path;
  std::vector<std::string> plugin_dirs;
  app.add_option("target", target, "experiment YAML file, or a shard directory (<db>.shards/)")->required();
  app.add_option("--db", db_path, "the merged database of a YAML file (default results/<name>.db)");
  add_plugin_dir_option(app, plugin_dirs);
  CLI11_PARSE(app, argc, argv);
  std::string dir = target, merged, jobs;
  std::vector<int64_t> expected;
  if (!std::filesystem::is_directory(target)) {
    PluginRegistry registry;
    load_plugins(registry, plugin_dirs);
    const auto exp = load_experiment(target, registry);
    if (db_path.empty()) db_path = fmt::format("results/{}.db", exp.name);
    dir = shard_dir(db_path);
    merged = db_path;
    const auto slurm = std::filesystem::path(db_path).parent_path() / (std::filesystem::path(db_path).stem().string() + ".slurm");
    jobs = (slurm / "jobs").string();
    // The split in use: from the shards written so far.
    int count = 0;
    if (std::filesystem::is_directory(dir)) {
      for (const auto& s : read_grid_status(dir, {}, "", "").shards) {
        const auto slash = s.name.find('/');
        if (slash != std::string::npos) count = std::stoi(s.name.substr(slash + 1));
      }
    }
    if (count > 0)
      for (const auto& part : plan_shards(exp, registry, count)) expected.push_back(static_cast<int64_t>(part.size()));
  }
  if (!std::filesystem::is_directory(dir)) {
    fmt::print("no shard databases yet ({} does not exist)\n", dir);
    return kOk;
  }
  fmt::print("{}", format_grid_status(read_grid_status(dir, expected, merged, jobs)));
  return kOk;
}

int cmd_slurm(int argc, char** argv, const PluginLoader& load_plugins) {
  CLI::App app{"Submit a grid to Slurm: a dense-model array, the grid as a sharded array, a merge job", "runner slurm"};
  std::string file, extra;
  SlurmOptions opt;
  std::vector<std::string> plugin_dirs;
  bool dry_run = false, no_requeue = false, recompute_first_steps = false;
  app.add_option("config", file, "experiment YAML file")->required();
  app.add_option("--tasks", opt.tasks, "grid array tasks (shards); default min(runs, 8)");
  app.add_option("--parallel", opt.parallel, "at most this many tasks of an array at once (%P)");
  app.add_option("--partition", opt.partition, "Slurm partition");
  app.add_option("--time", opt.time, "time limit of each task (sbatch --time)");
  app.add_option("--cpus-per-task", opt.cpus_per_task, "CPUs of each task, and its runner's --threads (default: the config's threads)");
  app.add_option("--mem", opt.mem, "memory of each task (sbatch --mem)");
  app.add_option("--extra", extra, "further sbatch arguments for every job, e.g. '--account=abc --qos=normal'");
  app.add_option("--signal-grace", opt.signal_grace_s, "seconds before the time limit at which a task is told to stop and requeue")
      ->capture_default_str();
  app.add_flag("--no-requeue", no_requeue, "a stopped task does not requeue itself");
  app.add_option("--db", opt.db_path, "the merged database (default results/<name>.db)");
  app.add_option("--cache-dir", opt.cache_dir, "shared dense and first-step cache (default <db dir>/cache)");
  app.add_option("--models-dir", opt.models_dir, "saved pruned models (default <db dir>/models)");
  app.add_flag("--no-shared-steps", recompute_first_steps, "every run computes its own first pruning step");
  app.add_flag("--dry-run", dry_run, "write and print the scripts and the sbatch commands; submit nothing");
  add_plugin_dir_option(app, plugin_dirs);
  CLI11_PARSE(app, argc, argv);
  PluginRegistry registry;
  load_plugins(registry, plugin_dirs);
  const auto exp = load_experiment(file, registry);
  namespace fs = std::filesystem;
  auto absolute = [](const std::string& p) { return fs::absolute(p).lexically_normal().string(); };
  opt.config = absolute(file);
  opt.db_path = absolute(opt.db_path.empty() ? fmt::format("results/{}.db", exp.name) : opt.db_path);
  const auto db_dir = fs::path(opt.db_path).parent_path();
  opt.cache_dir = opt.cache_dir.empty() ? (db_dir / "cache").string() : absolute(opt.cache_dir);
  opt.models_dir = opt.models_dir.empty() ? (db_dir / "models").string() : absolute(opt.models_dir);
  for (const auto& d : plugin_dirs) opt.plugin_dirs.push_back(absolute(d));
  opt.runner = this_executable();
  opt.workdir = fs::current_path().string();
  opt.extra = split_shell_words(extra);
  opt.requeue = !no_requeue;
  opt.share_first_steps = !recompute_first_steps;
  const auto scripts = write_slurm_scripts(exp, opt);
  fmt::print("{}: {} runs as {} shards, {} dense model(s); scripts in {}\n", exp.name, exp.runs.size(), scripts.grid_tasks,
             scripts.dense_tasks, scripts.dir);
  if (dry_run) {
    for (const auto& path : {scripts.dense, scripts.grid, scripts.merge}) {
      std::ifstream in(path);
      fmt::print("\n==> {} <==\n{}", path, std::string(std::istreambuf_iterator<char>(in), {}));
    }
    fmt::print("\nwould submit (nothing was submitted):\n");
    std::vector<std::string> ids = {"DENSE_JOB", "GRID_JOB"};
    for (const auto& cmd : sbatch_commands(scripts, opt, ids[0], ids[1])) {
      std::vector<std::string> q;
      for (const auto& a : cmd) q.push_back(shell_quote(a));
      fmt::print("  {}\n", fmt::join(q, " "));
    }
    return kOk;
  }
  const auto jobs = submit_slurm(scripts, opt);
  fmt::print("submitted: dense-model array {} ({} task(s)), grid array {} ({} shards, after {} succeeds), merge {} (after {} ends)\n",
             jobs.dense, scripts.dense_tasks, jobs.grid, scripts.grid_tasks, jobs.dense, jobs.merge, jobs.grid);
  fmt::print("watch:   squeue -j {},{},{}    {} status {}\n", jobs.dense, jobs.grid, jobs.merge, opt.runner, opt.config);
  fmt::print("results: {} (written by job {}); logs in {}/logs\n", opt.db_path, jobs.merge, scripts.dir);
  return kOk;
}

}  // namespace

int run_cluster_command(const std::string& name, int argc, char** argv, const PluginLoader& load_plugins) {
  if (name == "dense") return cmd_dense(argc, argv, load_plugins);
  if (name == "merge") return cmd_merge(argc, argv, load_plugins);
  if (name == "status") return cmd_status(argc, argv, load_plugins);
  if (name == "slurm") return cmd_slurm(argc, argv, load_plugins);
  return -1;
}

void add_grid_run_options(CLI::App& app, GridRunFlags& flags) {
  app.add_option("--shard", flags.shard, "run only part I/N of the grid (0 <= I < N) into <db>.shards/I.db");
  app.add_option("--jobs", flags.jobs, "worker processes on this database, --threads split between them")->check(CLI::Range(1, 256));
  app.add_flag("--requeue", flags.requeue, "stopped by SIGTERM/SIGUSR1 inside a Slurm job: requeue the job, which resumes");
  app.add_flag("--require-dense", flags.require_dense, "a dense model missing from the cache fails its runs instead of being trained");
  app.add_option("--worker", flags.worker, "set by --jobs for its workers")->group("");
}

int run_grid_command(Experiment& exp, const PluginRegistry& registry, GridOptions& grid, const GridRunFlags& flags,
                     int argc, char** argv) {
  install_stop_handlers();
  grid.train_dense = !flags.require_dense;
  if (flags.jobs > 1) {
    const int code = run_worker_pool(worker_args(argc, argv), flags.jobs, threads_per_worker(grid.threads, flags.jobs));
    if (code == kStopped) return stopped(stop_signal() ? stop_signal() : SIGTERM, flags.requeue);
    return code;
  }
  select_grid_part(exp, registry, grid, flags.shard, flags.worker);
  const auto summary = run_grid(exp, registry, grid);
  // A --jobs worker leaves the requeue to its pool.
  if (summary.stopped_by) return stopped(summary.stopped_by, flags.requeue && flags.worker.empty());
  return summary.failed ? kRunsFailed : kOk;
}

}  // namespace prunelab::cli
