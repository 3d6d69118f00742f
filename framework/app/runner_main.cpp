/// `runner`: run an experiment grid, validate a config, list plugins, report a database.

#include "cluster_cli.hpp"
#include "config/config_loader.hpp"
#include "config/data_checks.hpp"
#include "plugin/registry.hpp"
#include "report/pivot.hpp"
#include "report/plot.hpp"
#include "report/query.hpp"
#include "report/render.hpp"
#include "run/grid_runner.hpp"
#include "run/model_eval.hpp"
#include "run/plan.hpp"
#include "run/threads.hpp"
#include "models/model_spec.hpp"
#include "store/result_store.hpp"
#include "store/schema_guard.hpp"
#include "core/errors.hpp"
#include "util/errors.hpp"

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <SQLiteCpp/Database.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

namespace {

constexpr int kOk = 0, kRunsFailed = 1, kUsage = 2;
constexpr int kMaxThreads = 1024;

// CLI11_PARSE, with every refused command line (a bad option value, --threads -1) exiting 2.
#define PARSE_ARGS(app, argc, argv)                          \
  do {                                                       \
    try {                                                    \
      (app).parse((argc), (argv));                           \
    } catch (const CLI::ParseError& e) {                     \
      const int code = (app).exit(e);                        \
      return code == 0 ? kOk : kUsage;                       \
    }                                                        \
  } while (false)

/// A note on stderr when a database read by report/plot/query was written by a newer prunelab.
void note_newer_schema(const std::string& db_path) {
  const auto note = prunelab::newer_schema_note(db_path, prunelab::ResultStore::schema_version());
  if (!note.empty()) fmt::print(stderr, "{}\n", note);
}

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

int cmd_run(int argc, char** argv) {
  CLI::App app{"Run an experiment grid (resumes: finished runs are skipped)", "runner"};
  std::string file;
  prunelab::GridOptions grid;
  PluginOptions plugins;
  app.add_option("config", file, "experiment YAML file")->required();
  app.add_option("--db", grid.db_path, "results database (default results/<name>.db)");
  app.add_option("--cache-dir", grid.cache_dir, "dense checkpoint cache (default <db dir>/cache)");
  app.add_option("--models-dir", grid.models_dir, "saved pruned models (default <db dir>/models)");
  app.add_option("--threads", grid.threads, "LibTorch intra-op threads (default: the config's)")
      ->check(CLI::Range(0, kMaxThreads));
  app.add_option("--device", grid.device, "cpu | cuda | auto (default: the config's)");
  app.add_flag("--quiet", grid.quiet, "no progress output");
  bool recompute_first_steps = false;
  app.add_flag("--no-shared-steps", recompute_first_steps,
               "every run computes its own first pruning step (default: runs that share it load it from the cache)");
  prunelab::cli::GridRunFlags cluster;
  prunelab::cli::add_grid_run_options(app, cluster);
  add_plugin_options(app, plugins);
  PARSE_ARGS(app, argc, argv);
  grid.share_first_steps = !recompute_first_steps;
  prunelab::PluginRegistry registry;
  load_plugins(registry, plugins);
  auto exp = prunelab::load_experiment(file, registry);
  for (const auto& note : prunelab::check_against_data(exp)) fmt::print(stderr, "note: {}\n", note);
  return prunelab::cli::run_grid_command(exp, registry, grid, cluster, argc, argv);
}

/// Each distinct model's conv and linear layers: what the runs can prune, with shapes and MACs.
void print_models(const prunelab::Experiment& exp) {
  std::set<std::string> seen;
  for (const auto& run : exp.runs) {
    if (!seen.insert(run.model.to_json() + run.model.label()).second) continue;
    const auto shape = prunelab::nominal_shape(run.data);
    auto model = prunelab::make_model(run.model, shape);
    model->probe(prunelab::to_model_layout(at::zeros({1, shape.channels, shape.height, shape.width})));
    fmt::print("model '{}' ({}{}): {} conv/linear layers, {} channel groups, input {}\n", run.model.label(),
               run.model.type, run.model.type == "torchscript" ? ", " + run.model.path : "", model->layers().size(),
               model->channel_groups().size(), shape.str());
    for (const auto& l : model->layers())
      fmt::print("      {:<32} {:<6} [{}]{}  {} MACs{}\n", l.name, l.kind == prunelab::LayerKind::Conv2d ? "conv" : "linear",
                 fmt::join(l.weight.sizes(), ", "), l.bn.defined() ? " +bn" : "", l.weight.numel() * l.macs_per_weight,
                 l.prunable ? "" : "  (kept dense)");
    for (const auto& g : model->channel_groups()) {
      std::vector<std::string> producers, consumers;
      for (size_t p : g.producers) producers.push_back(model->layers()[p].name);
      for (const auto& c : g.consumers)
        consumers.push_back(model->layers()[c.layer].name + (c.in_offset || c.length >= 0 ? fmt::format("@{}", c.in_offset) : ""));
      fmt::print("      group {:<26} {:>4} channels{}: {} -> {}\n", g.name, g.channels, g.residual ? " (residual)" : "",
                 fmt::join(producers, " "), fmt::join(consumers, " "));
    }
    for (const auto& why : model->channel_refusals()) fmt::print("      not channel-prunable: {}\n", why);
  }
}

int cmd_validate(int argc, char** argv) {
  CLI::App app{"Parse and check an experiment file and print its expanded grid; runs nothing", "runner validate"};
  std::string file;
  bool json = false;
  PluginOptions plugins;
  app.add_option("config", file, "experiment YAML file")->required();
  app.add_flag("--json", json, "print each run's canonical config");
  add_plugin_options(app, plugins);
  PARSE_ARGS(app, argc, argv);
  prunelab::PluginRegistry registry;
  load_plugins(registry, plugins);
  auto exp = prunelab::load_experiment(file, registry);
  const auto data_notes = prunelab::check_against_data(exp);
  fmt::print("{}: experiment '{}', {} runs\n", file, exp.name, exp.runs.size());
  for (const auto& note : data_notes) fmt::print("note: {}\n", note);
  print_models(exp);
  fmt::print("plan: target sparsity/fine-tuning steps per pruning step (+ continues the training session,\n"
             "      @k rewinds to dense step k, @r re-initialises)\n");
  std::map<std::string, int64_t> train_sizes;  // per data section: only the label file is read
  for (const auto& run : exp.runs) {
    fmt::print("{:4d}  {}  {}\n", run.index, run.hash(), run.summary());
    const auto data_key = prunelab::to_json(run.data);
    if (!train_sizes.count(data_key)) {
      try {
        train_sizes[data_key] = prunelab::train_split_size(run.data);
        if (prunelab::fingerprinted_dataset(run.data.dataset)) {
          const auto probe = prunelab::probe_data(run.data);  // memoised: the loader just read the files
          fmt::print("      data: {} under '{}': {} training images ({} for validation), {} test, fingerprint {}\n",
                     run.data.dataset, run.data.root, probe.train, run.data.val_size, probe.test, probe.fingerprint);
        }
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
  PARSE_ARGS(app, argc, argv);
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
  PARSE_ARGS(app, argc, argv);
  spec.rows = split_fields(rows);
  // Read-only: safe while a grid is still writing (WAL readers never block the writer).
  note_newer_schema(db_path);
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
  PARSE_ARGS(app, argc, argv);
  spec.pivot.rows = split_fields(rows);
  note_newer_schema(db_path);
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
  app.add_option("--threads", threads, "LibTorch intra-op threads (default: LibTorch's)")->check(CLI::Range(0, kMaxThreads));
  app.add_option("--device", device, "cpu | cuda | auto");
  app.add_option("--batch", batch, "evaluation batch size");
  app.add_option("--latency-repeats", latency_repeats, "timed passes at batch 64 (x5 at batch 1); 0 = skip");
  PARSE_ARGS(app, argc, argv);
  const int in_force = prunelab::configure_threads(threads);
  const auto e = prunelab::evaluate_model_file(file, prunelab::resolve_device(device), batch, latency_repeats);
  const auto& s = e.stats;
  fmt::print("model        {} ({}, {}, run {})\n", e.info.model, e.info.kind, e.info.granularity, e.info.run_hash);
  fmt::print("test top-1   {:.2f}% on {} images (saved with {:.2f}%), loss {:.4f}\n", 100 * e.top1,
             e.test_samples, 100 * e.info.top1, e.loss);
  fmt::print("test top-5   {:.2f}%\n", 100 * e.top5);
  fmt::print("parameters   {} ({} nonzero, compression {:.2f}x)\n", s.params, s.params_nonzero,
             double(s.params) / double(std::max<int64_t>(1, s.params_nonzero)));
  fmt::print("MACs/sample  {} as stored, {} effective (zero weights free)\n", s.macs, s.macs_effective);
  if (latency_repeats > 0) {
    fmt::print("latency      {:.3f} ms at batch 1, {:.3f} ms at batch 64 (median, {} threads)\n", e.latency_b1_ms,
               e.latency_b64_ms, in_force);
    fmt::print("kernels      sparse in {}/{} layers at batch 1, {}/{} at batch 64 (the rest dense: measured faster)\n",
               e.sparse_layers_b1, e.layers, e.sparse_layers_b64, e.layers);
    fmt::print("dense only   {:.3f} ms at batch 1, {:.3f} ms at batch 64 ({:.2f}x and {:.2f}x from sparse kernels)\n",
               e.dense_kernels_b1_ms, e.dense_kernels_b64_ms, e.dense_kernels_b1_ms / e.latency_b1_ms,
               e.dense_kernels_b64_ms / e.latency_b64_ms);
  }
  return kOk;
}

int cmd_query(int argc, char** argv) {
  CLI::App app{"Run one read-only SQL statement against a results database", "runner query"};
  std::string db_path, sql;
  app.add_option("db", db_path, "results database")->required()->check(CLI::ExistingFile);
  app.add_option("sql", sql, "one SELECT (or read-only PRAGMA) statement")->required();
  PARSE_ARGS(app, argc, argv);
  note_newer_schema(db_path);
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
             "every command: --debug-log FILE (or $PRUNELAB_DEBUG_LOG) appends full error texts, LibTorch's stack\n"
             "       traces included, to FILE; errors printed and stored are one line\n"
             "exit codes: 0 all runs done, 1 some run failed, 2 usage or config error, 3 stopped by SIGTERM/SIGUSR1\n");
}

/// Takes `--debug-log FILE` / `--debug-log=FILE` out of the arguments, for every command.
std::vector<char*> take_debug_log_option(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    std::string path;
    if (a == "--debug-log" && i + 1 < argc) {
      path = argv[++i];
    } else if (a.rfind("--debug-log=", 0) == 0) {
      path = a.substr(12);
    }
    if (!path.empty()) {
      prunelab::set_debug_log(path);
      setenv("PRUNELAB_DEBUG_LOG", path.c_str(), 1);  // --jobs workers log there too
    } else {
      args.push_back(argv[i]);
    }
  }
  args.push_back(nullptr);
  return args;
}

/// One line on stderr; the full text (a LibTorch stack trace) into the debug log.
int report_error(const char* what, const std::exception& e) {
  prunelab::debug_log(fmt::format("runner: {}", what), e);
  fmt::print(stderr, "{}: {}\n", what, prunelab::one_line(e));
  return kUsage;
}

}  // namespace

int main(int argc_in, char** argv_in) {
  auto arg_storage = take_debug_log_option(argc_in, argv_in);
  int argc = static_cast<int>(arg_storage.size()) - 1;
  char** argv = arg_storage.data();
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
    auto loader = [](prunelab::PluginRegistry& r, const std::vector<std::string>& dirs) { load_plugins(r, {dirs}); };
    if (const int code = prunelab::cli::run_cluster_command(first, argc - 1, argv + 1, loader); code >= 0) return code;
    return cmd_run(argc, argv);
  } catch (const prunelab::ConfigError& e) {
    return report_error("config error", e);
  } catch (const prunelab::PluginLoadError& e) {
    return report_error("plugin error", e);
  } catch (const std::exception& e) {
    return report_error("error", e);
  }
}
