#pragma once
/// `runner plot`: gnuplot charts (PNG or SVG) from a results database.

#include "report/pivot.hpp"

#include <SQLiteCpp/Database.h>

#include <string>

namespace prunelab {

struct PlotSpec {
  std::string kind = "accuracy";  // accuracy | speedup | layers | sensitivity
  std::string out;                // .png or .svg
  PivotSpec pivot;                // rows, columns and filter of accuracy/speedup charts
  std::string x_metric = "speedup";  // speedup charts: speedup | speedup_physical | measured_speedup | ...
  int64_t run_id = 0;             // layers: which run (0 = the latest finished one)
  int width = 900, height = 600;
  std::string title;              // default: derived from the kind and the experiment
};

const std::vector<std::string>& plot_kinds();

/// Writes the chart to spec.out; throws std::runtime_error if gnuplot fails or there is nothing to plot.
void make_plot(SQLite::Database& db, const PlotSpec& spec);

}  // namespace prunelab
