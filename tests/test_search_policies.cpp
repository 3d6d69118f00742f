// Ratio policies that search: sensitivity analysis (and the framework's evaluator they use).
#include "models/network.hpp"
#include "prune/evaluator.hpp"
#include "prune/latency_table.hpp"
#include "prune/pruner.hpp"
#include "test_support.hpp"
#include "train/trainer.hpp"
#include "config/config_loader.hpp"
#include "report/plot.hpp"
#include "run/grid_runner.hpp"

#include <SQLiteCpp/Database.h>
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <prunelab/ratio_tools.hpp>
#include <torch/utils.h>

#include <cmath>
#include <map>

using namespace prunelab;

namespace {
/// Validation accuracy 0.9 minus sum_u c_u * r_u^2: unit u's drop when pruned alone at r is
/// c_u * r^2, so the largest ratio within a threshold T is sqrt(T / c_u).
class QuadraticEvaluator : public Evaluator {
 public:
  explicit QuadraticEvaluator(std::vector<double> c) : c_(std::move(c)) {}
  double accuracy_with_ratios(const std::vector<double>& r, int64_t) override {
    ++calls;
    double a = 0.9;
    for (size_t u = 0; u < r.size(); ++u) a -= c_[u] * r[u] * r[u];
    return a;
  }
  double accuracy(int64_t) override { return 0.9; }
  int64_t macs_with_ratios(const std::vector<double>&) override { return 0; }
  int calls = 0;

 private:
  std::vector<double> c_;
};

class MemoryStore : public SearchStore {
 public:
  std::string state_key() const override { return "state"; }
  std::vector<CurvePoint> load_curves(const std::string& kind, const std::string& key) override {
    auto it = curves.find(kind + "/" + key);
    return it == curves.end() ? std::vector<CurvePoint>{} : it->second;
  }
  void save_curves(const std::string& kind, const std::string& key, const std::vector<CurvePoint>& p) override {
    curves[kind + "/" + key] = p;
  }
  void log(const std::string& kind, const std::string& json) override { logs.emplace_back(kind, json); }
  std::map<std::string, std::vector<CurvePoint>> curves;
  std::vector<std::pair<std::string, std::string>> logs;
};

/// Three equal units of 100 single-weight slices.
struct ThreeUnits {
  std::vector<LayerView> layers{3};
  std::vector<PruneUnit> units;
  std::vector<at::Tensor> scores;
  ThreeUnits() {
    for (size_t i = 0; i < 3; ++i) {
      layers[i].weight = at::ones({100});
      layers[i].mask = at::ones({100});
      units.push_back({"u" + std::to_string(i), {i}, 100, 1, {}});
      scores.push_back(at::rand({100}));
    }
  }
  std::vector<double> ratios(Evaluator& e, SearchStore* store, double target, Params p = {}) {
    auto policy = test::builtin_registry().make_ratio_policy("sensitivity", p);
    RatioContext ctx{layers, units, scores, Granularity{}, target, &e, 0, store};
    return policy->ratios(ctx);
  }
};
}  // namespace

TEST(Sensitivity, GivenThresholdPicksTheLargestScannedRatioWithinIt) {
  ThreeUnits f;
  QuadraticEvaluator e({1.0, 0.1, 0.01});
  // T = 0.02: sqrt(0.02) = 0.14 -> 0.1; sqrt(0.2) = 0.45 -> 0.4; sqrt(2) > 0.9 -> 0.9. A target
  // equal to their mean needs no scaling, so the choice is returned as it is.
  const double target = (0.1 + 0.4 + 0.9) / 3;
  auto r = f.ratios(e, nullptr, target, Params({{"threshold", 0.02}}));
  EXPECT_NEAR(r[0], 0.1, 1e-9);
  EXPECT_NEAR(r[1], 0.4, 1e-9);
  EXPECT_NEAR(r[2], 0.9, 1e-9);
  // A lower target keeps the shape: every ratio scaled by the same factor.
  r = f.ratios(e, nullptr, target / 2, Params({{"threshold", 0.02}}));
  EXPECT_NEAR(r[0], 0.05, 1e-6);
  EXPECT_NEAR(r[1], 0.2, 1e-6);
  EXPECT_NEAR(r[2], 0.45, 1e-6);
}

