// Errors people read (core/errors, util/errors): one line in runs.error and on the terminal,
// the full text with LibTorch's stack trace only in the debug log.
#include "config/config_loader.hpp"
#include "run/grid_runner.hpp"
#include "test_support.hpp"
#include "core/errors.hpp"
#include "util/errors.hpp"

#include <ATen/ATen.h>
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>

#include <filesystem>
#include <fstream>

using namespace prunelab;

namespace {
std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(Errors, ALibTorchErrorBecomesItsFirstLineWithoutTheStackTrace) {
  try {
    TORCH_CHECK(false, "the check ", 7, " failed\nwith details");
    FAIL();
  } catch (const c10::Error& e) {
    ASSERT_NE(std::string(e.what()).find("frame #"), std::string::npos) << "LibTorch's what() carries its stack";
    const std::string line = one_line(e);
    EXPECT_EQ(line, "the check 7 failed");
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_EQ(line.find("frame #"), std::string::npos) << line;
    EXPECT_EQ(line.find("Exception raised from"), std::string::npos) << line;
  }
  // A truncated archive: what a corrupt checkpoint used to put into runs.error.
  const auto dir = test::scratch_dir("errors");
  std::ofstream(dir + "/bad.pt") << "PK\x03\x04 not really a zip archive";
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(dir + "/bad.pt");
    FAIL();
  } catch (const std::exception& e) {
    const std::string line = one_line(e);
    EXPECT_NE(line.find("PytorchStreamReader"), std::string::npos) << line;
    EXPECT_EQ(line.find("frame #"), std::string::npos) << line;
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  }
}

TEST(Errors, AFailedRunStoresOneLineAndTheDebugLogTheWholeTrace) {
  const auto dir = test::scratch_dir("errors_grid");
  PluginRegistry registry;
  registry.load_directory(PLUGIN_DIR);
  registry.load_file(EXPLODING_PLUGIN);
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("criterion: magnitude"), 20, "criterion: torch_error");
  cfg.replace(cfg.find("sparsity: [0.5, 0.9]"), 20, "sparsity: [0.5]");
  cfg.replace(cfg.find("ratio_policy: [uniform, global]"), 31, "ratio_policy: uniform");
  cfg.replace(cfg.find("schedule: [{type: one_shot, epochs: 0}, one_shot, iterative]"), 60, "schedule: one_shot");
  auto exp = parse_experiment(cfg, "tiny.yaml", registry);
  GridOptions o;
  o.db_path = dir + "/r.db";
  o.quiet = true;
  set_debug_log(dir + "/debug.log");
  const auto s = run_grid(exp, registry, o);
  set_debug_log("");
  EXPECT_EQ(s.failed, 1);
  SQLite::Database db(o.db_path);
  const std::string error = db.execAndGet("SELECT error FROM runs").getString();
  EXPECT_NE(error.find("open file failed"), std::string::npos) << error;
  EXPECT_NE(error.find("/nonexistent/prunelab-test.pt"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_EQ(error.find("frame #"), std::string::npos) << error;
  const std::string log = read(dir + "/debug.log");
  EXPECT_NE(log.find("run 0 of tiny"), std::string::npos) << log;
  EXPECT_NE(log.find("open file failed"), std::string::npos) << log;
  EXPECT_TRUE(log.find("frame #") != std::string::npos || log.find("Exception raised from") != std::string::npos) << log;
}

TEST(Errors, WarningsGoToTheInstalledSinkThenBack) {
  std::vector<std::string> got;
  {
    WarningSink sink([&](const std::string& m) { got.push_back(m); });
    warn("one");
    {
      WarningSink inner([&](const std::string& m) { got.push_back("inner " + m); });
      warn("two");
    }
    warn("three");
  }
  EXPECT_EQ(got, (std::vector<std::string>{"one", "inner two", "three"}));
}
