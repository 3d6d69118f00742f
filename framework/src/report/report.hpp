#pragma once
/// Paper-style tables from a results database: methods as rows, sparsities as columns.

#include <SQLiteCpp/Database.h>

#include <map>
#include <string>
#include <vector>

namespace prunelab {

/// Mean, sample standard deviation and count of one table cell.
struct CellStats {
  double mean = 0, std = 0;
  int n = 0;
};
CellStats cell_stats(const std::vector<double>& values);

struct PivotTable {
  std::vector<std::string> row_fields;              // e.g. model, granularity, criterion, ...
  std::vector<double> columns;                      // target sparsities, ascending
  std::vector<std::vector<std::string>> row_keys;   // one entry per row, values of row_fields
  std::vector<std::vector<CellStats>> cells;        // [row][column], n = 0 where no run
};

/// Final-step test top-1 (%) of every finished run, pivoted by method and target sparsity.
PivotTable top1_pivot(SQLite::Database& db, const std::string& experiment = "");

/// The Markdown report: a caption with the dense accuracy, the pivot, and run counts.
std::string markdown_report(SQLite::Database& db);

}  // namespace prunelab
