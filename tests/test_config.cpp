#include "config/config_loader.hpp"
#include "core/json.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <set>

using namespace prunelab;

namespace {
Experiment parse(const std::string& text) { return parse_experiment(text, "exp.yaml", test::builtin_registry()); }

// Parses `text` expecting a ConfigError; returns it for inspection.
ConfigError parse_error(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << text;
  return ConfigError("", 0, 0, "", "");
}

const char* kMinimal = R"(version: 1
name: m
model: lenet300
prune:
  criterion: magnitude
  ratio_policy: uniform
  schedule: one_shot
  sparsity: 0.5
)";
}  // namespace

TEST(Config, ExpandsTheCartesianGridInStableOrder) {
  auto exp = parse(test::tiny_config());
  EXPECT_EQ(exp.name, "tiny");
  ASSERT_EQ(exp.runs.size(), 2u * 3u * 2u);
  EXPECT_EQ(exp.runs[0].ratio_policy.type, "uniform");
  EXPECT_EQ(exp.runs[0].schedule.label(), "one_shot(epochs=0)");
  EXPECT_EQ(exp.runs[2].schedule.label(), "one_shot");
  EXPECT_DOUBLE_EQ(exp.runs[1].sparsity, 0.9);
  EXPECT_EQ(exp.runs.back().ratio_policy.type, "global");
  std::set<std::string> hashes;
  for (const auto& r : exp.runs) hashes.insert(r.hash());
  EXPECT_EQ(hashes.size(), exp.runs.size());
  // Defaults are filled in: the fine-tuning LR is a tenth of the dense one.
  EXPECT_DOUBLE_EQ(exp.runs[0].finetune.optim.lr, 0.005);
  EXPECT_DOUBLE_EQ(exp.runs[0].schedule.params.get_number("epochs"), 0.0);
  EXPECT_DOUBLE_EQ(exp.runs[2].schedule.params.get_number("epochs"), -1.0);
}

TEST(Config, HashIsStableAndIgnoresKeyOrderAndNumberSpelling) {
  EXPECT_EQ(stable_hash("a"), "af63dc4c8601ec8c");  // FNV-1a 64, pinned
  auto a = parse(kMinimal);
  auto b = parse(R"(version: 1
prune: {sparsity: 0.50, schedule: one_shot, ratio_policy: uniform, criterion: {type: magnitude, p: 1}}
model: lenet300
name: m
)");
  ASSERT_EQ(a.runs.size(), 1u);
  // p: 1 written explicitly equals the default, so the run is the same run.
  EXPECT_EQ(a.runs[0].hash(), b.runs[0].hash());
  auto c = parse(std::string(kMinimal) + "seed: 2\n");
  EXPECT_NE(a.runs[0].hash(), c.runs[0].hash());
  EXPECT_NE(a.runs[0].dense_hash(), c.runs[0].dense_hash());
  // Pruning settings do not change which dense model is used.
  auto d = parse(R"(version: 1
name: m
model: lenet300
prune: {criterion: magnitude, ratio_policy: global, schedule: iterative, sparsity: 0.9}
)");
  EXPECT_EQ(a.runs[0].dense_hash(), d.runs[0].dense_hash());
  EXPECT_NE(a.runs[0].hash(), d.runs[0].hash());
}

TEST(Config, ExcludeRulesDropMatchingRuns) {
  auto exp = parse(test::tiny_config() + "exclude:\n  - {schedule: iterative, sparsity: 0.5}\n  - {ratio_policy: global, schedule: 'one_shot(epochs=0)'}\n");
  // 12 runs - 2 (iterative at 0.5, both policies) - 2 (global prune-only at both sparsities).
  EXPECT_EQ(exp.runs.size(), 8u);
  for (const auto& r : exp.runs) {
    EXPECT_FALSE(r.schedule.type == "iterative" && r.sparsity == 0.5);
    EXPECT_FALSE(r.ratio_policy.type == "global" && r.schedule.label() == "one_shot(epochs=0)");
  }
}

