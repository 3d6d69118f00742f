// Caches that heal (run/cache_integrity): a truncated or damaged dense checkpoint, rewind
// snapshot, first-step entry or latency table is found, reported in one line and rebuilt; the
// runs that need it succeed.
#include "config/config_loader.hpp"
#include "models/model_spec.hpp"
#include "prune/masks.hpp"
#include "run/cache_integrity.hpp"
#include "run/dense_cache.hpp"
#include "run/first_step_cache.hpp"
#include "run/grid_runner.hpp"
#include "run/progress.hpp"
#include "run/search_store.hpp"
#include "store/result_store.hpp"
#include "test_support.hpp"
#include "util/errors.hpp"

#include <ATen/ATen.h>
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace prunelab;
namespace fs = std::filesystem;

namespace {
const c10::Device kCpu(c10::kCPU);

struct Fixture {
  Experiment exp = parse_experiment(test::tiny_config(), "tiny.yaml", test::builtin_registry());
  const RunSpec& run = exp.runs[0];
  DataSplits data = load_data(run.data);
  Progress quiet{1, /*quiet=*/true};
};

// Collects warn() lines while alive.
struct Warnings {
  std::vector<std::string> lines;
  WarningSink sink{[this](const std::string& m) { lines.push_back(m); }};
  bool any(const std::string& part) const {
    for (const auto& l : lines)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
};

bool same_weights(Model& a, Model& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  if (pa.size() != pb.size()) return false;
  for (size_t i = 0; i < pa.size(); ++i)
    if (!at::equal(pa[i], pb[i])) return false;
  return true;
}

void flip_a_byte(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(fs::file_size(path) / 2));
  char c = 0;
  f.read(&c, 1);
  f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
  c = static_cast<char>(c ^ 0x5a);
  f.write(&c, 1);
}

std::string meta_text(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(CacheIntegrity, ATruncatedDenseCheckpointIsReportedAndRetrainedToTheSameModel) {
  Fixture f;
  const auto dir = test::scratch_dir("heal_dense");
  DenseCache trainer(dir);
  const DenseModel& first = trainer.get(f.run, f.data, kCpu, f.quiet);
  DenseCache writer(dir);
  const auto path = writer.checkpoint_path(f.run);
  auto reference = writer.get(f.run, f.data, kCpu, f.quiet).net;  // loaded: verified
  EXPECT_NE(meta_text(path + ".meta").find("crc32="), std::string::npos);
  EXPECT_EQ(check_cache_entry(path, path + ".meta").state, CacheEntryState::Verified);
  fs::resize_file(path, fs::file_size(path) / 2);  // a full disk, a bad copy
  EXPECT_EQ(check_cache_entry(path, path + ".meta").state, CacheEntryState::Corrupt);
  {
    Warnings w;
    DenseCache cache(dir);
    const DenseModel& healed = cache.get(f.run, f.data, kCpu, f.quiet);
    EXPECT_FALSE(healed.from_cache);
    ASSERT_EQ(w.lines.size(), 1u);
    EXPECT_TRUE(w.any("dense checkpoint '" + path + "' is corrupt")) << w.lines[0];
    EXPECT_TRUE(w.any("truncated")) << w.lines[0];
    EXPECT_TRUE(same_weights(*healed.net, *reference));  // deterministic training: the same model
    EXPECT_DOUBLE_EQ(healed.top1, first.top1);
  }
  Warnings none;
  EXPECT_TRUE(DenseCache(dir).get(f.run, f.data, kCpu, f.quiet).from_cache);
  EXPECT_TRUE(none.lines.empty());
}

TEST(CacheIntegrity, ADamagedByteOrAGarbledSidecarIsRebuiltToo) {
  Fixture f;
  const auto dir = test::scratch_dir("heal_byte");
  DenseCache(dir).get(f.run, f.data, kCpu, f.quiet);
  const auto path = DenseCache(dir).checkpoint_path(f.run);
  flip_a_byte(path);
  {
    Warnings w;
    EXPECT_FALSE(DenseCache(dir).get(f.run, f.data, kCpu, f.quiet).from_cache);
    EXPECT_TRUE(w.any("CRC-32")) << (w.lines.empty() ? "" : w.lines[0]);
  }
  std::ofstream(path + ".meta") << "top1=not a number\ntop1_val=0.5\n";
  EXPECT_FALSE(DenseCache(dir).get(f.run, f.data, kCpu, f.quiet).from_cache);  // no exception: retrained
  EXPECT_TRUE(DenseCache(dir).get(f.run, f.data, kCpu, f.quiet).from_cache);
}

TEST(CacheIntegrity, CheckpointsFromBeforeChecksumsStillLoadAndGainOne) {
  Fixture f;
  const auto dir = test::scratch_dir("heal_legacy");
  DenseCache(dir).get(f.run, f.data, kCpu, f.quiet);
  const auto path = DenseCache(dir).checkpoint_path(f.run);
  std::string meta = meta_text(path + ".meta");
  const auto legacy = meta.substr(0, meta.find("size="));  // as an older runner wrote it
  std::ofstream(path + ".meta") << legacy;
  EXPECT_EQ(check_cache_entry(path, path + ".meta").state, CacheEntryState::Unverified);
  EXPECT_TRUE(DenseCache(dir).get(f.run, f.data, kCpu, f.quiet).from_cache);
  EXPECT_EQ(check_cache_entry(path, path + ".meta").state, CacheEntryState::Verified);
  // An old entry that does not load is rebuilt, with the loader's message in one line.
  std::ofstream(path + ".meta") << legacy;
  fs::resize_file(path, 100);
  Warnings w;
  EXPECT_FALSE(DenseCache(dir).get(f.run, f.data, kCpu, f.quiet).from_cache);
  ASSERT_EQ(w.lines.size(), 1u);
  EXPECT_TRUE(w.any("cannot be read")) << w.lines[0];
  EXPECT_EQ(w.lines[0].find("frame #"), std::string::npos) << w.lines[0];
}

TEST(CacheIntegrity, ADamagedRewindSnapshotIsReplayedAgain) {
  Fixture f;
  const auto dir = test::scratch_dir("heal_snapshot");
  auto original = DenseCache(dir).snapshot(f.run, f.data, kCpu, f.quiet, 5);
  const auto path = dir + "/dense-" + f.run.model.label() + "-" + f.run.dense_hash() + "-step5.pt";
  ASSERT_TRUE(fs::exists(path + ".meta"));
  fs::resize_file(path, fs::file_size(path) - 10);
  Warnings w;
  auto replayed = DenseCache(dir).snapshot(f.run, f.data, kCpu, f.quiet, 5);
  EXPECT_TRUE(w.any("rewind snapshot '" + path + "' is corrupt"));
  EXPECT_TRUE(same_weights(*original, *replayed));
  EXPECT_EQ(check_cache_entry(path, path + ".meta").state, CacheEntryState::Verified);
}

TEST(CacheIntegrity, ADamagedFirstStepIsRecomputedWithoutTouchingTheModel) {
  Fixture f;
  const auto dir = test::scratch_dir("heal_first_step");
  auto net = make_model(f.run.model, f.data.shape);
  MaskSet masks(*net);
  masks.masks()[0].zero_();
  FirstStepCache cache(dir);
  cache.save("k", *net, masks, {{0.5, 0.25}, "source"});
  auto fresh = make_model(f.run.model, f.data.shape);
  auto before = make_model(f.run.model, f.data.shape);
  copy_state(*fresh, *before);
  MaskSet fresh_masks(*fresh);
  ASSERT_TRUE(cache.load("k", *fresh, fresh_masks, kCpu).has_value());
  const auto file = dir + "/first-step-k.pt";
  flip_a_byte(file);
  auto other = make_model(f.run.model, f.data.shape);
  copy_state(*before, *other);
  MaskSet other_masks(*other);
  Warnings w;
  EXPECT_FALSE(cache.load("k", *other, other_masks, kCpu).has_value());
  EXPECT_TRUE(w.any("cached first pruning step '" + file + "' is corrupt"));
  EXPECT_TRUE(same_weights(*other, *before)) << "a damaged entry was read into the model";
  // Entries written before checksums are recomputed once (a failed load could not be undone).
  fs::remove(file + ".meta");
  EXPECT_FALSE(cache.load("k", *other, other_masks, kCpu).has_value());
}

TEST(CacheIntegrity, DamagedLatencyEntriesAreDroppedFromTheDatabaseAndMeasuredAgain) {
  ResultStore store(":memory:");
  Fixture f;
  RunSearchStore search(store, f.run, 1, "code");
  store.save_curves("latency", "conv k3", {{"16", 32, 0.25}, {"abc", 8, 0.1}, {"8", 4, 0.0},
                                           {"8", 0, 0.5}, {"-3", 4, 0.5}, {"4", 4, -1.0}});
  Warnings w;
  const auto points = search.load_curves("latency", "conv k3");
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].label, "16");
  EXPECT_TRUE(w.any("5 of 6 stored entries are damaged")) << (w.lines.empty() ? "" : w.lines[0]);
  EXPECT_EQ(store.load_curves("latency", "conv k3").size(), 1u);  // healed in the database
  EXPECT_EQ(search.load_curves("sensitivity", "x").size(), 0u);
}