TEST(Sensitivity, SolvedThresholdMeetsTheTargetAndPrunesInsensitiveUnitsMost) {
  ThreeUnits f;
  QuadraticEvaluator e({1.0, 0.1, 0.01});
  auto r = f.ratios(e, nullptr, 0.5);
  EXPECT_NEAR(sparsity_of(r, {100, 100, 100}), 0.5, 1e-6);
  EXPECT_LT(r[0], r[1]);
  EXPECT_LT(r[1], r[2]);
  // Every unit sits at (about) the same interpolated drop: that is what one threshold means.
  // u2's curve is flat up to 0.9 (drop 0.0081) and u0's reaches that drop at r = 0.09.
  EXPECT_LE(r[2], 0.9 + 1e-9);
  // Beyond what the scan covers, every unit goes the same share of the rest of the way.
  r = f.ratios(e, nullptr, 0.95);
  EXPECT_NEAR(sparsity_of(r, {100, 100, 100}), 0.95, 1e-6);
  EXPECT_NEAR(r[0], 0.95, 1e-6);
}

TEST(Sensitivity, CurvesAreStoredAndReusedAndTheChoiceIsLogged) {
  ThreeUnits f;
  QuadraticEvaluator e({1.0, 0.1, 0.01});
  MemoryStore store;
  auto first = f.ratios(e, &store, 0.4);
  EXPECT_EQ(e.calls, 27);  // 3 units x 9 ratios
  ASSERT_EQ(store.curves.size(), 1u);
  EXPECT_EQ(store.curves.begin()->second.size(), 28u);  // and the unpruned accuracy
  auto second = f.ratios(e, &store, 0.4);
  EXPECT_EQ(e.calls, 27);  // nothing measured again
  EXPECT_EQ(first, second);
  ASSERT_EQ(store.logs.size(), 2u);
  EXPECT_NE(store.logs[1].second.find("\"curves_cached\":true"), std::string::npos) << store.logs[1].second;
  EXPECT_NE(store.logs[1].second.find("\"u2\":"), std::string::npos);
  // Other scan settings are other curves.
  f.ratios(e, &store, 0.4, Params({{"samples", int64_t{50}}}));
  EXPECT_EQ(e.calls, 54);
}

TEST(Sensitivity, AlreadyPrunedSlicesAreTheFloor) {
  ThreeUnits f;
  f.scores[0].narrow(0, 0, 60).fill_(-std::numeric_limits<float>::infinity());
  QuadraticEvaluator e({1.0, 0.1, 0.01});
  auto r = f.ratios(e, nullptr, 0.6);
  EXPECT_GE(r[0], 0.6);
  EXPECT_NEAR(sparsity_of(r, {100, 100, 100}), 0.6, 1e-6);
}

TEST(StepEvaluator, ScanningRatiosRestoresEveryParameterExactly) {
  torch::manual_seed(0);
  auto net = test::make_builtin("resnet20", {1, 28, 28, 10});
  net->eval();
  MaskSet masks(*net);
  TensorDataset val{at::randn({64, 1, 28, 28}), at::randint(0, 10, {64})};
  for (bool channel : {false, true}) {
    const Granularity g{channel ? GranularityKind::Channel : GranularityKind::Element};
    UnitLayout layout(masks, g);
    StepEvaluator evaluator(*net, masks, layout, val, 32, at::kCPU);
    std::vector<at::Tensor> before;
    for (const auto& p : net->parameters()) before.push_back(p.detach().clone());
    for (const auto& b : net->buffers()) before.push_back(b.detach().clone());
    auto views = masks.views();
    auto crit = test::builtin_registry().make_criterion("magnitude", {});
    CriterionContext cctx{views, g, nullptr, 0, &layout.units()};
    auto scores = layout.unit_scores(slice_scores(*crit, cctx));
    evaluator.set_scores(&scores);
    const double dense = evaluator.accuracy(64);
    for (size_t u = 0; u < layout.units().size(); ++u) {
      std::vector<double> r(layout.units().size(), 0.0);
      r[u] = 0.9;
      evaluator.accuracy_with_ratios(r, 64);
    }
    // A short fine-tune of a proposal changes weights, BatchNorm statistics and masks: all undone.
    evaluator.set_finetuner([&](int64_t steps) {
      OptimSpec optim;
      optim.batch_size = 32;
      train_steps(*net, val, optim, steps, 1, &masks, {}, at::kCPU);
    });
    evaluator.accuracy_after_finetune(std::vector<double>(layout.units().size(), 0.5), 2, 64);
    for (const auto& m : masks.masks()) EXPECT_TRUE(m.eq(1).all().item<bool>());
    evaluator.set_scores(nullptr);
    size_t i = 0;
    for (const auto& p : net->parameters()) EXPECT_TRUE(at::equal(p, before[i++]));
    for (const auto& b : net->buffers()) EXPECT_TRUE(at::equal(b, before[i++]));
    EXPECT_EQ(evaluator.accuracy(64), dense);
  }
}

