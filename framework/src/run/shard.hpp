#pragma once
/// Splitting a grid into N deterministic parts for N processes or Slurm array tasks: balanced by
/// an estimate of each run's cost, with runs that share a first pruning step (and, where it
/// costs no balance, a dense model) kept in one part.

#include "config/experiment.hpp"

#include <map>
#include <string>
#include <vector>

namespace prunelab {

class PluginRegistry;
struct GridOptions;

/// `--shard I/N`: part I (0-based, as Slurm's array indices) of N.
struct ShardSpec {
  int index = 0, count = 1;
  /// Throws std::invalid_argument with a message for anything but "I/N", 0 <= I < N.
  static ShardSpec parse(const std::string& text);
  std::string text() const;
};

/// What the balancer knows of one run.
struct RunWork {
  double cost = 1.0;         // estimated, in training-sample equivalents
  double shared_cost = 0.0;  // the part of `cost` its first pruning step takes (paid once per group)
  std::string group;         // runs with the same first pruning step
  std::string dense;         // runs with the same dense model
};

/// Every run's work: fine-tuning samples from its plan, evaluations, a share of an epoch per
/// searching policy or data-driven criterion step. Runs of one model are compared fairly; a
/// grid mixing models is balanced as if a sample cost the same in each.
std::vector<RunWork> estimate_work(const Experiment& exp, const PluginRegistry& registry);

/// The runs (indices into `work`, ascending) of each of `count` parts. Deterministic. A group
/// stays whole unless it alone exceeds a part's fair share (then it is cut in grid order and
/// each piece computes the first step again); groups are placed largest first on the least
/// loaded part, preferring, within 5 % of the fair share, a part that already has their dense
/// model.
std::vector<std::vector<size_t>> balance_shards(const std::vector<RunWork>& work, int count);

/// balance_shards(estimate_work(exp)).
std::vector<std::vector<size_t>> plan_shards(const Experiment& exp, const PluginRegistry& registry, int count);

/// The order in which worker `worker` of a --jobs pool takes runs: its own part first, then the
/// other parts' runs (starting with the next part), so workers start on different dense models
/// and the claim in the database settles who does what.
std::vector<size_t> worker_order(const std::vector<std::vector<size_t>>& parts, int worker);

/// Hash of the whole grid (the experiment name and every run's hash, in order): shards of one
/// experiment definition share it, whatever their count.
std::string grid_hash(const Experiment& exp);
/// What `meta` records about the grid a database belongs to (see store_ops.hpp).
std::map<std::string, std::string> grid_meta(const Experiment& exp);

/// results/<name>.db -> results/<name>.shards (the directory of the shard databases).
std::string shard_dir(const std::string& db_path);
std::string shard_db_path(const std::string& db_path, const ShardSpec& shard);

/// Keeps only the runs at `indices`, in that order.
void keep_runs(Experiment& exp, const std::vector<size_t>& indices);

/// Before run_grid: records the whole grid's identity in `grid.meta`, then for `shard` (empty:
/// none) keeps its runs and points the grid at <db>.shards/I.db (rollback journal) with the
/// cache and models next to <db>; for `worker` (a --jobs worker's "I/N") puts its part first.
void select_grid_part(Experiment& exp, const PluginRegistry& registry, GridOptions& grid, const std::string& shard,
                      const std::string& worker);

}  // namespace prunelab
