#include "run/dense_cache.hpp"

#include "core/errors.hpp"
#include "run/cache_integrity.hpp"
#include "run/file_lock.hpp"
#include "run/plan.hpp"
#include "run/progress.hpp"
#include "train/trainer.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <cctype>
#include <unistd.h>

namespace prunelab {

std::shared_ptr<Model> initial_model(const RunSpec& run, const InputShape& shape, const c10::Device& device,
                                     int64_t seed) {
  torch::manual_seed(static_cast<uint64_t>(seed));
  std::shared_ptr<Model> model = make_model(run.model, shape);
  model->to(device);
  return model;
}

namespace {
// A label as a file-name part: a user's model name may hold anything.
std::string file_part(const std::string& label) {
  std::string out;
  for (char c : label) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.substr(0, 40);
}
}  // namespace

std::string DenseCache::checkpoint_path(const RunSpec& run) const {
  return (std::filesystem::path(dir_) / fmt::format("dense-{}-{}.pt", file_part(run.model.label()), run.dense_hash())).string();
}

namespace {
// Sidecar with the dense model's metrics and the exact settings that produced it.
void write_meta(const std::string& path, const DenseModel& m, const RunSpec& run, double train_seconds) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());  // two runners may write it at once
  {
    std::ofstream out(tmp);
    out << fmt::format("top1={:.17g}\ntop1_val={:.17g}\ntop5={:.17g}\ntrain_seconds={:.3f}\nkey={}\n", m.top1,
                       m.top1_val, m.top5, train_seconds, run.dense_json());
  }
  std::filesystem::rename(tmp, path);
}

// Sets `has_top5` when the file has it (those written before top-5 was measured do not).
bool read_meta(const std::string& path, DenseModel& m, bool& has_top5, double& train_seconds) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  int found = 0;
  has_top5 = false;
  try {
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      const auto key = line.substr(0, eq), value = line.substr(eq + 1);
      if (key == "top1") m.top1 = std::stod(value), ++found;
      if (key == "top1_val") m.top1_val = std::stod(value), ++found;
      if (key == "top5") m.top5 = std::stod(value), has_top5 = true;
      if (key == "train_seconds") train_seconds = std::stod(value);
    }
  } catch (const std::exception&) {
    return false;  // a damaged sidecar: the checkpoint is rebuilt
  }
  return found == 2 && std::isfinite(m.top1) && std::isfinite(m.top1_val);
}
}  // namespace

const DenseModel& DenseCache::get(const RunSpec& run, const DataSplits& data, const c10::Device& device,
                                  Progress& progress) {
  const std::string hash = run.dense_hash();
  if (auto it = memo_.find(hash); it != memo_.end()) return it->second;

  DenseModel m;
  m.hash = hash;
  m.net = initial_model(run, data.shape, device, run.seed);
  const std::string path = checkpoint_path(run), meta = path + ".meta";
  // Derived data: an entry found corrupt by its checksum, or unreadable, is reported in one line
  // and rebuilt, not fatal (run/cache_integrity). Training holds the entry's lock: another
  // process on this cache waits, then loads.
  bool has_top5 = false;
  double stored_seconds = 0;
  const auto cached = [&] { return std::filesystem::exists(path) && read_meta(meta, m, has_top5, stored_seconds); };
  const auto take_lock = [&] {
    return FileLock::acquire(path + ".lock", [&] { progress.phase("waiting for another process training this dense model"); });
  };
  FileLock lock;
  if (!cached()) lock = take_lock();
  if (cached() && load_cache_entry(path, meta, "dense checkpoint", [&] {
        progress.phase("loading cached dense model");
        load_state(*m.net, path, device);
      }, /*allow_unverified=*/true)) {
    m.from_cache = true;
    if (!has_top5) {  // cached before top-5 was measured: measure it once, keep it
      m.top5 = evaluate(*m.net, data.test, run.eval.batch_size, device).top5;
      write_meta(meta, m, run, stored_seconds);
      add_checksum_to_meta(path, meta);
    }
  } else if (std::filesystem::exists(path)) {
    m.net = initial_model(run, data.shape, device, run.seed);  // a load that failed half-way left part of its weights
    if (!lock.held()) lock = take_lock();
  }
  if (!m.from_cache) {
    if (!train_missing_)
      throw std::runtime_error(fmt::format("dense model {} seed {} is missing from the cache: {} (this runner trains no dense "
                                           "model; did the dense-training job fail? `runner dense FILE.yaml` trains it)",
                                           run.model.label(), run.seed, path));
    progress.phase("dense training");
    const auto t0 = std::chrono::steady_clock::now();
    const auto steps = dense_training_steps(run, data.train.size());
    train_steps(*m.net, data.train, run.train.optim, steps, static_cast<uint64_t>(run.seed), nullptr,
                [&](const TrainProgress& p) { progress.train(p.step, p.total, p.loss); }, device);
    m.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    progress.phase("dense evaluation");
    m.top1_val = evaluate(*m.net, data.val, run.eval.batch_size, device).top1;
    const auto test = evaluate(*m.net, data.test, run.eval.batch_size, device);
    m.top1 = test.top1;
    m.top5 = test.top5;
    save_state(*m.net, path);
    write_meta(meta, m, run, m.train_seconds);
    add_checksum_to_meta(path, meta);
    progress.message(fmt::format("dense {} seed {}: test top-1 {:.2f}%, val {:.2f}% ({:.0f}s) -> {}", run.model.label(),
                                 run.seed, 100 * m.top1, 100 * m.top1_val, m.train_seconds, path));
  }
  return memo_.emplace(hash, std::move(m)).first->second;
}

std::shared_ptr<Model> DenseCache::snapshot(const RunSpec& run, const DataSplits& data, const c10::Device& device,
                                              Progress& progress, int64_t step) {
  auto net = initial_model(run, data.shape, device, run.seed);
  if (step <= 0) return net;
  const auto path = (std::filesystem::path(dir_) / fmt::format("dense-{}-{}-step{}.pt", file_part(run.model.label()),
                                                               run.dense_hash(), step)).string();
  if (load_cache_entry(path, path + ".meta", "rewind snapshot", [&] { load_state(*net, path, device); },
                       /*allow_unverified=*/true))
    return net;
  if (std::filesystem::exists(path)) net = initial_model(run, data.shape, device, run.seed);  // a half-done load
  progress.phase(fmt::format("replaying dense training to step {}", step));
  const auto total = dense_training_steps(run, data.train.size());
  if (step > total) throw std::runtime_error(fmt::format("rewind step {} is beyond the dense training ({} steps)", step, total));
  TrainSession session(*net, data.train, run.train.optim, total, static_cast<uint64_t>(run.seed), device);
  session.run(step, nullptr, [&](const TrainProgress& p) { progress.train(p.step, p.total, p.loss); });
  save_state(*net, path);
  write_checksum_meta(path, path + ".meta");
  return net;
}

}  // namespace prunelab
