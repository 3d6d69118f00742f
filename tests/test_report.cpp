#include "report/pivot.hpp"
#include "report/plot.hpp"
#include "report/query.hpp"
#include "report/render.hpp"
#include "store/result_store.hpp"
#include "test_support.hpp"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace prunelab;

TEST(Report, CellStatsAreMeanSampleStdAndCount) {
  auto c = cell_stats({90.0, 92.0, 94.0});
  EXPECT_DOUBLE_EQ(c.mean, 92.0);
  EXPECT_DOUBLE_EQ(c.std, 2.0);
  EXPECT_EQ(c.n, 3);
  EXPECT_EQ(cell_stats({}).n, 0);
  EXPECT_DOUBLE_EQ(cell_stats({5.0}).std, 0.0);
}

namespace {
// A hand-made database: two seeds of one method at two sparsities, a failed run, a multi-step run.
std::string make_db(const std::string& name) {
  const auto dir = test::scratch_dir(name);
  ResultStore store(dir + "/r.db");
  auto& db = store.db();
  // Hand-made rows: two seeds of one method at two sparsities, a failed run, a multi-step run.
  auto add_run = [&](int id, const std::string& sched, double sparsity, int seed, const std::string& status) {
    SQLite::Statement q(db, R"(INSERT INTO runs (id, hash, experiment, grid_index, config_json, seed, model, dataset,
        criterion, ratio_policy, schedule, granularity, target_sparsity, status, started_at, framework_version,
        torch_version, dense_top1, dense_hash) VALUES (?, ?, 'e', ?, '{}', ?, 'm', 'd', 'magnitude', 'global', ?, 'element', ?, ?, 'now', 'v', 't', 0.9, ?))");
    q.bind(1, id);
    q.bind(2, "h" + std::to_string(id));
    q.bind(3, id);
    q.bind(4, seed);
    q.bind(5, sched);
    q.bind(6, sparsity);
    q.bind(7, status);
    q.bind(8, "dense" + std::to_string(seed));
    q.exec();
  };
  auto add_step = [&](int run, int step, double target, double top1) {
    SQLite::Statement q(db, R"(INSERT INTO steps (run_id, step, target_sparsity, achieved_sparsity, top1_val, top1, loss,
        train_loss, params, params_nonzero, prunable, prunable_nonzero, flops, flops_effective, finetune_steps, wall_s)
        VALUES (?, ?, ?, ?, 0, ?, 0, 0, 10, 5, 10, 5, 100, 50, 0, 1))");
    q.bind(1, run);
    q.bind(2, step);
    q.bind(3, target);
    q.bind(4, target);
    q.bind(5, top1);
    q.exec();
  };
  add_run(1, "one_shot", 0.5, 1, "done");
  add_step(1, 1, 0.5, 0.80);
  add_run(2, "one_shot", 0.5, 2, "done");
  add_step(2, 1, 0.5, 0.84);
  add_run(3, "one_shot", 0.9, 1, "failed");
  add_step(3, 1, 0.9, 0.10);
  add_run(4, "iterative", 0.9, 1, "done");
  add_step(4, 1, 0.5, 0.99);  // an intermediate step must not count
  add_step(4, 2, 0.9, 0.70);
  SQLite::Statement l(db, "INSERT INTO layers VALUES (4, 2, 'conv', 'conv2d', 100, 20, 0.8, 0.8, 1000, 200, NULL, NULL)");
  l.exec();
  SQLite::Statement l2(db, "INSERT INTO layers VALUES (4, 2, 'fc', 'linear', 50, 10, 0.8, 0.8, 50, 10, NULL, NULL)");
  l2.exec();
  return dir + "/r.db";
}
}  // namespace

