#include "run/dense_cache.hpp"

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
#include <unistd.h>

namespace prunelab {

void save_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
  archive.save_to(tmp);
  std::filesystem::rename(tmp, path);
}

void save_network(Network& net, const std::string& path) {
  torch::serialize::OutputArchive archive;
  net.save(archive);
  save_archive(archive, path);
}

void load_network(Network& net, const std::string& path, const c10::Device& device) {
  torch::serialize::InputArchive archive;
  archive.load_from(path, device);
  net.load(archive);
}

std::string DenseCache::checkpoint_path(const RunSpec& run) const {
  return (std::filesystem::path(dir_) / fmt::format("dense-{}-{}.pt", run.model, run.dense_hash())).string();
}

namespace {
// The dense training's starting point: the model initialised from the run's seed.
std::shared_ptr<Network> initial_network(const RunSpec& run, const DataSplits& data, const c10::Device& device) {
  torch::manual_seed(static_cast<uint64_t>(run.seed));
  auto net = make_network(run.model, data.shape);
  net->to(device);
  return net;
}

// Sidecar with the dense model's metrics and the exact settings that produced it.
void write_meta(const std::string& path, const DenseModel& m, const RunSpec& run) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());  // two runners may write it at once
  {
    std::ofstream out(tmp);
    out << fmt::format("top1={:.17g}\ntop1_val={:.17g}\ntrain_seconds={:.3f}\nkey={}\n", m.top1, m.top1_val,
                       m.train_seconds, run.dense_json());
  }
  std::filesystem::rename(tmp, path);
}

bool read_meta(const std::string& path, DenseModel& m) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  int found = 0;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    const auto key = line.substr(0, eq), value = line.substr(eq + 1);
    if (key == "top1") m.top1 = std::stod(value), ++found;
    if (key == "top1_val") m.top1_val = std::stod(value), ++found;
  }
  return found == 2;
}
}  // namespace

const DenseModel& DenseCache::get(const RunSpec& run, const DataSplits& data, const c10::Device& device,
                                  Progress& progress) {
  const std::string hash = run.dense_hash();
  if (auto it = memo_.find(hash); it != memo_.end()) return it->second;

  DenseModel m;
  m.hash = hash;
  m.net = initial_network(run, data, device);
  const std::string path = checkpoint_path(run), meta = path + ".meta";
  FileLock lock;  // held while training: another process on this cache waits, then loads
  if (!(std::filesystem::exists(path) && read_meta(meta, m)))
    lock = FileLock::acquire(path + ".lock", [&] { progress.phase("waiting for another process training this dense model"); });
  if (std::filesystem::exists(path) && read_meta(meta, m)) {
    progress.phase("loading cached dense model");
    load_network(*m.net, path, device);
    m.from_cache = true;
  } else {
    if (!train_missing_)
      throw std::runtime_error(fmt::format("dense model {} seed {} is missing from the cache: {} (this runner trains no dense "
                                           "model; did the dense-training job fail? `runner dense FILE.yaml` trains it)",
                                           run.model, run.seed, path));
    progress.phase("dense training");
    const auto t0 = std::chrono::steady_clock::now();
    const auto steps = dense_training_steps(run, data.train.size());
    train_steps(*m.net, data.train, run.train.optim, steps, static_cast<uint64_t>(run.seed), nullptr,
                [&](const TrainProgress& p) { progress.train(p.step, p.total, p.loss); }, device);
    m.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    progress.phase("dense evaluation");
    m.top1_val = evaluate(*m.net, data.val, run.eval.batch_size, device).top1;
    m.top1 = evaluate(*m.net, data.test, run.eval.batch_size, device).top1;
    save_network(*m.net, path);
    write_meta(meta, m, run);
    progress.message(fmt::format("dense {} seed {}: test top-1 {:.2f}%, val {:.2f}% ({:.0f}s) -> {}", run.model,
                                 run.seed, 100 * m.top1, 100 * m.top1_val, m.train_seconds, path));
  }
  return memo_.emplace(hash, std::move(m)).first->second;
}

std::shared_ptr<Network> DenseCache::snapshot(const RunSpec& run, const DataSplits& data, const c10::Device& device,
                                              Progress& progress, int64_t step) {
  auto net = initial_network(run, data, device);
  if (step <= 0) return net;
  const auto path = (std::filesystem::path(dir_) / fmt::format("dense-{}-{}-step{}.pt", run.model, run.dense_hash(), step)).string();
  if (std::filesystem::exists(path)) {
    load_network(*net, path, device);
    return net;
  }
  progress.phase(fmt::format("replaying dense training to step {}", step));
  const auto total = dense_training_steps(run, data.train.size());
  if (step > total) throw std::runtime_error(fmt::format("rewind step {} is beyond the dense training ({} steps)", step, total));
  TrainSession session(*net, data.train, run.train.optim, total, static_cast<uint64_t>(run.seed), device);
  session.run(step, nullptr, [&](const TrainProgress& p) { progress.train(p.step, p.total, p.loss); });
  save_network(*net, path);
  return net;
}

}  // namespace prunelab