TEST(CacheIntegrity, AGridWhoseDenseCheckpointWasTruncatedRunsInsteadOfFailing) {
  // Before: every run needing the checkpoint failed with LibTorch's "PytorchStreamReader failed
  // reading zip archive" and its C++ stack frames in runs.error.
  const auto dir = test::scratch_dir("heal_grid");
  std::string cfg = test::tiny_config();
  cfg.replace(cfg.find("sparsity: [0.5, 0.9]"), 20, "sparsity: [0.5]");
  cfg.replace(cfg.find("schedule: [{type: one_shot, epochs: 0}, one_shot, iterative]"), 60, "schedule: one_shot");
  auto exp = parse_experiment(cfg, "tiny.yaml", test::builtin_registry());
  GridOptions o;
  o.db_path = dir + "/a.db";
  o.quiet = true;
  ASSERT_EQ(run_grid(exp, test::builtin_registry(), o).done, 2);
  for (const auto& e : fs::directory_iterator(dir + "/cache"))
    if (e.path().extension() == ".pt") fs::resize_file(e.path(), fs::file_size(e.path()) / 3);
  o.db_path = dir + "/b.db";
  const auto again = run_grid(exp, test::builtin_registry(), o);
  EXPECT_EQ(again.done, 2);
  EXPECT_EQ(again.failed, 0);
  SQLite::Database db(o.db_path);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM runs WHERE status = 'done' AND error IS NULL").getInt(), 2);
}
