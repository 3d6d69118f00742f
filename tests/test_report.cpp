#include "report/report.hpp"
#include "store/result_store.hpp"
#include "test_support.hpp"

#include <SQLiteCpp/Statement.h>
#include <gtest/gtest.h>

using namespace prunelab;

TEST(Report, CellStatsAreMeanSampleStdAndCount) {
  auto c = cell_stats({90.0, 92.0, 94.0});
  EXPECT_DOUBLE_EQ(c.mean, 92.0);
  EXPECT_DOUBLE_EQ(c.std, 2.0);
  EXPECT_EQ(c.n, 3);
  EXPECT_EQ(cell_stats({}).n, 0);
  EXPECT_DOUBLE_EQ(cell_stats({5.0}).std, 0.0);
}

TEST(Report, PivotsFinalStepsOfFinishedRunsOnly) {
  const auto dir = test::scratch_dir("report");
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
    SQLite::Statement q(db, R"(INSERT INTO steps VALUES (?, ?, ?, ?, 0, ?, 0, 0, 10, 5, 10, 5, 100, 50, 0, 1))");
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
  auto t = top1_pivot(db);
  ASSERT_EQ(t.row_keys.size(), 2u);
  EXPECT_EQ(t.columns, (std::vector<double>{0.5, 0.9}));
  EXPECT_EQ(t.row_keys[0][4], "one_shot");
  EXPECT_NEAR(t.cells[0][0].mean, 82.0, 1e-9);
  EXPECT_NEAR(t.cells[0][0].std, 2.8284271247461903, 1e-9);
  EXPECT_EQ(t.cells[0][0].n, 2);
  EXPECT_EQ(t.cells[0][1].n, 0);  // the failed run is not in the table
  EXPECT_NEAR(t.cells[1][1].mean, 70.0, 1e-9);
  auto md = markdown_report(db);
  EXPECT_NE(md.find("| m | element | magnitude | global | one_shot | 82.00 ± 2.83 (2) | – |"), std::string::npos) << md;
  EXPECT_NE(md.find("Dense m: 90.00 ± 0.00 % test top-1 (2 seeds)"), std::string::npos) << md;
  EXPECT_NE(md.find("1 failed"), std::string::npos);
}