TEST(Report, PivotsFinalStepsOfFinishedRunsOnly) {
  SQLite::Database db(make_db("pivot"), SQLite::OPEN_READONLY);
  auto t = make_pivot(db, {});
  ASSERT_EQ(t.row_keys.size(), 2u);
  EXPECT_EQ(t.columns, (std::vector<double>{0.5, 0.9}));
  EXPECT_EQ(t.row_keys[0][4], "one_shot");
  EXPECT_NEAR(t.cells[0][0].mean, 82.0, 1e-9);
  EXPECT_NEAR(t.cells[0][0].std, 2.8284271247461903, 1e-9);
  EXPECT_EQ(t.cells[0][0].n, 2);
  EXPECT_EQ(t.cells[0][1].n, 0);  // the failed run is not in the table
  EXPECT_NEAR(t.cells[1][1].mean, 70.0, 1e-9);
  auto md = render_markdown(t);
  EXPECT_NE(md.find("| m | element | magnitude | global | one_shot | 82.00 ± 2.83 (2) | – |"), std::string::npos) << md;
  EXPECT_NE(md.find("m on d: 90.00 ± 0.00 % (2 seeds)"), std::string::npos) << md;
  EXPECT_NE(md.find("1 failed"), std::string::npos);
}

TEST(Report, MetricsColumnsRowsAndFilters) {
  SQLite::Database db(make_db("metrics"), SQLite::OPEN_READONLY);
  PivotSpec spec;
  spec.rows = {"schedule"};
  spec.metric = "drop";
  spec.cols = "target_compression";
  auto t = make_pivot(db, spec);
  EXPECT_EQ(t.columns, (std::vector<double>{2.0, 10.000000000000002}));
  EXPECT_NEAR(t.cells[0][0].mean, 90.0 - 82.0, 1e-9);
  EXPECT_EQ(column_header(t, 1), "10x");
  spec.metric = "compression";
  EXPECT_DOUBLE_EQ(make_pivot(db, spec).cells[0][0].mean, 2.0);  // params 10 / nonzero 5
  spec.metric = "top1";
  spec.where = "schedule = 'iterative'";
  auto only = make_pivot(db, spec);
  ASSERT_EQ(only.row_keys.size(), 1u);
  EXPECT_EQ(only.row_keys[0][0], "iterative");
  spec.metric = "measured_speedup";  // these rows were never timed: empty cells, not zeros
  EXPECT_EQ(make_pivot(db, spec).cells[0][0].n, 0);
  spec.metric = "speed";
  EXPECT_THROW(make_pivot(db, spec), std::invalid_argument);
  spec.metric = "top1";
  spec.rows = {"colour"};
  EXPECT_THROW(make_pivot(db, spec), std::invalid_argument);
}

TEST(Report, LatexIsBooktabsWithConsistentColumns) {
  SQLite::Database db(make_db("latex"), SQLite::OPEN_READONLY);
  const auto tex = render_latex(make_pivot(db, {}));
  for (const char* part : {"\\begin{table}", "\\begin{tabular}{lllllrr}", "\\toprule", "\\midrule", "\\bottomrule",
                           "\\end{tabular}", "\\end{table}", "one\\_shot", "$82.00 \\pm 2.83$"})
    EXPECT_NE(tex.find(part), std::string::npos) << part << "\n" << tex;
  // Every body row has 5 + 2 cells.
  std::istringstream in(tex);
  std::string line;
  int rows = 0;
  while (std::getline(in, line))
    if (line.size() > 2 && line.substr(line.size() - 2) == "\\\\") {
      EXPECT_EQ(std::count(line.begin(), line.end(), '&'), 6) << line;
      ++rows;
    }
  EXPECT_EQ(rows, 3);  // header + 2 methods
}

TEST(Report, CsvAndHtml) {
  SQLite::Database db(make_db("csv"), SQLite::OPEN_READONLY);
  auto t = make_pivot(db, {});
  const auto csv = render_csv(t);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "model,granularity,criterion,ratio_policy,schedule,0.5_mean,0.5_std,0.5_n,0.9_mean,0.9_std,0.9_n");
  EXPECT_NE(csv.find("m,element,magnitude,global,one_shot,82,2.82843,2,,,0"), std::string::npos) << csv;
  const auto html = render_html(t);
  EXPECT_NE(html.find("<td>82.00 ± 2.83 (2)</td>"), std::string::npos);
  EXPECT_EQ(render(t, "md"), render_markdown(t));
  EXPECT_THROW(render(t, "docx"), std::invalid_argument);
}

