// TorchScript models through whole grids: every criterion, ratio policy and schedule, keep_dense,
// config errors, and the same numbers as the built-in ResNet-20 for its Python twin.

#include "config/config_loader.hpp"
#include "models/model_spec.hpp"
#include "run/grid_runner.hpp"
#include "run/plan.hpp"
#include "test_support.hpp"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <sstream>

using namespace prunelab;

namespace {

std::string ts(const std::string& file) { return std::string(TS_MODEL_DIR) + "/" + file; }

// A few seconds per run: the user's own small CNN on 12x12 synthetic images of 4 classes.
std::string grid(const std::string& name, const std::string& model, const std::string& prune) {
  return fmt::format(R"(version: 1
name: {}
seeds: [1]
threads: 1
data: {{dataset: synthetic, val_size: 100, synthetic_train: 400, synthetic_test: 200}}
model: {}
train: {{epochs: 2, batch_size: 50, lr: 0.05}}
finetune: {{epochs: 0.5}}
eval: {{latency_repeats: 1}}
prune:
{})",
                     name, model, prune);
}

GridSummary run(const std::string& yaml, const std::string& dir) {
  auto exp = parse_experiment(yaml, dir + "/grid.yaml", test::builtin_registry());
  GridOptions o;
  o.db_path = dir + "/grid.db";
  o.quiet = true;
  return run_grid(exp, test::builtin_registry(), o);
}

std::string failures(const std::string& dir) {
  SQLite::Database db(dir + "/grid.db");
  SQLite::Statement q(db, "SELECT criterion || '/' || ratio_policy || '/' || schedule || ': ' || COALESCE(error, '') FROM runs WHERE status != 'done'");
  std::string out;
  while (q.executeStep()) out += q.getColumn(0).getString() + "\n";
  return out;
}

}  // namespace

TEST(TorchScriptGrid, EveryCriterionPolicyAndScheduleRunsOnATorchScriptModel) {
  const auto model = fmt::format("{{type: torchscript, path: {}, name: small_cnn, init: seed}}", ts("small_cnn_12.pt"));
  struct Case {
    const char* name;
    std::string prune;
    int runs;
  };
  const std::vector<Case> cases = {
      {"criteria",
       "  criterion: [magnitude, random, taylor, obd, {type: obs, batches: 1}]\n  ratio_policy: global\n"
       "  schedule: one_shot\n  sparsity: 0.6\n",
       5},
      {"policies",
       "  criterion: magnitude\n  ratio_policy: [uniform, global, lamp, erk, {type: sensitivity, samples: 50, ratios: [0.3, 0.6, 0.9]},"
       " {type: amc, episodes: 6, warmup: 3, samples: 50, updates: 2, batch: 8}]\n  schedule: one_shot\n  sparsity: 0.6\n",
       6},
      {"schedules",
       "  criterion: magnitude\n  ratio_policy: uniform\n"
       "  schedule: [{type: one_shot, epochs: 0}, one_shot, iterative, agp, {type: lottery, rounds: 2}, {type: lottery, rounds: 2, reinit: true}]\n"
       "  sparsity: 0.6\n",
       6},
      {"channels",
       "  criterion: [magnitude, bn_scale, fpgm, {type: reconstruction, batches: 1, positions: 256}]\n"
       "  ratio_policy: uniform\n  schedule: one_shot\n  granularity: channel\n  sparsity: 0.5\n",
       4},
      {"channel_policies",
       "  criterion: magnitude\n  ratio_policy: [global, lamp, {type: netadapt, short_steps: 2, samples: 50, max_iterations: 4},"
       " {type: sensitivity, samples: 50, ratios: [0.3, 0.6]}]\n  schedule: [one_shot, iterative]\n  granularity: channel\n  sparsity: 0.5\n",
       8},
      {"granularities",
       "  criterion: magnitude\n  ratio_policy: uniform\n  schedule: one_shot\n"
       "  granularity: [element, vector, kernel, {type: pattern, n: 2, m: 4}]\n  sparsity: [0.5]\n",
       4},
  };
  for (const auto& c : cases) {
    const auto dir = test::scratch_dir(std::string("ts_grid_") + c.name);
    const auto summary = run(grid(c.name, model, c.prune), dir);
    SQLite::Database db(dir + "/grid.db");
    // NetAdapt's ratios follow measured latencies; on this CNN's 8-16 channels per group they can
    // round to 1 % off the target (seen under ASan's timings), which the framework's reach check
    // fails as designed. Any other failure fails the test.
    const int unreachable = db.execAndGet("SELECT COUNT(*) FROM runs WHERE status = 'failed' AND ratio_policy LIKE "
                                          "'netadapt%' AND error LIKE '%cannot reach it%'").getInt();
    EXPECT_EQ(summary.done + unreachable, c.runs) << c.name << ":\n" << failures(dir);
    EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE is_final AND ABS(achieved_sparsity - 0.5) > 0.01 "
                            "AND ABS(achieved_sparsity - 0.6) > 0.01").getInt(), 0) << c.name;
    EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE model != 'small_cnn'").getInt(), 0);
    // The physical copy computed what the masked model computed (every run checks it); for channels
    // it is smaller.
    EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE is_final AND physical_max_diff > 1e-4").getInt(), 0);
    if (std::string(c.name).rfind("channel", 0) == 0)
      EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM results WHERE is_final AND params_physical >= params").getInt(), 0);
  }
}