namespace {
/// Validation accuracy peaked at known ratios: 1 - 2 * sum_u (r_u - best_u)^2.
class PeakedEvaluator : public Evaluator {
 public:
  explicit PeakedEvaluator(std::vector<double> best) : best_(std::move(best)) {}
  double accuracy_with_ratios(const std::vector<double>& r, int64_t) override {
    double a = 1.0;
    for (size_t u = 0; u < r.size(); ++u) a -= 2.0 * (r[u] - best_[u]) * (r[u] - best_[u]);
    return a;
  }
  double accuracy(int64_t) override { return 1.0; }
  int64_t macs_with_ratios(const std::vector<double>& r) override { return int64_t(1e6 * (1.0 - sparsity_of(r, {1, 1, 1}))); }

 private:
  std::vector<double> best_;
};

double field(const std::string& json, const std::string& name) {
  const auto at = json.find("\"" + name + "\":");
  if (at == std::string::npos) throw std::runtime_error("no field " + name + " in " + json);
  return std::stod(json.substr(at + name.size() + 3));
}

std::vector<std::string> logs_of(const MemoryStore& store, const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& [k, j] : store.logs)
    if (k == kind) out.push_back(j);
  return out;
}
}  // namespace

TEST(Amc, AgentLearnsAToyProblemWithAKnownOptimum) {
  ThreeUnits f;
  // The optimum meets the target (mean 0.5) by itself, so it is reachable exactly.
  PeakedEvaluator e({0.2, 0.5, 0.8});
  MemoryStore store;
  auto policy = test::builtin_registry().make_ratio_policy("amc", Params({{"episodes", int64_t{150}}, {"warmup", int64_t{20}}}));
  RatioContext ctx{f.layers, f.units, f.scores, Granularity{}, 0.5, &e, 3, &store};
  const auto r = policy->ratios(ctx);
  EXPECT_NEAR(r[0], 0.2, 0.1);
  EXPECT_NEAR(r[1], 0.5, 0.1);
  EXPECT_NEAR(r[2], 0.8, 0.1);
  const auto episodes = logs_of(store, "amc_episode");
  ASSERT_EQ(episodes.size(), 150u);
  double random = 0, learned = 0;
  for (size_t i = 0; i < 20; ++i) random += field(episodes[i], "accuracy") / 20;
  for (size_t i = 130; i < 150; ++i) learned += field(episodes[i], "accuracy") / 20;
  // The trained agent's episodes are far better than the random warm-up ones.
  EXPECT_GT(learned, random + 0.3) << "random " << random << " learned " << learned;
  EXPECT_GT(learned, 0.9) << "random " << random;  // measured: 0.50 -> 0.93
}

TEST(Amc, EveryEpisodeMeetsTheHardBudget) {
  ThreeUnits f;
  f.scores[1].narrow(0, 0, 30).fill_(-std::numeric_limits<float>::infinity());  // a floor
  PeakedEvaluator e({0.0, 0.0, 0.0});  // the agent would rather prune nothing
  MemoryStore store;
  auto policy = test::builtin_registry().make_ratio_policy(
      "amc", Params({{"episodes", int64_t{30}}, {"warmup", int64_t{10}}, {"max_ratio", 0.8}}));
  RatioContext ctx{f.layers, f.units, f.scores, Granularity{}, 0.7, &e, 1, &store};
  const auto r = policy->ratios(ctx);
  EXPECT_NEAR(sparsity_of(r, {100, 100, 100}), 0.7, 1e-6);
  EXPECT_GE(r[1], 0.3);
  for (const auto& j : logs_of(store, "amc_episode")) {
    EXPECT_NEAR(field(j, "sparsity"), 0.7, 1e-6) << j;
    EXPECT_GE(field(j, "agent_sparsity"), 0.7 - 1e-9) << j;  // the clipped actions already meet it
  }
  // Same seed, same search.
  MemoryStore again;
  RatioContext ctx2{f.layers, f.units, f.scores, Granularity{}, 0.7, &e, 1, &again};
  EXPECT_EQ(policy->ratios(ctx2), r);
}

