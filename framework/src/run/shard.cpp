#include "run/shard.hpp"

#include "core/json.hpp"
#include "run/grid_runner.hpp"
#include "run/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <set>
#include <stdexcept>

namespace prunelab {

ShardSpec ShardSpec::parse(const std::string& text) {
  const auto slash = text.find('/');
  auto number = [&](const std::string& s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 6)
      throw std::invalid_argument(fmt::format("--shard '{}': expected I/N with 0 <= I < N, e.g. 0/4", text));
    return std::stoi(s);
  };
  if (slash == std::string::npos)
    throw std::invalid_argument(fmt::format("--shard '{}': expected I/N with 0 <= I < N, e.g. 0/4", text));
  ShardSpec s{number(text.substr(0, slash)), number(text.substr(slash + 1))};
  if (s.count < 1 || s.index >= s.count)
    throw std::invalid_argument(fmt::format("--shard '{}': the index must be 0..{} (0-based, as Slurm's array indices)", text,
                                            std::max(0, s.count - 1)));
  return s;
}

std::string ShardSpec::text() const { return fmt::format("{}/{}", index, count); }

namespace {
// Searches and data-driven scores, in epochs of training per pruning step (README: on ResNet-20
// a sensitivity scan took 0.6 of a fine-tuning epoch, AMC 0.25, NetAdapt 0.4).
double search_epochs(const std::string& policy) {
  if (policy == "sensitivity") return 0.6;
  if (policy == "netadapt") return 0.5;
  if (policy == "amc") return 0.3;
  return 0.0;
}
double criterion_epochs(const std::string& criterion) {
  if (criterion == "taylor" || criterion == "obd" || criterion == "obs" || criterion == "reconstruction") return 0.05;
  return 0.0;
}
int64_t test_size(const DataSpec& d) {
  if (d.test_limit > 0) return d.test_limit;
  return d.dataset == "synthetic" ? d.synthetic_test : 10000;
}
}  // namespace