TEST(TorchScriptGrid, KeepDenseLeavesTheNamedLayersWhole) {
  const auto dir = test::scratch_dir("ts_keep");
  const auto model = fmt::format("{{type: torchscript, path: {}, name: small_cnn, keep_dense: ['features.0', 'classifier.*']}}",
                                 ts("small_cnn_12.pt"));
  const auto summary = run(grid("keep", model, "  criterion: magnitude\n  ratio_policy: global\n  schedule: one_shot\n  sparsity: 0.5\n"), dir);
  ASSERT_EQ(summary.done, 1) << failures(dir);
  SQLite::Database db(dir + "/grid.db");
  SQLite::Statement q(db, "SELECT l.layer, l.sparsity FROM layers l JOIN steps s ON s.run_id = l.run_id AND s.step = l.step");
  std::map<std::string, double> sparsity;
  while (q.executeStep()) sparsity[q.getColumn(0).getString()] = q.getColumn(1).getDouble();
  ASSERT_EQ(sparsity.size(), 4u);
  EXPECT_EQ(sparsity["features.0"], 0.0);
  EXPECT_EQ(sparsity["classifier.2"], 0.0);
  EXPECT_EQ(sparsity["classifier.4"], 0.0);
  EXPECT_NEAR(sparsity["features.3"], 0.5, 0.01);  // the only prunable layer carries the whole target
}

TEST(TorchScriptGrid, BadModelEntriesAreConfigErrorsWithLineAndKey) {
  const auto check = [](const std::string& model, const std::string& expected) {
    try {
      parse_experiment(grid("bad", model, "  criterion: magnitude\n  ratio_policy: global\n  schedule: one_shot\n  sparsity: 0.5\n"),
                       "bad.yaml", test::builtin_registry());
      ADD_FAILURE() << "no error for " << model;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.line, 6) << e.what();
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  };
  check("{type: torchscript, path: /nonexistent/model.pt}", "model file '/nonexistent/model.pt' not found");
  check(fmt::format("{{type: torchscript, path: {}}}", ts("garbage.pt")), "is not a TorchScript file");
  check(fmt::format("{{type: torchscript, path: {}}}", ts("small_cnn.pt")), "a forward pass on input [N, 1, 12, 12] failed");
  check(fmt::format("{{type: torchscript, path: {}, keep_dense: [nope]}}", ts("small_cnn_12.pt")), "matches no layer");
  check(fmt::format("{{type: torchscript, path: {}, colour: red}}", ts("small_cnn_12.pt")), "unknown key 'colour'");
  check("{arch: resnet99}", "'resnet99' is not one of");
}

