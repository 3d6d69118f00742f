#pragma once
/// Paper-style pivots of the `results` view: methods as rows, sparsity as columns,
/// mean ± std over seeds in the cells.

#include <SQLiteCpp/Database.h>

#include <string>
#include <vector>

namespace prunelab {

/// Mean, sample standard deviation and count of one cell.
struct CellStats {
  double mean = 0, std = 0;
  int n = 0;
};
CellStats cell_stats(const std::vector<double>& values);

struct PivotSpec {
  /// Row fields: any of experiment, model, dataset, granularity, criterion, ratio_policy, schedule.
  std::vector<std::string> rows = {"model", "granularity", "criterion", "ratio_policy", "schedule"};
  std::string cols = "target_sparsity";  // or target_compression = 1 / (1 - target sparsity)
  std::string metric = "top1";  // one of pivot_metrics(): top1, drop, compression, speedup, ...
  std::string where;                     // extra SQL condition on the results view
};

/// Valid choices, for help texts and error messages.
const std::vector<std::string>& pivot_row_fields();
const std::vector<std::string>& pivot_col_fields();
const std::vector<std::string>& pivot_metrics();

struct DenseSummary {
  std::string model, dataset;
  CellStats top1;  // percent, over distinct dense models (seeds); top-5 in a top-5 table
};

struct PivotTable {
  PivotSpec spec;
  std::string metric_label;    // e.g. "test top-1 (%)"
  std::string column_label;    // e.g. "target sparsity"
  std::vector<double> columns;
  std::vector<std::vector<std::string>> row_keys;  // per row, values of spec.rows
  std::vector<std::vector<CellStats>> cells;       // [row][column]; n = 0 where no run
  std::vector<DenseSummary> dense;
  std::string dense_metric = "top-1";  // what `dense` holds: top-5 for a top-5 table
  int runs_done = 0, runs_failed = 0, runs_running = 0;
  std::vector<std::string> experiments;
};

/// Final pruning step of every finished run matching `where`; throws std::invalid_argument on
/// an unknown field or metric, SQLite::Exception on bad SQL in `where`.
PivotTable make_pivot(SQLite::Database& db, const PivotSpec& spec);

/// A column header: "0.9" for sparsities, "10x" for compressions.
std::string column_header(const PivotTable& t, size_t column);
/// The caption: what the cells are and the dense accuracy they started from.
std::string caption(const PivotTable& t);

}  // namespace prunelab
