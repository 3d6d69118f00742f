/// `runner`: run an experiment grid, validate a config, list plugins, report a database.

#include "config/config_loader.hpp"
#include "core/stop_signal.hpp"
#include "plugin/registry.hpp"
#include "report/pivot.hpp"
#include "report/plot.hpp"
#include "report/query.hpp"
#include "report/render.hpp"
#include "run/grid_runner.hpp"
#include "run/model_eval.hpp"
#include "run/dense_stage.hpp"
#include "run/plan.hpp"
#include "run/shard.hpp"
#include "run/shard_status.hpp"
#include "run/slurm.hpp"
#include "run/subprocess.hpp"
#include "run/threads.hpp"
#include "run/worker_pool.hpp"
#include "store/merge.hpp"

#include <CLI/CLI.hpp>
#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

namespace {

constexpr int kOk = 0, kRunsFailed = 1, kUsage = 2, kStopped = 3;

struct PluginOptions {
  std::vector<std::string> dirs;
};

void add_plugin_options(CLI::App& app, PluginOptions& opt) {
  app.add_option("--plugin-dir", opt.dirs, "extra directory of plugin libraries (repeatable)");
}

/// Loads the built-in plugin directory, $PRUNELAB_PLUGIN_PATH and --plugin-dir; refusals are warnings.
void load_plugins(prunelab::PluginRegistry& registry, const PluginOptions& opt) {
  auto dirs = prunelab::default_plugin_dirs();
  dirs.insert(dirs.end(), opt.dirs.begin(), opt.dirs.end());
  for (const auto& dir : dirs)
    for (const auto& msg : registry.load_directory(dir)) fmt::print(stderr, "warning: {}\n", msg);
}

/// After SIGTERM/SIGUSR1: with --requeue inside a Slurm job, ask Slurm to run the task again.
int stopped(int signal, bool requeue) {
  fmt::print(stderr, "stopped by {}: the database is consistent, the interrupted run will be redone\n", prunelab::signal_name(signal));
  if (requeue) {
    std::string message;
    prunelab::request_requeue(message);
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

int cmd_run(int argc, char** argv) {
  CLI::App app{"Run an experiment grid (resumes: finished runs are skipped)", "runner"};
  std::string file;
  prunelab::GridOptions grid;
  PluginOptions plugins;
  std::string shard, worker;
  int jobs = 1;
  bool requeue = false, require_dense = false;
  app.add_option("config", file, "experiment YAML file")->required();
  app.add_option("--db", grid.db_path, "results database (default results/<name>.db)");
  app.add_option("--cache-dir", grid.cache_dir, "dense checkpoint cache (default <db dir>/cache)");
  app.add_option("--models-dir", grid.models_dir, "saved pruned models (default <db dir>/models)");
  app.add_option("--threads", grid.threads, "LibTorch intra-op threads (default: the config's)");
  app.add_option("--device", grid.device, "cpu | cuda | auto (default: the config's)");
  app.add_flag("--quiet", grid.quiet, "no progress output");
  bool recompute_first_steps = false;
  app.add_flag("--no-shared-steps", recompute_first_steps,
               "every run computes its own first pruning step (default: runs that share it load it from the cache)");
  app.add_option("--shard", shard, "run only part I/N of the grid (0 <= I < N) into <db>.shards/I.db");
  app.add_option("--jobs", jobs, "worker processes on this database, --threads split between them")->check(CLI::Range(1, 256));
  app.add_flag("--requeue", requeue, "stopped by SIGTERM/SIGUSR1 inside a Slurm job: requeue the job, which resumes");
  app.add_flag("--require-dense", require_dense, "a dense model missing from the cache fails its runs instead of being trained");
  app.add_option("--worker", worker, "set by --jobs for its workers")->group("");
  add_plugin_options(app, plugins);
  CLI11_PARSE(app, argc, argv);
  grid.share_first_steps = !recompute_first_steps;
  grid.train_dense = !require_dense;
  prunelab::install_stop_handlers();
  prunelab::PluginRegistry registry;
  load_plugins(registry, plugins);
  auto exp = prunelab::load_experiment(file, registry);
  if (jobs > 1) {
    const int code = prunelab::run_worker_pool(worker_args(argc, argv), jobs, prunelab::threads_per_worker(grid.threads, jobs));
    if (code == kStopped) return stopped(prunelab::stop_signal() ? prunelab::stop_signal() : SIGTERM, requeue);
    return code;
  }
  prunelab::select_grid_part(exp, registry, grid, shard, worker);
  auto summary = prunelab::run_grid(exp, registry, grid);
  // A --jobs worker leaves the requeue to its pool.
  if (summary.stopped_by) return stopped(summary.stopped_by, requeue && worker.empty());
  return summary.failed ? kRunsFailed : kOk;
}

int cmd_dense(int argc, char** argv) {
  CLI::App app{"Train each distinct dense model of a grid once into the cache (the first Slurm array)", "runner dense"};
  std::string file, db_path, shard = "0/1";
  prunelab::DenseStageOptions opt;
  PluginOptions plugins;
  bool requeue = false;
  app.add_option("config", file, "experiment YAML file")->required();
  app.add_option("--shard", shard, "train only the models k with k % N == I (I/N, 0-based)")->capture_default_str();
  app.add_option("--db", db_path, "the grid's database: the cache defaults to <db dir>/cache");
  app.add_option("--cache-dir", opt.cache_dir, "dense checkpoint cache (default <db dir>/cache)");
  app.add_option("--threads", opt.threads, "LibTorch intra-op threads (default: the config's)");
  app.add_option("--device", opt.device, "cpu | cuda | auto (default: the config's)");
  app.add_flag("--requeue", requeue, "stopped by SIGTERM/SIGUSR1 inside a Slurm job: requeue the job");
  app.add_flag("--quiet", opt.quiet, "no progress output");
  add_plugin_options(app, plugins);
  CLI11_PARSE(app, argc, argv);
  opt.shard = prunelab::ShardSpec::parse(shard);
  prunelab::install_stop_handlers();
  prunelab::PluginRegistry registry;
  load_plugins(registry, plugins);
  auto exp = prunelab::load_experiment(file, registry);
  if (db_path.empty()) db_path = fmt::format("results/{}.db", exp.name);
  if (opt.cache_dir.empty()) opt.cache_dir = (std::filesystem::path(db_path).parent_path() / "cache").string();
  try {
    prunelab::train_dense_models(exp, opt);
  } catch (const prunelab::StopRequested& e) {
    return stopped(e.signal(), requeue);
  }
  return kOk;
}

int cmd_merge(int argc, char** argv) {
  CLI::App app{"Merge shard databases into one results database (idempotent)", "runner merge"};
  std::string out;
  std::vector<std::string> inputs;
  app.add_option("out", out, "the merged database (created if missing)")->required();
  app.add_option("shards", inputs, "shard databases, or directories of them (<db>.shards/)")->required();
  CLI11_PARSE(app, argc, argv);
  const auto s = prunelab::merge_databases(out, prunelab::expand_shard_paths(inputs));
  fmt::print("merged {} shard(s) into {}: {} runs added, {} replaced by a better copy, {} already there\n", s.shards, out,
             s.added, s.replaced, s.kept);
  const int64_t missing = s.grid_runs >= 0 ? s.grid_runs - s.merged.total() : 0;
  fmt::print("{}: {} done, {} failed, {} running{}\n", out, s.merged.done, s.merged.failed, s.merged.running,
             s.grid_runs >= 0 ? fmt::format(", {} not started, of the grid's {} runs", std::max<int64_t>(0, missing), s.grid_runs) : "");
  const bool complete = s.merged.failed == 0 && s.merged.running == 0 && missing <= 0;
  return complete ? kOk : kRunsFailed;
}

int cmd_status(int argc, char** argv) {
  CLI::App app{"Done / running / failed / pending per shard of a grid, from the shard databases", "runner status"};
  std::string target, db_path;
  PluginOptions plugins;
  app.add_option("target", target, "experiment YAML file, or a shard directory (<db>.shards/)")->required();
  app.add_option("--db", db_path, "the merged database of a YAML file (default results/<name>.db)");
  add_plugin_options(app, plugins);
  CLI11_PARSE(app, argc, argv);
  std::string dir = target, merged, jobs;
  std::vector<int64_t> expected;
  if (!std::filesystem::is_directory(target)) {
    prunelab::PluginRegistry registry;
    load_plugins(registry, plugins);
    const auto exp = prunelab::load_experiment(target, registry);
    if (db_path.empty()) db_path = fmt::format("results/{}.db", exp.name);
    dir = prunelab::shard_dir(db_path);
    merged = db_path;
    const auto slurm = std::filesystem::path(db_path).parent_path() / (std::filesystem::path(db_path).stem().string() + ".slurm");
    jobs = (slurm / "jobs").string();
    // The split in use: from the shards written so far.
    int count = 0;
    if (std::filesystem::is_directory(dir)) {
      for (const auto& s : prunelab::read_grid_status(dir, {}, "", "").shards) {
        const auto slash = s.name.find('/');
        if (slash != std::string::npos) count = std::stoi(s.name.substr(slash + 1));
      }
    }
    if (count > 0)
      for (const auto& part : prunelab::plan_shards(exp, registry, count)) expected.push_back(static_cast<int64_t>(part.size()));
  }
  if (!std::filesystem::is_directory(dir)) {
    fmt::print("no shard databases yet ({} does not exist)\n", dir);
    return kOk;
  }
  fmt::print("{}", prunelab::format_grid_status(prunelab::read_grid_status(dir, expected, merged, jobs)));
  return kOk;
}

int cmd_slurm(int argc, char** argv) {
  CLI::App app{"Submit a grid to Slurm: a dense-model array, the grid as a sharded array, a merge job", "runner slurm"};
  std::string file, extra;
  prunelab::SlurmOptions opt;
  PluginOptions plugins;
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
  add_plugin_options(app, plugins);
  CLI11_PARSE(app, argc, argv);
  prunelab::PluginRegistry registry;
  load_plugins(registry, plugins);
  const auto exp = prunelab::load_experiment(file, registry);
  namespace fs = std::filesystem;
  auto absolute = [](const std::string& p) { return fs::absolute(p).lexically_normal().string(); };
  opt.config = absolute(file);
  opt.db_path = absolute(opt.db_path.empty() ? fmt::format("results/{}.db", exp.name) : opt.db_path);
  const auto db_dir = fs::path(opt.db_path).parent_path();
  opt.cache_dir = opt.cache_dir.empty() ? (db_dir / "cache").string() : absolute(opt.cache_dir);
  opt.models_dir = opt.models_dir.empty() ? (db_dir / "models").string() : absolute(opt.models_dir);
  for (const auto& d : plugins.dirs) opt.plugin_dirs.push_back(absolute(d));
  opt.runner = prunelab::this_executable();
  opt.workdir = fs::current_path().string();
  opt.extra = prunelab::split_shell_words(extra);
  opt.requeue = !no_requeue;
  opt.share_first_steps = !recompute_first_steps;
  const auto scripts = prunelab::write_slurm_scripts(exp, opt);
  fmt::print("{}: {} runs as {} shards, {} dense model(s); scripts in {}\n", exp.name, exp.runs.size(), scripts.grid_tasks,
             scripts.dense_tasks, scripts.dir);
  if (dry_run) {
    for (const auto& path : {scripts.dense, scripts.grid, scripts.merge}) {
      std::ifstream in(path);
      fmt::print("\n==> {} <==\n{}", path, std::string(std::istreambuf_iterator<char>(in), {}));
    }
    fmt::print("\nwould submit (nothing was submitted):\n");
    std::vector<std::string> ids = {"DENSE_JOB", "GRID_JOB"};
    for (const auto& cmd : prunelab::sbatch_commands(scripts, opt, ids[0], ids[1])) {
      std::vector<std::string> q;
      for (const auto& a : cmd) q.push_back(prunelab::shell_quote(a));
      fmt::print("  {}\n", fmt::join(q, " "));
    }
    return kOk;
  }
  const auto jobs = prunelab::submit_slurm(scripts, opt);
  fmt::print("submitted: dense-model array {} ({} task(s)), grid array {} ({} shards, after {} succeeds), merge {} (after {} ends)\n",
             jobs.dense, scripts.dense_tasks, jobs.grid, scripts.grid_tasks, jobs.dense, jobs.merge, jobs.grid);
  fmt::print("watch:   squeue -j {},{},{}    {} status {}\n", jobs.dense, jobs.grid, jobs.merge, opt.runner, opt.config);
  fmt::print("results: {} (written by job {}); logs in {}/logs\n", opt.db_path, jobs.merge, scripts.dir);
  return kOk;
}

int cmd_validate(int argc, char** argv) {
  CLI::App app{"Parse and check an experiment file and print its expanded grid; runs nothing", "runner validate"};
  std::string file;
  bool json = false;
  PluginOptions plugins;
  app.add_option("config", file, "experiment YAML file")->required();
  app.add_flag("--json", json, "print each run's canonical config");
  add_plugin_options(app, plugins);
  CLI11_PARSE(app, argc, argv);
  prunelab::PluginRegistry registry;
  load_plugins(registry, plugins);
  auto exp = prunelab::load_experiment(file, registry);
  fmt::print("{}: experiment '{}', {} runs\n", file, exp.name, exp.runs.size());
  fmt::print("plan: target sparsity/fine-tuning steps per pruning step (+ continues the training session,\n"
             "      @k rewinds to dense step k, @r re-initialises)\n");
  std::map<std::string, int64_t> train_sizes;  // per data section: only the label file is read
  for (const auto& run : exp.runs) {
    fmt::print("{:4d}  {}  {}\n", run.index, run.hash(), run.summary());
    const auto data_key = prunelab::to_json(run.data);
    if (!train_sizes.count(data_key)) {
      try {
        train_sizes[data_key] = prunelab::train_split_size(run.data);
      } catch (const std::exception& e) {  // no data set here: the grid is still valid
        fmt::print("      plan: unavailable ({})\n", e.what());
        train_sizes[data_key] = -1;
      }
    }
    if (train_sizes[data_key] >= 0) {
      try {
        fmt::print("      plan: {}\n", prunelab::plan_text(prunelab::plan_run(run, registry, train_sizes[data_key]).steps));
      } catch (const std::exception& e) {
        throw std::runtime_error(fmt::format("run {} ({}): {}", run.index, run.summary(), e.what()));
      }
    }
    if (json) fmt::print("      {}\n", run.canonical_json());
  }
  return kOk;
}

int cmd_plugins(int argc, char** argv) {
  CLI::App app{"List every loaded plugin component with its parameters", "runner plugins"};
  PluginOptions plugins;
  add_plugin_options(app, plugins);
  CLI11_PARSE(app, argc, argv);
  prunelab::PluginRegistry registry;
  load_plugins(registry, plugins);
  for (const auto* c : registry.all()) {
    fmt::print("{} {} {}  ({})\n  {}\n", to_string(c->kind), c->info.name, c->info.version, c->file, c->info.summary);
    for (const auto& p : c->info.params)
      fmt::print("    {:<14} {:<16} default {:<12} {}\n", p.name, to_string(p.type),
                 prunelab::value_to_json(p.default_value), p.help);
  }
  return kOk;
}

/// The pivot options shared by `report` and `plot`.
void add_pivot_options(CLI::App& app, prunelab::PivotSpec& spec, std::string& rows) {
  rows = fmt::format("{}", fmt::join(spec.rows, ","));
  app.add_option("--rows", rows, "comma-separated row fields")->capture_default_str();
  app.add_option("--cols", spec.cols, "column field: target_sparsity | target_compression")->capture_default_str();
  app.add_option("--metric", spec.metric, fmt::format("{}", fmt::join(prunelab::pivot_metrics(), " | ")))
      ->capture_default_str();
  app.add_option("--where", spec.where, "SQL condition on the results view, e.g. \"schedule = 'iterative'\"");
}

std::vector<std::string> split_fields(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return out;
}

int cmd_report(int argc, char** argv) {
  CLI::App app{"Print a pivot table of a results database (rows = methods, columns = sparsity)", "runner report"};
  std::string db_path, format = "md", rows;
  prunelab::PivotSpec spec;
  app.add_option("db", db_path, "results database")->required()->check(CLI::ExistingFile);
  app.add_option("--format", format, "md | latex | csv | html")->capture_default_str();
  add_pivot_options(app, spec, rows);
  CLI11_PARSE(app, argc, argv);
  spec.rows = split_fields(rows);
  // Read-only: safe while a grid is still writing (WAL readers never block the writer).
  SQLite::Database db(db_path, SQLite::OPEN_READONLY, 10000);
  std::cout << prunelab::render(prunelab::make_pivot(db, spec), format);
  return kOk;
}

int cmd_plot(int argc, char** argv) {
  CLI::App app{"Draw a chart from a results database with gnuplot (PNG or SVG)", "runner plot"};
  std::string db_path, rows;
  prunelab::PlotSpec spec;
  app.add_option("db", db_path, "results database")->required()->check(CLI::ExistingFile);
  app.add_option("--kind", spec.kind, "accuracy | speedup | layers | sensitivity")->capture_default_str();
  app.add_option("--out", spec.out, "output file, .png or .svg")->required();
  app.add_option("--run", spec.run_id, "layers, sensitivity: run id (default: the latest finished run, the latest sensitivity run)");
  app.add_option("--x-metric", spec.x_metric, "speedup charts: the x axis (speedup, speedup_physical, measured_speedup, ...)")
      ->capture_default_str();
  app.add_option("--width", spec.width, "pixels")->capture_default_str();
  app.add_option("--height", spec.height, "pixels")->capture_default_str();
  app.add_option("--title", spec.title, "chart title");
  add_pivot_options(app, spec.pivot, rows);
  CLI11_PARSE(app, argc, argv);
  spec.pivot.rows = split_fields(rows);
  SQLite::Database db(db_path, SQLite::OPEN_READONLY, 10000);
  prunelab::make_plot(db, spec);
  fmt::print("wrote {}\n", spec.out);
  return kOk;
}

int cmd_eval(int argc, char** argv) {
  CLI::App app{"Evaluate a saved pruned model on its test split: accuracy, size, MACs, latency", "runner eval"};
  std::string file, device = "cpu";
  int threads = 0, latency_repeats = 20;
  int64_t batch = 128;
  app.add_option("model", file, "a -masked.pt or -pruned.pt file under results/models/")->required();
  app.add_option("--threads", threads, "LibTorch intra-op threads (default: LibTorch's)");
  app.add_option("--device", device, "cpu | cuda | auto");
  app.add_option("--batch", batch, "evaluation batch size");
  app.add_option("--latency-repeats", latency_repeats, "timed passes at batch 64 (x5 at batch 1); 0 = skip");
  CLI11_PARSE(app, argc, argv);
  const int in_force = prunelab::configure_threads(threads);
  const auto e = prunelab::evaluate_model_file(file, prunelab::resolve_device(device), batch, latency_repeats);
  const auto& s = e.stats;
  fmt::print("model        {} ({}, {}, run {})\n", e.info.model, e.info.kind, e.info.granularity, e.info.run_hash);
  fmt::print("test top-1   {:.2f}% on {} images (saved with {:.2f}%), loss {:.4f}\n", 100 * e.top1,
             e.test_samples, 100 * e.info.top1, e.loss);
  fmt::print("parameters   {} ({} nonzero, compression {:.2f}x)\n", s.params, s.params_nonzero,
             double(s.params) / double(std::max<int64_t>(1, s.params_nonzero)));
  fmt::print("MACs/sample  {} as stored, {} effective (zero weights free)\n", s.macs, s.macs_effective);
  if (latency_repeats > 0)
    fmt::print("latency      {:.3f} ms at batch 1, {:.3f} ms at batch 64 (median, {} threads)\n", e.latency_b1_ms,
               e.latency_b64_ms, in_force);
  return kOk;
}

int cmd_query(int argc, char** argv) {
  CLI::App app{"Run one read-only SQL statement against a results database", "runner query"};
  std::string db_path, sql;
  app.add_option("db", db_path, "results database")->required()->check(CLI::ExistingFile);
  app.add_option("sql", sql, "one SELECT (or read-only PRAGMA) statement")->required();
  CLI11_PARSE(app, argc, argv);
  std::cout << prunelab::format_aligned(prunelab::run_readonly_query(db_path, sql));
  return kOk;
}

void usage() {
  fmt::print(stderr,
             "usage: runner FILE.yaml [--db PATH] [--threads N] [--device D] [--plugin-dir DIR]...\n"
             "       runner validate FILE.yaml [--json]\n"
             "       runner plugins [--plugin-dir DIR]...\n"
             "       runner report DB [--format md|latex|csv|html] [--rows F,..] [--cols F] [--metric M] [--where SQL]\n"
             "       runner plot DB --kind accuracy|speedup|layers|sensitivity --out FILE.png|svg [...]\n"
             "       runner query DB \"SELECT ...\"\n"
             "       runner eval MODEL.pt [--threads N] [--latency-repeats N]\n"
             "       runner FILE.yaml --shard I/N | --jobs N [--requeue] [--require-dense]\n"
             "       runner slurm FILE.yaml [--tasks N] [--partition P] [--time T] [--cpus-per-task C] [--mem M] [--extra ARGS] [--dry-run]\n"
             "       runner status FILE.yaml | SHARD_DIR\n"
             "       runner merge OUT.db SHARD.db|SHARD_DIR...\n"
             "       runner dense FILE.yaml [--shard I/N] [--cache-dir DIR]\n"
             "exit codes: 0 all runs done, 1 some run failed, 2 usage or config error, 3 stopped by SIGTERM/SIGUSR1\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage();
    return kUsage;
  }
  const std::string first = argv[1];
  if (first == "-h" || first == "--help") {
    usage();
    return kOk;
  }
  try {
    if (first == "validate") return cmd_validate(argc - 1, argv + 1);
    if (first == "plugins") return cmd_plugins(argc - 1, argv + 1);
    if (first == "report") return cmd_report(argc - 1, argv + 1);
    if (first == "plot") return cmd_plot(argc - 1, argv + 1);
    if (first == "query") return cmd_query(argc - 1, argv + 1);
    if (first == "eval") return cmd_eval(argc - 1, argv + 1);
    if (first == "dense") return cmd_dense(argc - 1, argv + 1);
    if (first == "merge") return cmd_merge(argc - 1, argv + 1);
    if (first == "status") return cmd_status(argc - 1, argv + 1);
    if (first == "slurm") return cmd_slurm(argc - 1, argv + 1);
    return cmd_run(argc, argv);
  } catch (const prunelab::ConfigError& e) {
    fmt::print(stderr, "config error: {}\n", e.what());
    return kUsage;
  } catch (const prunelab::PluginLoadError& e) {
    fmt::print(stderr, "plugin error: {}\n", e.what());
    return kUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return kUsage;
  }
}