namespace {
/// Latency 10 + sum_u cost_u * (1 - r_u) ms; accuracy after fine-tuning 1 - sum_u s_u * r_u^2.
class FakeLatencyEvaluator : public Evaluator {
 public:
  FakeLatencyEvaluator(std::vector<double> cost, std::vector<double> s) : cost_(std::move(cost)), s_(std::move(s)) {}
  double accuracy_with_ratios(const std::vector<double>&, int64_t) override { return 0; }
  double accuracy(int64_t) override { return 1; }
  int64_t macs_with_ratios(const std::vector<double>&) override { return 0; }
  double latency_ms_with_ratios(const std::vector<double>& r) override {
    double ms = 10;
    for (size_t u = 0; u < r.size(); ++u) ms += cost_[u] * (1 - r[u]);
    return ms;
  }
  double accuracy_after_finetune(const std::vector<double>& r, int64_t steps, int64_t) override {
    last_steps = steps;
    double a = 1;
    for (size_t u = 0; u < r.size(); ++u) a -= s_[u] * r[u] * r[u];
    return a;
  }
  int64_t last_steps = -1;

 private:
  std::vector<double> cost_, s_;
};
}  // namespace

TEST(NetAdapt, EveryIterationMeetsItsLatencyTargetAndTheRunMeetsItsSparsity) {
  ThreeUnits f;
  for (auto& u : f.units) u.slices = 10, u.weights_per_slice = 10;
  for (auto& s : f.scores) s = at::rand({10});
  // Unit 0 is slow and insensitive: NetAdapt should take most from it.
  FakeLatencyEvaluator e({30, 10, 10}, {0.1, 1.0, 1.0});
  MemoryStore store;
  auto policy = test::builtin_registry().make_ratio_policy("netadapt", Params({{"short_steps", int64_t{7}}}));
  const Granularity channel{GranularityKind::Channel};
  RatioContext ctx{f.layers, f.units, f.scores, channel, 0.4, &e, 0, &store};
  const auto r = policy->ratios(ctx);
  EXPECT_NEAR(sparsity_of(r, {100, 100, 100}), 0.4, 1e-6);
  EXPECT_GT(r[0], r[1]);
  EXPECT_GT(r[0], r[2]);
  EXPECT_EQ(e.last_steps, 7);
  const auto iterations = logs_of(store, "netadapt_iteration");
  ASSERT_FALSE(iterations.empty());
  double previous = 60;  // the unpruned latency
  for (size_t i = 0; i < iterations.size(); ++i) {
    const auto& j = iterations[i];
    EXPECT_LE(field(j, "latency_ms"), field(j, "target_ms") + 1e-9) << j;
    // Each iteration cuts at least ΔR_i = reduction x start x decay^i (here always reachable).
    EXPECT_GE(previous - field(j, "latency_ms"), 0.05 * 60 * std::pow(0.96, double(i)) - 1e-9) << j;
    previous = field(j, "latency_ms");
  }
  ASSERT_EQ(logs_of(store, "netadapt").size(), 1u);
  RatioContext element{f.layers, f.units, f.scores, Granularity{}, 0.4, &e, 0, &store};
  EXPECT_THROW(policy->ratios(element), std::runtime_error);
}

TEST(LatencyTable, PrunedChannelsAreFasterAndEntriesAreReusedFromTheStore) {
  torch::manual_seed(0);
  auto net = test::make_builtin("resnet20", {1, 28, 28, 10});
  net->probe(at::randn({1, 1, 28, 28}));  // the layers learn their input sizes
  MaskSet masks(*net);
  const UnitLayout layout(masks, {GranularityKind::Channel});
  MemoryStore store;
  LatencyTable table(&store, 8, at::kCPU);
  const auto dense = table.model_ms(masks, masks.masks(), masks.channel_masks());
  std::vector<at::Tensor> unit_masks;
  for (const auto& u : layout.units()) unit_masks.push_back(at::arange(u.slices).lt(u.slices / 4).to(at::kFloat));
  const auto pruned_masks = layout.expand(unit_masks);  // each block's conv1 keeps a quarter
  const auto pruned = table.model_ms(masks, pruned_masks.weight, pruned_masks.channel);
  EXPECT_GT(dense, 0);
  EXPECT_LT(pruned, dense);
  table.flush();
  EXPECT_FALSE(store.curves.empty());
  // A second table (a later run) reads the same numbers instead of timing again.
  LatencyTable later(&store, 8, at::kCPU);
  EXPECT_EQ(later.model_ms(masks, pruned_masks.weight, pruned_masks.channel), pruned);
}