TEST(ConfigErrors, UnknownTopLevelKeyNamesLineAndValidKeys) {
  auto e = parse_error(std::string(kMinimal) + "epochz: 3\n");
  EXPECT_EQ(e.line, 9);
  EXPECT_EQ(e.column, 1);
  EXPECT_EQ(e.key, "epochz");
  EXPECT_NE(std::string(e.what()).find("exp.yaml:9:1"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("valid keys:"), std::string::npos);
}

TEST(ConfigErrors, UnknownNestedKey) {
  auto e = parse_error(std::string(kMinimal) + "train:\n  epochs: 2\n  learning_rate: 0.1\n");
  EXPECT_EQ(e.line, 11);
  EXPECT_EQ(e.key, "train.learning_rate");
}

TEST(ConfigErrors, UnknownCriterionListsKnownOnes) {
  auto e = parse_error(R"(version: 1
model: lenet300
prune:
  criterion: magnitud
  ratio_policy: uniform
  schedule: one_shot
  sparsity: 0.5
)");
  EXPECT_EQ(e.line, 4);
  EXPECT_EQ(e.column, 14);
  EXPECT_EQ(e.key, "prune.criterion");
  EXPECT_NE(std::string(e.what()).find("unknown criterion 'magnitud' (known: bn_scale, fpgm, magnitude, obd, obs, random, reconstruction, taylor)"), std::string::npos) << e.what();
  // ... and where plugins were looked for, and how to add a directory.
  EXPECT_NE(std::string(e.what()).find(std::string("plugins were looked for in ") + PLUGIN_DIR), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("--plugin-dir DIR or $PRUNELAB_PLUGIN_PATH"), std::string::npos) << e.what();
}

TEST(ConfigErrors, UnknownPluginParameterListsAcceptedOnes) {
  auto e = parse_error(R"(version: 1
model: lenet300
prune:
  criterion: magnitude
  ratio_policy: uniform
  schedule:
    - one_shot
    - {type: iterative, stepz: [0.3]}
  sparsity: 0.5
)");
  EXPECT_EQ(e.line, 8);
  EXPECT_EQ(e.key, "prune.schedule.stepz");
  EXPECT_NE(std::string(e.what()).find("accepted: steps, start, increment, epochs, budget"), std::string::npos) << e.what();
}

TEST(ConfigErrors, WrongTypes) {
  auto e = parse_error(std::string(kMinimal) + "train: {lr: fast}\n");
  EXPECT_EQ(e.line, 9);
  EXPECT_EQ(e.key, "train.lr");
  EXPECT_NE(std::string(e.what()).find("expected a number, got 'fast'"), std::string::npos);
  auto p = parse_error(R"(version: 1
model: lenet300
prune: {criterion: {type: magnitude, p: "two"}, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5}
)");
  EXPECT_EQ(p.line, 3);
  EXPECT_EQ(p.key, "prune.criterion.p");
}

TEST(ConfigErrors, BadValues) {
  auto s = parse_error(R"(version: 1
model: lenet300
prune: {criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: [0.5, 1.5]}
)");
  EXPECT_EQ(s.line, 3);
  EXPECT_EQ(s.key, "prune.sparsity");
  auto m = parse_error(std::string(kMinimal) + "device: tpu\n");
  EXPECT_NE(std::string(m.what()).find("'tpu' is not one of: cpu, cuda, auto"), std::string::npos);
  auto g = parse_error(R"(version: 1
model: resnet21
prune: {criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5}
)");
  EXPECT_EQ(g.line, 2);
  EXPECT_NE(std::string(g.what()).find("lenet300, lenet5, resnet20"), std::string::npos);
  auto gran = parse_error(std::string(kMinimal) + "  granularity: {type: pattern, n: 4, m: 4}\n");
  EXPECT_EQ(gran.key, "prune.granularity");
  auto recal = parse_error(std::string(kMinimal) + "finetune: {recalibrate_bn: -2}\n");
  EXPECT_EQ(recal.key, "finetune.recalibrate_bn");
}

TEST(ConfigErrors, MissingVersionAndSections) {
  EXPECT_EQ(parse_error("name: x\nmodel: lenet300\n").key, "version");
  EXPECT_EQ(parse_error("version: 2\n").key, "version");
  auto e = parse_error("version: 1\nmodel: lenet300\nprune: {criterion: magnitude}\n");
  EXPECT_EQ(e.key, "prune.ratio_policy");
  EXPECT_EQ(e.line, 3);
}

TEST(ConfigErrors, YamlSyntaxErrorHasLine) {
  auto e = parse_error("version: 1\nmodel: [lenet300\nprune: 3\n");
  EXPECT_EQ(e.key, "<yaml>");
  EXPECT_GE(e.line, 2);
}

TEST(ConfigErrors, DuplicateGridEntries) {
  auto e = parse_error(R"(version: 1
model: lenet300
prune: {criterion: magnitude, ratio_policy: [uniform, uniform], schedule: one_shot, sparsity: 0.5}
)");
  EXPECT_NE(std::string(e.what()).find("same run"), std::string::npos);
}

TEST(ConfigErrors, PluginConstructorChecksFailAtParseTimeWithALine) {
  auto e = parse_error(R"(version: 1
model: lenet300
prune:
  criterion: magnitude
  ratio_policy: uniform
  schedule: {type: iterative, increment: 0}
  sparsity: 0.5
)");
  EXPECT_EQ(e.line, 6);
  EXPECT_EQ(e.key, "prune.schedule.increment");
  EXPECT_NE(std::string(e.what()).find("'increment' of schedule 'iterative' must be in [0.01, 1) (got 0)"), std::string::npos)
      << e.what();
}

TEST(ConfigErrors, PatternSparsityMustMatchNOfM) {
  auto e = parse_error(std::string(kMinimal) + "  granularity: {type: pattern, n: 1, m: 4}\n");
  EXPECT_EQ(e.key, "prune.sparsity");
  EXPECT_NE(std::string(e.what()).find("prunes exactly 0.75"), std::string::npos) << e.what();
  auto ok = parse(R"(version: 1
model: lenet300
prune: {criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.75, granularity: {type: pattern, n: 1, m: 4}}
)");
  EXPECT_EQ(ok.runs[0].granularity.name(), "pattern1:4");
}

TEST(ConfigErrors, ExclusionThatMatchesNothing) {
  auto e = parse_error(test::tiny_config() + "exclude:\n  - {schedule: iterativ}\n");
  EXPECT_EQ(e.key, "exclude");
  EXPECT_EQ(e.line, 15);
}

TEST(Config, ChannelScopeIsInnerByDefaultAndPartOfTheHash) {
  auto inner = parse(R"(version: 1
model: resnet20
prune: {criterion: magnitude, ratio_policy: uniform, schedule: one_shot, sparsity: 0.5, granularity: [channel, {type: channel, scope: coupled}]}
)");
  ASSERT_EQ(inner.runs.size(), 2u);
  EXPECT_FALSE(inner.runs[0].granularity.coupled);
  EXPECT_EQ(inner.runs[0].granularity.name(), "channel");
  EXPECT_TRUE(inner.runs[1].granularity.coupled);
  EXPECT_EQ(inner.runs[1].granularity.name(), "channel-coupled");
  EXPECT_NE(inner.runs[0].hash(), inner.runs[1].hash());
  auto e = parse_error(std::string(kMinimal) + "  granularity: {type: element, scope: coupled}\n");
  EXPECT_EQ(e.key, "prune.granularity.scope");
  e = parse_error(std::string(kMinimal) + "  granularity: {type: channel, scope: outer}\n");
  EXPECT_NE(std::string(e.what()).find("inner, coupled"), std::string::npos) << e.what();
  e = parse_error(std::string(kMinimal) + "eval: {latency_repeats: -1}\n");
  EXPECT_EQ(e.key, "eval.latency_repeats");
}

TEST(Config, NewPluginParametersAtTheirDefaultsKeepOldHashes) {
  // `count`, `rule` and `lr` were added to iterative after runs had been recorded: a config that
  // leaves them alone must hash as before (canonical JSON without them), one that sets them not.
  auto plain = parse(std::string(kMinimal).replace(std::string(kMinimal).find("schedule: one_shot"), 18, "schedule: iterative"));
  const auto json = plain.runs[0].canonical_json();
  EXPECT_EQ(json.find("\"count\""), std::string::npos) << json;
  EXPECT_EQ(json.find("\"rule\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"budget\""), std::string::npos) << json;  // released parameters stay in
  auto counted = parse(std::string(kMinimal).replace(std::string(kMinimal).find("schedule: one_shot"), 18,
                                                     "schedule: {type: iterative, count: 3}"));
  EXPECT_NE(counted.runs[0].canonical_json().find("\"count\":3"), std::string::npos);
  EXPECT_NE(counted.runs[0].hash(), plain.runs[0].hash());
  // Likewise finetune.recalibrate_bn: absent (0) leaves the canonical JSON as it was.
  EXPECT_EQ(parse(kMinimal).runs[0].canonical_json().find("recalibrate_bn"), std::string::npos);
  auto recal = parse(std::string(kMinimal) + "finetune: {recalibrate_bn: 20}\n");
  EXPECT_NE(recal.runs[0].canonical_json().find("\"recalibrate_bn\":20"), std::string::npos);
  EXPECT_NE(recal.runs[0].hash(), parse(kMinimal).runs[0].hash());
}

TEST(ConfigErrors, EveryNumberMustBeFinite) {
  // `.nan` and `.inf` are numbers to YAML; none of them can be a right setting.
  for (const char* extra : {"train: {lr: .nan}\n", "train: {momentum: .inf}\n", "finetune: {epochs: .nan}\n",
                            "finetune: {distill: {temperature: .inf}}\n", "train: {weight_decay: -.inf}\n"}) {
    auto e = parse_error(std::string(kMinimal) + extra);
    EXPECT_EQ(e.line, 9) << extra;
    EXPECT_NE(std::string(e.what()).find("must be a finite number"), std::string::npos) << e.what();
  }
  auto p = parse_error(std::string(kMinimal).replace(std::string(kMinimal).find("criterion: magnitude"), 20,
                                                     "criterion: {type: magnitude, p: .nan}"));
  EXPECT_EQ(p.key, "prune.criterion.p");
  EXPECT_NE(std::string(p.what()).find("must be a finite number, got '.nan'"), std::string::npos) << p.what();
  auto s = parse_error(std::string(kMinimal).replace(std::string(kMinimal).find("sparsity: 0.5"), 13, "sparsity: [0.5, .nan]"));
  EXPECT_EQ(s.key, "prune.sparsity");
}

TEST(ConfigErrors, NumbersOutsideTheirRange) {
  struct Case { const char* extra; const char* key; const char* says; };
  for (const auto& c : {Case{"threads: -1\n", "threads", "must be in [0, 1024] (got -1)"},
                        Case{"threads: 100000\n", "threads", "must be in [0, 1024]"},
                        Case{"train: {momentum: 1.0}\n", "train.momentum", "must be in [0, 1)"},
                        Case{"train: {weight_decay: -0.1}\n", "train.weight_decay", "must be >= 0"},
                        Case{"train: {epochs: 1e9}\n", "train.epochs", "<= 1000000"},
                        Case{"finetune: {momentum: -0.5}\n", "finetune.momentum", "must be in [0, 1)"},
                        Case{"eval: {batch_size: 0}\n", "eval.batch_size", "must be >= 1 (got 0)"}}) {
    auto e = parse_error(std::string(kMinimal) + c.extra);
    EXPECT_EQ(e.key, c.key) << c.extra;
    EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
  }
  auto seeds = parse_error(std::string(kMinimal) + "seeds: [1, -3]\n");
  EXPECT_EQ(seeds.key, "seeds");
  EXPECT_EQ(seeds.column, 12);
}

TEST(ConfigErrors, DeclaredParameterRangesTypesAndChoicesPointAtTheKey) {
  auto with_schedule = [](const std::string& schedule) {
    return std::string(kMinimal).replace(std::string(kMinimal).find("schedule: one_shot"), 18, "schedule: " + schedule);
  };
  auto type = parse_error(with_schedule("{type: iterative, count: 2.5}"));
  EXPECT_EQ(type.key, "prune.schedule.count");
  EXPECT_EQ(type.line, 7);
  EXPECT_EQ(type.column, 38);  // the value, not the mapping
  EXPECT_NE(std::string(type.what()).find("must be an integer (got 2.5)"), std::string::npos) << type.what();
  auto choice = parse_error(with_schedule("{type: iterative, budget: all}"));
  EXPECT_EQ(choice.key, "prune.schedule.budget");
  EXPECT_NE(std::string(choice.what()).find("must be one of: total, per_step (got 'all')"), std::string::npos) << choice.what();
  auto list = parse_error(with_schedule("{type: iterative, steps: [0.3, 1.5]}"));
  EXPECT_EQ(list.key, "prune.schedule.steps");
  EXPECT_NE(std::string(list.what()).find("entry 2 must be in (0, 1) (got 1.5)"), std::string::npos) << list.what();
  // A check only the plugin can make (two parameters together) names its key with ParamError.
  auto both = parse_error(with_schedule("{type: iterative, steps: [0.3], count: 3}"));
  EXPECT_EQ(both.key, "prune.schedule.count");
  EXPECT_EQ(both.column, 52);
}

TEST(ConfigErrors, LongScalarsAreRefusedWithoutOverflowingTheStack) {
  // A 200 000-digit parameter value used to crash the loader (std::regex recursed per character).
  auto e = parse_error(std::string(kMinimal).replace(std::string(kMinimal).find("criterion: magnitude"), 20,
                                                     "criterion: {type: magnitude, p: " + std::string(200000, '7') + "}"));
  EXPECT_EQ(e.key, "prune.criterion.p");
  EXPECT_LT(std::string(e.what()).size(), 700u);  // and the message stays one readable line
  auto name = parse_error("version: 1\nname: " + std::string(200000, 'a') + "/\nmodel: lenet300\n");
  EXPECT_EQ(name.key, "name");
}

TEST(Config, AGridAtTheLimitExpandsInSecondsAndALargerOneIsRefusedAtOnce) {
  auto grid = [](int sparsities, int seeds) {
    std::string text = "version: 1\nname: big\nmodel: lenet300\nseeds: [";
    for (int i = 0; i < seeds; ++i) text += (i ? ", " : "") + std::to_string(i);
    text += "]\nprune:\n  criterion: magnitude\n  ratio_policy: [uniform, global]\n  schedule: [one_shot, iterative]\n"
            "  sparsity: [";
    for (int i = 0; i < sparsities; ++i) text += (i ? ", " : "") + fmt::format("{}", 0.0005 * (i + 1));
    return text + "]\n";
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto exp = parse(grid(1000, 25));  // 2 x 2 x 1000 x 25 = 100 000 runs, the limit
  EXPECT_EQ(exp.runs.size(), static_cast<size_t>(kMaxGridRuns));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 60.0);  // ~2 s idle
  const auto t1 = std::chrono::steady_clock::now();
  auto e = parse_error(grid(1000, 75));  // 300 000
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(), 5.0);
  EXPECT_EQ(e.key, "prune");
  EXPECT_NE(std::string(e.what()).find("= 300000 runs before exclusions, more than the limit of 100000"), std::string::npos)
      << e.what();
}
