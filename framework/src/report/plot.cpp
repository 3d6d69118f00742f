#include "report/plot.hpp"

#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace prunelab {

const std::vector<std::string>& plot_kinds() {
  static const std::vector<std::string> k = {"accuracy", "speedup", "layers", "sensitivity"};
  return k;
}

namespace {

std::string quote(const std::string& s) {  // a gnuplot single-quoted string
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string terminal(const PlotSpec& spec) {
  const auto ext = std::filesystem::path(spec.out).extension().string();
  if (ext == ".png") return fmt::format("set terminal pngcairo size {},{} noenhanced font 'Sans,11'", spec.width, spec.height);
  if (ext == ".svg") return fmt::format("set terminal svg size {},{} noenhanced font 'Sans,11' background '#ffffff'", spec.width, spec.height);
  throw std::invalid_argument(fmt::format("plot output '{}' must end in .png or .svg", spec.out));
}

/// Legend labels: only the row fields that differ between rows (all of them if none do).
std::vector<std::string> series_labels(const PivotTable& t) {
  std::vector<size_t> varying;
  for (size_t f = 0; f < t.spec.rows.size(); ++f)
    for (const auto& key : t.row_keys)
      if (key[f] != t.row_keys.front()[f]) {
        varying.push_back(f);
        break;
      }
  if (varying.empty())
    for (size_t f = 0; f < t.spec.rows.size(); ++f) varying.push_back(f);
  std::vector<std::string> out;
  for (const auto& key : t.row_keys) {
    std::vector<std::string> parts;
    for (size_t f : varying) parts.push_back(key[f]);
    out.push_back(fmt::format("{}", fmt::join(parts, " / ")));
  }
  return out;
}

class Gnuplot {
 public:
  Gnuplot() {
    char tmpl[] = "/tmp/prunelab_plot_XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary directory for gnuplot");
    dir_ = tmpl;
  }
  ~Gnuplot() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string data_file(const std::string& name, const std::string& content) {
    auto path = (std::filesystem::path(dir_) / name).string();
    std::ofstream(path) << content;
    return path;
  }
  void run(const std::string& script, const std::string& out) {
    const auto script_path = data_file("plot.gp", script);
    const auto log = (std::filesystem::path(dir_) / "gnuplot.log").string();
    const int rc = std::system(fmt::format("gnuplot {} > {} 2>&1", quote(script_path), quote(log)).c_str());
    std::ifstream in(log);
    std::string msg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
      throw std::runtime_error(fmt::format("gnuplot failed ({}): {}", rc, msg.empty() ? "is gnuplot-nox installed?" : msg));
    if (!std::filesystem::exists(out) || std::filesystem::file_size(out) == 0)
      throw std::runtime_error(fmt::format("gnuplot wrote no output to '{}': {}", out, msg));
  }

 private:
  std::string dir_;
};

std::string series_plot(Gnuplot& gp, const PivotTable& x, const PivotTable& y, bool x_from_columns) {
  const auto labels = series_labels(y);
  std::vector<std::string> parts;
  for (size_t r = 0; r < y.row_keys.size(); ++r) {
    std::string data = "# x y y_std n\n";
    for (size_t c = 0; c < y.columns.size(); ++c) {
      const auto& cell = y.cells[r][c];
      if (cell.n == 0) continue;
      const double xv = x_from_columns ? y.columns[c] : x.cells[r][c].mean;
      data += fmt::format("{:.10g} {:.10g} {:.10g} {}\n", xv, cell.mean, cell.std, cell.n);
    }
    const auto file = gp.data_file(fmt::format("series{}.dat", r), data);
    parts.push_back(fmt::format("{} using 1:2:3 with yerrorlines title {}", quote(file), quote(labels[r])));
  }
  return fmt::format("plot {}\n", fmt::join(parts, ", \\\n     "));
}

std::string experiment_title(const PivotTable& t) { return fmt::format("{}", fmt::join(t.experiments, ", ")); }

}  // namespace