TEST(Query, ReadsButRefusesEveryKindOfWrite) {
  const auto path = make_db("query");
  auto r = run_readonly_query(path, "SELECT schedule, COUNT(*) AS n FROM runs GROUP BY schedule ORDER BY schedule");
  EXPECT_EQ(r.columns, (std::vector<std::string>{"schedule", "n"}));
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0], (std::vector<std::string>{"iterative", "1"}));
  const auto text = format_aligned(r);
  EXPECT_NE(text.find("iterative  1"), std::string::npos) << text;
  EXPECT_NE(text.find("(2 rows)"), std::string::npos);
  for (const char* sql : {"INSERT INTO meta VALUES ('a', 'b')", "DELETE FROM runs", "DROP TABLE runs",
                          "UPDATE runs SET seed = 3", "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA journal_mode = DELETE",
                          "CREATE TABLE t (x)", "BEGIN", "SELECT 1; DELETE FROM runs"})
    EXPECT_THROW(run_readonly_query(path, sql), std::invalid_argument) << sql;
  EXPECT_EQ(run_readonly_query(path, "SELECT COUNT(*) FROM runs").rows[0][0], "4");
  EXPECT_THROW(run_readonly_query(path, "SELECT nope FROM runs"), std::runtime_error);
  EXPECT_EQ(run_readonly_query(path, "PRAGMA integrity_check").rows[0][0], "ok");
}

TEST(Report, WorksWhileAGridIsWriting) {
  const auto path = make_db("wal");
  ResultStore writer(path);
  SQLite::Transaction open_tx(writer.db());  // a writer mid-transaction
  writer.db().exec("UPDATE runs SET seed = 9 WHERE id = 1");
  SQLite::Database reader(path, SQLite::OPEN_READONLY, 1000);
  auto t = make_pivot(reader, {});
  EXPECT_EQ(t.cells[0][0].n, 2);  // sees the committed state, does not block or fail
  EXPECT_EQ(run_readonly_query(path, "SELECT seed FROM runs WHERE id = 1").rows[0][0], "1");
}

namespace {
// Width and height from a PNG's IHDR chunk.
std::pair<int, int> png_size(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char b[24] = {};
  in.read(reinterpret_cast<char*>(b), 24);
  auto be = [&](int o) { return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]; };
  EXPECT_EQ(b[1], 'P');
  return {be(16), be(20)};
}
}  // namespace

TEST(Plot, WritesPngAndSvgOfTheRequestedSize) {
  const auto path = make_db("plot");
  SQLite::Database db(path, SQLite::OPEN_READONLY);
  const auto dir = std::filesystem::path(path).parent_path();
  PlotSpec spec;
  spec.out = (dir / "acc.png").string();
  spec.width = 640;
  spec.height = 480;
  make_plot(db, spec);
  EXPECT_EQ(png_size(spec.out), std::make_pair(640, 480));
  EXPECT_GT(std::filesystem::file_size(spec.out), 2000u);
  spec.out = (dir / "acc.svg").string();
  spec.kind = "speedup";
  make_plot(db, spec);
  std::ifstream svg(spec.out);
  std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("width=\"640\""), std::string::npos);
  spec.kind = "layers";
  spec.out = (dir / "layers.png").string();
  make_plot(db, spec);
  EXPECT_EQ(png_size(spec.out).first, 640);
  spec.kind = "sensitivity";
  EXPECT_THROW(make_plot(db, spec), std::runtime_error);
  spec.kind = "accuracy";
  spec.out = (dir / "acc.jpg").string();
  EXPECT_THROW(make_plot(db, spec), std::invalid_argument);
}
