#include "run/first_step_cache.hpp"

#include "config/json.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <filesystem>

#include <unistd.h>

#ifndef PRUNELAB_VERSION
#define PRUNELAB_VERSION "0.0.0"
#endif

namespace prunelab {

namespace {
// Bump when the meaning of a pruning step changes in a way the settings below do not show.
constexpr int kFormat = 1;
}  // namespace

std::string FirstStepCache::key(const RunSpec& run, double first_target, const std::string& code) {
  // The dense model (which includes data and seed), the plugins and their parameters, the
  // granularity, the target; the fine-tuning optimiser (its batch size draws the calibration
  // batches, NetAdapt fine-tunes proposals with it) and the evaluation batch (search policies
  // evaluate). The framework version and the plugins' code: either may prune differently.
  return stable_hash(fmt::format("first-step|{}|{}|{}|{}|{}|{}|{:.17g}|{}|{}|{}", kFormat, PRUNELAB_VERSION,
                                 run.dense_hash(), run.criterion.to_json(), run.ratio_policy.to_json(),
                                 to_json(run.granularity), first_target, to_json(run.finetune.optim),
                                 run.eval.batch_size, code));
}

std::string FirstStepCache::path(const std::string& key) const {
  return (std::filesystem::path(dir_) / fmt::format("first-step-{}.pt", key)).string();
}

std::optional<CachedFirstStep> FirstStepCache::load(const std::string& key, Network& net, MaskSet& masks,
                                                    const c10::Device& device) const {
  const auto file = path(key);
  if (!std::filesystem::exists(file)) return std::nullopt;
  torch::serialize::InputArchive archive;
  archive.load_from(file, device);
  net.load(archive);
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < masks.size(); ++i) {
    at::Tensor m, c;
    archive.read(fmt::format("prunelab_mask_{}", i), m);
    archive.read(fmt::format("prunelab_channel_mask_{}", i), c);
    masks.masks()[i].copy_(m);
    masks.channel_masks()[i].copy_(c);
  }
  masks.apply();
  CachedFirstStep step;
  at::Tensor ratios;
  archive.read("prunelab_ratios", ratios);
  ratios = ratios.cpu();
  for (int64_t i = 0; i < ratios.numel(); ++i) step.ratios.push_back(ratios[i].item<double>());
  c10::IValue source;
  archive.read("prunelab_source_run", source);
  step.source_run = source.toStringRef();
  return step;
}

void FirstStepCache::save(const std::string& key, Network& net, MaskSet& masks, const CachedFirstStep& step) const {
  std::filesystem::create_directories(dir_);
  torch::serialize::OutputArchive archive;
  net.save(archive);
  for (size_t i = 0; i < masks.size(); ++i) {
    archive.write(fmt::format("prunelab_mask_{}", i), masks.masks()[i], /*is_buffer=*/true);
    archive.write(fmt::format("prunelab_channel_mask_{}", i), masks.channel_masks()[i], /*is_buffer=*/true);
  }
  archive.write("prunelab_ratios", at::tensor(step.ratios, at::kDouble), /*is_buffer=*/true);
  archive.write("prunelab_source_run", c10::IValue(step.source_run));
  const auto file = path(key);
  const auto tmp = fmt::format("{}.tmp.{}", file, getpid());
  archive.save_to(tmp);
  std::filesystem::rename(tmp, file);
}

}  // namespace prunelab
