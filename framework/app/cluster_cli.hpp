#pragma once
/// The runner's cluster commands (issue 17): `slurm`, `status`, `merge`, `dense`, and what a grid
/// run adds for clusters: --shard, --jobs, --requeue, --require-dense, exit code 3 when stopped.

#include "config/experiment.hpp"
#include "run/grid_runner.hpp"

#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace prunelab {
class PluginRegistry;
}

namespace prunelab::cli {

constexpr int kOk = 0, kRunsFailed = 1, kUsage = 2, kStopped = 3;

/// Loads the built-in plugins and these extra directories (the runner's own loader).
using PluginLoader = std::function<void(PluginRegistry&, const std::vector<std::string>& extra_dirs)>;

/// `runner slurm|status|merge|dense ...` (argv[0] is the command name); -1: not one of them.
int run_cluster_command(const std::string& name, int argc, char** argv, const PluginLoader& load_plugins);

/// The grid run's cluster options.
struct GridRunFlags {
  std::string shard, worker;
  int jobs = 1;
  bool requeue = false, require_dense = false;
};
void add_grid_run_options(CLI::App& app, GridRunFlags& flags);

/// Runs the grid of `exp` (its part, or a --jobs pool of workers); `argc`/`argv` are the
/// runner's own, for the workers. Installs the stop handlers. Returns the exit code.
int run_grid_command(Experiment& exp, const PluginRegistry& registry, GridOptions& grid, const GridRunFlags& flags,
                     int argc, char** argv);

}  // namespace prunelab::cli