TEST(TorchScriptGrid, PythonTwinOfResNet20GivesTheBuiltInsMasksAndAccuracies) {
  const auto dir = test::scratch_dir("ts_twin");
  const std::string yaml = fmt::format(R"(version: 1
name: twin
seeds: [2]
threads: 1
data: {{dataset: synthetic, val_size: 100, synthetic_train: 320, synthetic_test: 200, synthetic_size: 28, synthetic_classes: 10}}
model: [resnet20, {{type: torchscript, path: {}, name: resnet20_ts, init: seed}}]
train: {{epochs: 1, batch_size: 32, lr: 0.05}}
finetune: {{epochs: 0.5}}
eval: {{latency_repeats: 0}}
prune:
  criterion: magnitude
  ratio_policy: global
  schedule: [one_shot, {{type: iterative, steps: [0.4, 0.7]}}]
  sparsity: 0.7
)",
                                       ts("resnet20.pt"));
  auto exp = parse_experiment(yaml, dir + "/twin.yaml", test::builtin_registry());
  GridOptions o;
  o.db_path = dir + "/twin.db";
  o.quiet = true;
  ASSERT_EQ(run_grid(exp, test::builtin_registry(), o).done, 4) << failures(dir);
  SQLite::Database db(dir + "/twin.db");
  // Per schedule and step: the two paths' accuracies, losses and per-layer nonzeros.
  SQLite::Statement q(db, R"(SELECT r.schedule, s.step, r.model, s.top1, s.top1_val, s.train_loss, s.loss, r.dense_top1,
                                    (SELECT GROUP_CONCAT(l.nonzero) FROM layers l WHERE l.run_id = s.run_id AND l.step = s.step)
                             FROM steps s JOIN runs r ON r.id = s.run_id ORDER BY r.schedule, s.step, r.model)");
  int pairs = 0;
  while (q.executeStep()) {
    const auto schedule = q.getColumn(0).getString();
    const int step = q.getColumn(1).getInt();
    const double top1 = q.getColumn(3).getDouble(), val = q.getColumn(4).getDouble(), train_loss = q.getColumn(5).getDouble();
    const double loss = q.getColumn(6).getDouble(), dense = q.getColumn(7).getDouble();
    const auto nonzeros = q.getColumn(8).getString();
    ASSERT_EQ(q.getColumn(2).getString(), "resnet20");
    ASSERT_TRUE(q.executeStep());
    ASSERT_EQ(q.getColumn(2).getString(), "resnet20_ts");
    EXPECT_EQ(q.getColumn(8).getString(), nonzeros) << schedule << " step " << step << ": the masks differ";
    EXPECT_EQ(q.getColumn(5).getDouble(), train_loss) << schedule << " step " << step;  // training: bit for bit
    EXPECT_EQ(q.getColumn(7).getDouble(), dense) << "dense top-1";
    // Evaluation folds BatchNorm in the built-in and not in the TorchScript module: the same
    // predictions, losses equal to float rounding.
    EXPECT_EQ(q.getColumn(3).getDouble(), top1) << schedule << " step " << step;
    EXPECT_EQ(q.getColumn(4).getDouble(), val) << schedule << " step " << step;
    EXPECT_NEAR(q.getColumn(6).getDouble(), loss, 1e-5 * std::max(1.0, loss));
    ++pairs;
  }
  EXPECT_EQ(pairs, 3);  // one-shot: 1 step, iterative: 2
}

// experiments/mobilenet.yaml, with its model path pointed at the build-time export of
// scripts/export_mobilenet.py: it parses, every run plans, and the graph gives the groups the
// experiment is about (every block's expand channels, with the depthwise conv following them,
// and the residual streams coupled).
TEST(TorchScriptGrid, MobileNetExperimentValidatesWithItsExportedModel) {
  std::ifstream in(std::string(SOURCE_DIR) + "/experiments/mobilenet.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::regex path_key(R"(path: models/mobilenet\.pt)");
  ASSERT_TRUE(std::regex_search(text, path_key)) << "the experiment reads models/mobilenet.pt";
  text = std::regex_replace(text, path_key, "path: " + ts("mobilenet.pt"));
  const auto exp = parse_experiment(text, "experiments/mobilenet.yaml", test::builtin_registry());
  ASSERT_EQ(exp.runs.size(), 44u);
  for (const auto& r : exp.runs) EXPECT_NO_THROW(plan_run(r, test::builtin_registry(), 55000)) << r.summary();

  auto model = make_model(exp.runs[0].model, InputShape{1, 28, 28, 10});
  const auto& layers = model->layers();
  const auto groups = model->channel_groups();  // by value: the pointers below point into it
  std::map<std::string, const ChannelGroup*> by_producer;
  int residual = 0;
  for (const auto& g : groups) {
    by_producer[layers[g.producers[0]].name] = &g;
    residual += g.residual;
  }
  for (int block = 1; block <= 8; ++block) {
    const auto expand = fmt::format("features.{}.conv.0.0", block);
    ASSERT_TRUE(by_producer.count(expand)) << expand << " starts no channel group";
    const auto& g = *by_producer[expand];
    EXPECT_FALSE(g.residual) << expand;
    ASSERT_EQ(g.producers.size(), 2u) << expand << ": the depthwise conv follows the expand channels";
    EXPECT_EQ(layers[g.producers[1]].name, fmt::format("features.{}.conv.1.0", block));
    ASSERT_EQ(g.consumers.size(), 1u) << expand;
    EXPECT_EQ(layers[g.consumers[0].layer].name, fmt::format("features.{}.conv.2.0", block));
  }
  EXPECT_EQ(residual, 4);  // the 16-, 24-, 32- and 64-channel streams
  ASSERT_TRUE(by_producer.count("features.4.conv.2.0"));
  EXPECT_EQ(by_producer["features.4.conv.2.0"]->producers.size(), 3u);  // three projections add into one stream
  EXPECT_EQ(groups.size(), 13u);  // 8 expand groups, 4 streams, the head conv
  ASSERT_EQ(model->channel_refusals().size(), 1u);
  EXPECT_EQ(model->channel_refusals()[0], "classifier.1: the network's output");
}