TEST(Grid, SearchingPoliciesLogTheirSearchAndShareItAcrossRuns) {
  const auto dir = test::scratch_dir("search");
  const std::string yaml = R"(version: 1
name: search
seeds: [1]
threads: 1
data: {dataset: synthetic, val_size: 200, synthetic_train: 800, synthetic_test: 300}
model: lenet300
train: {epochs: 2, batch_size: 50, lr: 0.05}
finetune: {epochs: 0.5}
eval: {latency_repeats: 0, save_models: false}
prune:
  criterion: magnitude
  ratio_policy:
    - {type: sensitivity, samples: 100}
    - {type: amc, episodes: 8, warmup: 4, samples: 100}
    - {type: netadapt, short_steps: 2, samples: 100, reduction: 0.2}
  granularity: channel
  schedule: [{type: one_shot, epochs: 0}, one_shot]
  sparsity: [0.5]
)";
  auto exp = parse_experiment(yaml, "search.yaml", test::builtin_registry());
  GridOptions o;
  o.db_path = dir + "/s.db";
  o.quiet = true;
  o.share_first_steps = false;  // this test is about the policies' own reuse of their searches
  ASSERT_EQ(run_grid(exp, test::builtin_registry(), o).done, 6);
  SQLite::Database db(dir + "/s.db");
  auto count = [&](const std::string& sql) { return db.execAndGet(sql).getInt(); };
  EXPECT_EQ(count("SELECT COUNT(*) FROM search_log WHERE kind = 'sensitivity'"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM search_log WHERE kind = 'amc_episode'"), 8);  // searched once,
  EXPECT_EQ(count("SELECT COUNT(*) FROM search_log WHERE kind = 'amc_reused'"), 1);   // reused by the other run
  EXPECT_EQ(count("SELECT COUNT(*) FROM search_log WHERE kind = 'netadapt'"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM search_log WHERE kind = 'netadapt_reused'"), 1);
  EXPECT_GE(count("SELECT COUNT(*) FROM search_log WHERE kind = 'netadapt_iteration'"), 1);
  EXPECT_EQ(count("SELECT COUNT(DISTINCT kind) FROM curves"), 4);  // sensitivity, latency, amc_ratios, netadapt_ratios
  // Prune-only and fine-tuned runs of one policy pruned with the same ratios.
  EXPECT_EQ(count("SELECT COUNT(*) FROM layers a JOIN runs ra ON ra.id = a.run_id JOIN layers b ON b.layer = a.layer "
                  "JOIN runs rb ON rb.id = b.run_id WHERE ra.ratio_policy = rb.ratio_policy AND ra.id < rb.id AND a.step = 1 "
                  "AND b.step = 1 AND ABS(a.ratio - b.ratio) > 1e-12"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM results WHERE is_final AND ABS(achieved_sparsity - 0.5) > 0.02"), 0);
  PlotSpec spec;
  spec.kind = "sensitivity";
  spec.out = dir + "/sens.png";
  make_plot(db, spec);
  EXPECT_GT(std::filesystem::file_size(spec.out), 2000u);
}

TEST(RatioTools, FitToTargetKeepsTheShapeAndRespectsCeilings) {
  // Shape (0.2, 0.4) scaled by 1.5 meets 0.45 of two equal units.
  auto r = fit_to_target({0.2, 0.4}, {0.0, 0.0}, {1, 1}, 0.45);
  EXPECT_NEAR(r[0], 0.3, 1e-9);
  EXPECT_NEAR(r[1], 0.6, 1e-9);
  // A channel unit of 10 keeps one channel: a ceiling of 0.9 is never exceeded, the rest of the
  // target goes to the other unit.
  r = fit_to_target({0.5, 0.5}, {0.0, 0.0}, {1, 1}, 0.9, {0.9, 1.0});
  EXPECT_NEAR(r[0], 0.9, 1e-9);
  EXPECT_NEAR(r[1], 0.9, 1e-9);
  r = fit_to_target({0.9, 0.1}, {0.0, 0.0}, {1, 1}, 0.92, {0.9, 1.0});
  EXPECT_LE(r[0], 0.9 + 1e-12);
  EXPECT_NEAR(sparsity_of(r, {1, 1}), 0.92, 1e-9);
  // Everything at its floor: all go the same share of the way up.
  r = fit_to_target({0.2, 0.0}, {0.2, 0.0}, {1, 1}, 0.6);
  EXPECT_NEAR(sparsity_of(r, {1, 1}), 0.6, 1e-9);
}
