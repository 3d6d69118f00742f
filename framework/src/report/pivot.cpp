#include "report/pivot.hpp"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

namespace prunelab {

CellStats cell_stats(const std::vector<double>& v) {
  CellStats c;
  c.n = static_cast<int>(v.size());
  if (v.empty()) return c;
  for (double x : v) c.mean += x;
  c.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - c.mean) * (x - c.mean);
    c.std = std::sqrt(ss / double(v.size() - 1));
  }
  return c;
}

const std::vector<std::string>& pivot_row_fields() {
  static const std::vector<std::string> f = {"experiment", "model", "dataset", "granularity",
                                             "criterion", "ratio_policy", "schedule"};
  return f;
}
const std::vector<std::string>& pivot_col_fields() {
  static const std::vector<std::string> f = {"target_sparsity", "target_compression"};
  return f;
}
const std::vector<std::string>& pivot_metrics() {
  static const std::vector<std::string> m = {"top1",           "top5",       "drop",            "compression",     "speedup",
                                             "speedup_physical", "measured_speedup", "measured_speedup_b1",
                                             "latency",        "weight_sparsity"};
  return m;
}

namespace {
void require_choice(const std::string& what, const std::string& value, const std::vector<std::string>& valid) {
  if (std::find(valid.begin(), valid.end(), value) == valid.end())
    throw std::invalid_argument(fmt::format("unknown {} '{}' (valid: {})", what, value, fmt::join(valid, ", ")));
}

// SQL for the metric over the results view, and its label.
std::pair<std::string, std::string> metric_sql(const std::string& metric) {
  if (metric == "top1") return {"100.0 * top1", "test top-1 (%)"};
  if (metric == "top5") return {"100.0 * top5", "test top-5 (%)"};
  if (metric == "drop") return {"100.0 * (dense_top1 - top1)", "top-1 drop vs dense (points)"};
  if (metric == "compression") return {"compression", "compression (params / nonzero params)"};
  if (metric == "speedup") return {"speedup", "theoretical speed-up (MACs / effective MACs)"};
  if (metric == "speedup_physical")
    return {"speedup_physical", "MACs speed-up of the physically pruned model (dense MACs / its MACs)"};
  if (metric == "measured_speedup")
    return {"measured_speedup_b64", "measured speed-up at batch 64 (dense latency / physically pruned latency)"};
  if (metric == "measured_speedup_b1")
    return {"measured_speedup_b1", "measured speed-up at batch 1 (dense latency / physically pruned latency)"};
  if (metric == "latency") return {"latency_b64_ms", "latency of the physically pruned model at batch 64 (ms, median)"};
  if (metric == "weight_sparsity") return {"100.0 * weight_sparsity", "weight sparsity (% of prunable weights zero)"};
  throw std::invalid_argument("unknown metric " + metric);
}
}  // namespace

PivotTable make_pivot(SQLite::Database& db, const PivotSpec& spec) {
  if (spec.rows.empty()) throw std::invalid_argument("at least one row field is needed");
  for (const auto& r : spec.rows) require_choice("row field", r, pivot_row_fields());
  require_choice("column field", spec.cols, pivot_col_fields());
  require_choice("metric", spec.metric, pivot_metrics());
  PivotTable t;
  t.spec = spec;
  std::string metric_expr;
  std::tie(metric_expr, t.metric_label) = metric_sql(spec.metric);
  t.column_label = spec.cols == "target_sparsity" ? "target sparsity" : "target compression";
  const std::string where = spec.where.empty() ? "1" : "(" + spec.where + ")";

  SQLite::Statement q(db, fmt::format("SELECT {}, run_target_sparsity, {} FROM results WHERE is_final AND {} "
                                      "ORDER BY run_id",
                                      fmt::join(spec.rows, ", "), metric_expr, where));
  const int nrow = static_cast<int>(spec.rows.size());
  std::map<std::vector<std::string>, std::map<double, std::vector<double>>> values;
  std::set<double> columns;
  while (q.executeStep()) {
    std::vector<std::string> key;
    for (int i = 0; i < nrow; ++i) key.push_back(q.getColumn(i).getString());
    if (std::find(t.row_keys.begin(), t.row_keys.end(), key) == t.row_keys.end()) t.row_keys.push_back(key);
    double c = q.getColumn(nrow).getDouble();
    if (spec.cols == "target_compression") c = 1.0 / (1.0 - c);
    columns.insert(c);
    if (!q.getColumn(nrow + 1).isNull()) values[key][c].push_back(q.getColumn(nrow + 1).getDouble());
  }
  t.columns.assign(columns.begin(), columns.end());
  for (const auto& key : t.row_keys) {
    std::vector<CellStats> row;
    for (double c : t.columns) {
      auto it = values[key].find(c);
      row.push_back(it == values[key].end() ? CellStats{} : cell_stats(it->second));
    }
    t.cells.push_back(row);
  }

  // Dense accuracy: one value per distinct dense model among the selected runs.
  // (Dense top-5 for a top-5 table; runs from before schema 6 have none and are left out.)
  t.dense_metric = spec.metric == "top5" ? "top-5" : "top-1";
  SQLite::Statement d(db, fmt::format("SELECT model, dataset, {} FROM results WHERE is_final AND {} "
                                      "GROUP BY dense_hash ORDER BY model, dataset",
                                      spec.metric == "top5" ? "dense_top5" : "dense_top1", where));
  std::map<std::pair<std::string, std::string>, std::vector<double>> dense;
  while (d.executeStep())
    if (!d.getColumn(2).isNull())
      dense[{d.getColumn(0).getString(), d.getColumn(1).getString()}].push_back(100.0 * d.getColumn(2).getDouble());
  for (const auto& [k, v] : dense) t.dense.push_back({k.first, k.second, cell_stats(v)});

  SQLite::Statement s(db, "SELECT status, COUNT(*) FROM runs GROUP BY status");
  while (s.executeStep()) {
    const std::string st = s.getColumn(0).getString();
    const int n = s.getColumn(1).getInt();
    if (st == "done") t.runs_done = n;
    else if (st == "failed") t.runs_failed = n;
    else t.runs_running = n;
  }
  SQLite::Statement e(db, "SELECT DISTINCT experiment FROM runs ORDER BY experiment");
  while (e.executeStep()) t.experiments.push_back(e.getColumn(0).getString());
  return t;
}

std::string column_header(const PivotTable& t, size_t i) {
  if (t.spec.cols == "target_compression") return fmt::format("{:.3g}x", t.columns[i]);
  return fmt::format("{:g}", t.columns[i]);
}

std::string caption(const PivotTable& t) {
  std::vector<std::string> dense;
  for (const auto& d : t.dense)
    dense.push_back(fmt::format("{} on {}: {:.2f} ± {:.2f} % ({} seed{})", d.model, d.dataset, d.top1.mean,
                                d.top1.std, d.top1.n, d.top1.n == 1 ? "" : "s"));
  std::string runs = fmt::format("{} runs done", t.runs_done);
  if (t.runs_failed) runs += fmt::format(", {} failed", t.runs_failed);
  if (t.runs_running) runs += fmt::format(", {} running or interrupted", t.runs_running);
  return fmt::format("{} after the final pruning step, by {}; mean ± std over seeds (n). Dense test {}: {}. "
                     "Experiment{} {}; {}.",
                     t.metric_label, t.column_label, t.dense_metric,
                     dense.empty() ? "none" : fmt::format("{}", fmt::join(dense, "; ")),
                     t.experiments.size() == 1 ? "" : "s", fmt::join(t.experiments, ", "), runs);
}

}  // namespace prunelab