void make_plot(SQLite::Database& db, const PlotSpec& spec) {
  if (spec.out.empty()) throw std::invalid_argument("plot needs --out FILE.png or FILE.svg");
  Gnuplot gp;
  std::string script = terminal(spec) + "\n" + fmt::format("set output {}\n", quote(spec.out));
  script += "set grid\nset key outside right center box\nset border 3\nset tics nomirror\n";
  std::filesystem::create_directories(std::filesystem::absolute(spec.out).parent_path());

  if (spec.kind == "accuracy") {
    auto t = make_pivot(db, spec.pivot);
    if (t.row_keys.empty()) throw std::runtime_error("nothing to plot: no finished runs match");
    std::string dense;
    for (const auto& d : t.dense) dense += fmt::format(" dense {} {:.2f}%", d.model, d.top1.mean);
    script += fmt::format("set title {}\n", quote(spec.title.empty() ? fmt::format("{}: {} vs {} (mean ± std over seeds;{})",
                                                                                  experiment_title(t), t.metric_label,
                                                                                  t.column_label, dense)
                                                                     : spec.title));
    script += fmt::format("set xlabel {}\nset ylabel {}\n", quote(t.column_label), quote(t.metric_label));
    if (spec.pivot.cols == "target_compression") script += "set logscale x 2\n";
    script += series_plot(gp, t, t, true);
  } else if (spec.kind == "speedup") {
    PivotSpec xs = spec.pivot, ys = spec.pivot;
    xs.metric = spec.x_metric;
    if (ys.metric == xs.metric || ys.metric == "speedup" || ys.metric == "compression") ys.metric = "top1";
    auto x = make_pivot(db, xs), y = make_pivot(db, ys);
    if (y.row_keys.empty()) throw std::runtime_error("nothing to plot: no finished runs match");
    script += fmt::format("set title {}\n", quote(spec.title.empty() ? fmt::format("{}: {} vs {}", experiment_title(y),
                                                                                  y.metric_label, xs.metric)
                                                                     : spec.title));
    script += fmt::format("set xlabel {}\nset ylabel {}\nset logscale x 2\n", quote(x.metric_label), quote(y.metric_label));
    script += series_plot(gp, x, y, false);
  } else if (spec.kind == "layers") {
    int64_t run = spec.run_id;
    if (run == 0) {
      SQLite::Statement latest(db, "SELECT id FROM runs WHERE status = 'done' ORDER BY finished_at DESC, id DESC LIMIT 1");
      if (!latest.executeStep()) throw std::runtime_error("nothing to plot: no finished run");
      run = latest.getColumn(0).getInt64();
    }
    SQLite::Statement info(db, "SELECT model, criterion, ratio_policy, schedule, granularity, target_sparsity, seed FROM runs WHERE id = ?");
    info.bind(1, run);
    if (!info.executeStep()) throw std::runtime_error(fmt::format("no run with id {}", run));
    const auto title = fmt::format("run {}: {} {}/{}/{} {} target {:g} seed {} — per-layer sparsity", run,
                                   info.getColumn(0).getString(), info.getColumn(1).getString(),
                                   info.getColumn(2).getString(), info.getColumn(3).getString(),
                                   info.getColumn(4).getString(), info.getColumn(5).getDouble(), info.getColumn(6).getInt());
    SQLite::Statement q(db, "SELECT layer, sparsity, params FROM layers WHERE run_id = ? AND step = "
                            "(SELECT MAX(step) FROM layers WHERE run_id = ?) ORDER BY rowid");
    q.bind(1, run);
    q.bind(2, run);
    std::string data = "# index layer sparsity params\n";
    int n = 0;
    while (q.executeStep())
      data += fmt::format("{} \"{}\" {:.6f} {}\n", n++, q.getColumn(0).getString(), q.getColumn(1).getDouble(),
                          q.getColumn(2).getInt64());
    if (n == 0) throw std::runtime_error(fmt::format("run {} has no per-layer rows", run));
    const auto file = gp.data_file("layers.dat", data);
    script += fmt::format("set title {}\nset ylabel 'sparsity'\nset yrange [0:1]\nset style fill solid 0.7\n", quote(spec.title.empty() ? title : spec.title));
    script += "set boxwidth 0.8\nset xtics rotate by -60 font ',8'\nunset key\n";
    script += fmt::format("plot {} using 1:3:xtic(2) with boxes lc rgb '#4477aa'\n", quote(file));
  } else if (spec.kind == "sensitivity") {
    // The curves a sensitivity run measured (or reused) in its first pruning step.
    int64_t run = spec.run_id;
    const bool has_log = db.execAndGet("SELECT COUNT(*) FROM sqlite_master WHERE name = 'search_log'").getInt() > 0;
    if (!has_log) throw std::runtime_error("nothing to plot: this database has no sensitivity curves (no search_log table)");
    SQLite::Statement find(db, run == 0 ? "SELECT run_id, json_extract(data, '$.curve_key') FROM search_log WHERE kind = 'sensitivity' "
                                          "AND step = 1 ORDER BY run_id DESC LIMIT 1"
                                        : "SELECT run_id, json_extract(data, '$.curve_key') FROM search_log WHERE kind = 'sensitivity' "
                                          "AND step = 1 AND run_id = ?");
    if (run != 0) find.bind(1, run);
    if (!find.executeStep())
      throw std::runtime_error(run == 0 ? "nothing to plot: no run used the sensitivity ratio policy"
                                        : fmt::format("run {} did not use the sensitivity ratio policy", run));
    run = find.getColumn(0).getInt64();
    const std::string key = find.getColumn(1).getString();
    SQLite::Statement info(db, "SELECT model, criterion, granularity FROM runs WHERE id = ?");
    info.bind(1, run);
    if (!info.executeStep()) throw std::runtime_error(fmt::format("no run with id {}", run));
    const auto title = fmt::format("{} {} {}: each unit pruned alone, validation top-1 (run {})", info.getColumn(0).getString(),
                                   info.getColumn(1).getString(), info.getColumn(2).getString(), run);
    SQLite::Statement q(db, "SELECT label, x, y FROM curves WHERE kind = 'sensitivity' AND key = ? ORDER BY rowid");
    q.bind(1, key);
    std::string data, current;
    std::vector<std::string> labels;
    double base = std::nan("");
    while (q.executeStep()) {
      const auto label = q.getColumn(0).getString();
      if (label == "(unpruned)") { base = 100 * q.getColumn(2).getDouble(); continue; }
      if (label != current) {
        if (!current.empty()) data += "\n\n";
        current = label;
        labels.push_back(label);
        if (std::isfinite(base)) data += fmt::format("0 {:.4f}\n", base);
      }
      data += fmt::format("{:.4f} {:.4f}\n", q.getColumn(1).getDouble(), 100 * q.getColumn(2).getDouble());
    }
    if (labels.empty()) throw std::runtime_error(fmt::format("the curves of run {} are not in this database", run));
    const auto file = gp.data_file("sensitivity.dat", data);
    script += fmt::format("set title {}\nset xlabel 'pruning ratio of the unit'\nset ylabel 'validation top-1 (%)'\n",
                          quote(spec.title.empty() ? title : spec.title));
    script += "set key outside right center box font ',8'\n";
    std::vector<std::string> parts;
    for (size_t i = 0; i < labels.size(); ++i)
      parts.push_back(fmt::format("{} index {} using 1:2 with linespoints title {}", quote(file), i, quote(labels[i])));
    script += fmt::format("plot {}\n", fmt::join(parts, ", \\\n     "));
  } else {
    throw std::invalid_argument(fmt::format("unknown plot kind '{}' (valid: {})", spec.kind, fmt::join(plot_kinds(), ", ")));
  }
  gp.run(script, spec.out);
}

}  // namespace prunelab