std::vector<RunWork> estimate_work(const Experiment& exp, const PluginRegistry& registry) {
  std::map<std::string, int64_t> train_sizes;
  std::vector<RunWork> out;
  out.reserve(exp.runs.size());
  for (const auto& run : exp.runs) {
    const std::string data_key = to_json(run.data);
    if (!train_sizes.count(data_key)) train_sizes[data_key] = train_split_size(run.data);
    const int64_t train_size = train_sizes[data_key];
    RunWork w;
    w.dense = run.dense_hash();
    const double per_step_search = (search_epochs(run.ratio_policy.type) + criterion_epochs(run.criterion.type)) * double(train_size);
    const double eval = double(run.data.val_size + test_size(run.data)) / 3.0;  // forward only
    double first_target = run.sparsity;
    try {
      const RunPlan plan = plan_run(run, registry, train_size);
      if (!plan.steps.empty()) first_target = plan.steps.front().target_sparsity;
      const double steps = double(std::max<size_t>(1, plan.steps.size()));
      w.cost = double(plan.total_finetune_steps() * run.finetune.optim.batch_size) + steps * (eval + per_step_search) +
               steps * double(run.finetune.recalibrate_bn * run.finetune.optim.batch_size) / 3.0;
      w.shared_cost = per_step_search;
    } catch (const std::exception&) {
      w.cost = eval;  // an unusable plan fails at once when the run starts
    }
    // What FirstStepCache keys on, less the code fingerprints (the same for every run here).
    w.group = stable_hash(fmt::format("{}|{}|{}|{}|{}|{:.17g}|{}", w.dense, run.criterion.to_json(), to_json(run.granularity),
                                      to_json(run.finetune.optim), run.ratio_policy.to_json(), first_target,
                                      run.eval.batch_size));
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<std::vector<size_t>> balance_shards(const std::vector<RunWork>& work, int count) {
  if (count < 1) throw std::invalid_argument("balance_shards: count must be at least 1");
  struct Group {
    std::vector<size_t> runs;
    double cost = 0;
  };
  // Groups in order of their first run.
  std::vector<Group> groups;
  std::map<std::string, size_t> group_of;
  for (size_t i = 0; i < work.size(); ++i) {
    auto [it, fresh] = group_of.emplace(work[i].group, groups.size());
    if (fresh) groups.push_back({{}, work[i].shared_cost});
    auto& g = groups[it->second];
    g.runs.push_back(i);
    g.cost += work[i].cost - work[i].shared_cost;
  }
  double total = 0;
  for (const auto& g : groups) total += g.cost;
  const double fair = total / count;
  // A group larger than a fair share is cut in grid order; each piece pays the first step again.
  std::vector<Group> pieces;
  for (auto& g : groups) {
    if (g.cost <= fair || g.runs.size() == 1) {
      pieces.push_back(std::move(g));
      continue;
    }
    // k pieces of about equal cost, each at most about a fair share.
    const double shared = work[g.runs.front()].shared_cost;
    const int k = static_cast<int>(std::min<size_t>(g.runs.size(), static_cast<size_t>(std::ceil(g.cost / fair - 1e-9))));
    const double per_piece = (g.cost - shared) / k;
    Group piece{{}, shared};
    double done = 0;
    int closed = 0;
    for (size_t r : g.runs) {
      const double add = work[r].cost - work[r].shared_cost;
      // Close the piece when this run would take it further past its share than leaving it out.
      if (!piece.runs.empty() && closed + 1 < k && done + add / 2 > per_piece * (closed + 1)) {
        pieces.push_back(std::move(piece));
        piece = {{}, shared};
        ++closed;
      }
      piece.runs.push_back(r);
      piece.cost += add;
      done += add;
    }
    pieces.push_back(std::move(piece));
  }
  std::vector<size_t> order(pieces.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (pieces[a].cost != pieces[b].cost) return pieces[a].cost > pieces[b].cost;
    return pieces[a].runs.front() < pieces[b].runs.front();
  });
  std::vector<std::vector<size_t>> parts(count);
  std::vector<double> load(count, 0.0);
  std::vector<std::set<std::string>> dense_in(count);
  const double slack = 0.05 * fair;
  for (size_t p : order) {
    const auto& piece = pieces[p];
    const std::string& dense = work[piece.runs.front()].dense;
    const double least = *std::min_element(load.begin(), load.end());
    int best = -1;
    for (int s = 0; s < count; ++s) {  // a part with the dense model, if one is nearly least loaded
      if (load[s] <= least + slack && dense_in[s].count(dense) && (best < 0 || load[s] < load[best])) best = s;
    }
    if (best < 0) best = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    parts[best].insert(parts[best].end(), piece.runs.begin(), piece.runs.end());
    load[best] += piece.cost;
    dense_in[best].insert(dense);
  }
  for (auto& part : parts) std::sort(part.begin(), part.end());
  return parts;
}

std::vector<std::vector<size_t>> plan_shards(const Experiment& exp, const PluginRegistry& registry, int count) {
  return balance_shards(estimate_work(exp, registry), count);
}

std::vector<size_t> worker_order(const std::vector<std::vector<size_t>>& parts, int worker) {
  std::vector<size_t> out;
  const int n = static_cast<int>(parts.size());
  for (int k = 0; k < n; ++k) {
    const auto& part = parts[(worker + k) % n];
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

std::string grid_hash(const Experiment& exp) {
  std::string text = exp.name;
  for (const auto& run : exp.runs) text += "|" + run.hash();
  return stable_hash(text);
}

std::map<std::string, std::string> grid_meta(const Experiment& exp) {
  return {{"experiment", exp.name}, {"grid_hash", grid_hash(exp)}, {"grid_runs", std::to_string(exp.runs.size())}};
}

std::string shard_dir(const std::string& db_path) {
  std::filesystem::path p(db_path);
  return (p.parent_path() / (p.stem().string() + ".shards")).string();
}

std::string shard_db_path(const std::string& db_path, const ShardSpec& shard) {
  return (std::filesystem::path(shard_dir(db_path)) / fmt::format("{}.db", shard.index)).string();
}

void keep_runs(Experiment& exp, const std::vector<size_t>& indices) {
  std::vector<RunSpec> kept;
  kept.reserve(indices.size());
  for (size_t i : indices) kept.push_back(exp.runs.at(i));
  exp.runs = std::move(kept);
}

void select_grid_part(Experiment& exp, const PluginRegistry& registry, GridOptions& grid, const std::string& shard,
                      const std::string& worker) {
  grid.meta = grid_meta(exp);
  if (!shard.empty()) {
    const ShardSpec spec = ShardSpec::parse(shard);
    const std::string db = grid.db_path.empty() ? fmt::format("results/{}.db", exp.name) : grid.db_path;
    const auto dir = std::filesystem::path(db).parent_path();
    // Shared by all shards: next to the merged database, not inside the shard directory.
    if (grid.cache_dir.empty()) grid.cache_dir = (dir / "cache").string();
    if (grid.models_dir.empty()) grid.models_dir = (dir / "models").string();
    grid.db_path = shard_db_path(db, spec);
    grid.wal = false;
    const auto parts = plan_shards(exp, registry, spec.count);
    grid.meta["shard"] = spec.text();
    grid.meta["shard_runs"] = std::to_string(parts[spec.index].size());
    keep_runs(exp, parts[spec.index]);
  }
  if (!worker.empty()) {
    const ShardSpec spec = ShardSpec::parse(worker);
    keep_runs(exp, worker_order(plan_shards(exp, registry, spec.count), spec.index));
  }
}

}  // namespace prunelab
