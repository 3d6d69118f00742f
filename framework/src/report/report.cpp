#include "report/report.hpp"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

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

PivotTable top1_pivot(SQLite::Database& db, const std::string& experiment) {
  PivotTable t;
  t.row_fields = {"model", "granularity", "criterion", "ratio_policy", "schedule"};
  SQLite::Statement q(db, R"(
      SELECT r.model, r.granularity, r.criterion, r.ratio_policy, r.schedule, r.target_sparsity, s.top1
      FROM runs r JOIN steps s ON s.run_id = r.id
      WHERE r.status = 'done' AND (? = '' OR r.experiment = ?)
        AND s.step = (SELECT MAX(step) FROM steps s2 WHERE s2.run_id = r.id)
      ORDER BY r.grid_index)");
  q.bind(1, experiment);
  q.bind(2, experiment);
  std::map<std::vector<std::string>, std::map<double, std::vector<double>>> values;
  std::set<double> columns;
  while (q.executeStep()) {
    std::vector<std::string> key;
    for (int i = 0; i < 5; ++i) key.push_back(q.getColumn(i).getString());
    if (std::find(t.row_keys.begin(), t.row_keys.end(), key) == t.row_keys.end()) t.row_keys.push_back(key);
    const double s = q.getColumn(5).getDouble();
    columns.insert(s);
    values[key][s].push_back(100.0 * q.getColumn(6).getDouble());
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
  return t;
}

namespace {
std::string fmt_cell(const CellStats& c) {
  if (c.n == 0) return "–";
  if (c.n == 1) return fmt::format("{:.2f} (1)", c.mean);
  return fmt::format("{:.2f} ± {:.2f} ({})", c.mean, c.std, c.n);
}
}  // namespace

std::string markdown_report(SQLite::Database& db) {
  std::string out;
  SQLite::Statement exps(db, "SELECT DISTINCT experiment FROM runs ORDER BY experiment");
  std::vector<std::string> experiments;
  while (exps.executeStep()) experiments.push_back(exps.getColumn(0).getString());
  if (experiments.empty()) return "No runs in this database.\n";
  for (const auto& exp : experiments) {
    out += fmt::format("## {}: test top-1 (%) after pruning\n\n", exp);
    // Dense accuracy: one value per distinct dense model (model x seed).
    SQLite::Statement dense(db, R"(SELECT model, dense_top1 FROM runs WHERE experiment = ? AND dense_top1 IS NOT NULL
                                   GROUP BY dense_hash ORDER BY model)");
    dense.bind(1, exp);
    std::map<std::string, std::vector<double>> dense_by_model;
    while (dense.executeStep()) dense_by_model[dense.getColumn(0).getString()].push_back(100 * dense.getColumn(1).getDouble());
    for (const auto& [model, v] : dense_by_model) {
      auto c = cell_stats(v);
      out += fmt::format("Dense {}: {:.2f} ± {:.2f} % test top-1 ({} seed{}). ", model, c.mean, c.std, c.n, c.n == 1 ? "" : "s");
    }
    out += "Cells: mean ± std over seeds (number of seeds), final pruning step, columns = target sparsity.\n\n";
    auto t = top1_pivot(db, exp);
    out += "| model | granularity | criterion | ratio policy | schedule |";
    for (double c : t.columns) out += fmt::format(" {:g} |", c);
    out += "\n|---|---|---|---|---|";
    for (size_t i = 0; i < t.columns.size(); ++i) out += "---:|";
    out += "\n";
    for (size_t r = 0; r < t.row_keys.size(); ++r) {
      out += "|";
      for (const auto& k : t.row_keys[r]) out += " " + k + " |";
      for (const auto& c : t.cells[r]) out += " " + fmt_cell(c) + " |";
      out += "\n";
    }
    SQLite::Statement counts(db, "SELECT status, COUNT(*), SUM(wall_s) FROM runs WHERE experiment = ? GROUP BY status ORDER BY status");
    counts.bind(1, exp);
    std::vector<std::string> parts;
    double wall = 0;
    while (counts.executeStep()) {
      parts.push_back(fmt::format("{} {}", counts.getColumn(1).getInt(), counts.getColumn(0).getString()));
      wall += counts.getColumn(2).isNull() ? 0.0 : counts.getColumn(2).getDouble();
    }
    out += fmt::format("\nRuns: {}; summed run wall time {:.1f} min.\n\n", fmt::join(parts, ", "), wall / 60.0);
  }
  return out;
}

}  // namespace prunelab
