#include "run/first_step_cache.hpp"

#include "config/json.hpp"
#include "run/dense_cache.hpp"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <filesystem>

#ifndef PRUNELAB_VERSION
#define PRUNELAB_VERSION "0.0.0"
#endif

namespace prunelab {

namespace {
// Bump when the meaning of a pruning step changes in a way the settings below do not show.
constexpr int kFormat = 1;
}  // namespace

std::string FirstStepCache::key(const std::string& state_key, const RunSpec& run, double first_target) {
  // Beyond the starting state: the policy and its parameters, the target, and the evaluation
  // batch (search policies evaluate).
  return stable_hash(fmt::format("first-step|{}|{}|{}|{}|{:.17g}|{}", kFormat, PRUNELAB_VERSION, state_key,
                                 run.ratio_policy.to_json(), first_target, run.eval.batch_size));
}

std::string FirstStepCache::path(const std::string& key) const {
  return (std::filesystem::path(dir_) / fmt::format("first-step-{}.pt", key)).string();
}

std::optional<CachedFirstStep> FirstStepCache::load(const std::string& key, Network& net, MaskSet& masks,
                                                    const c10::Device& device) const {
  const auto file = path(key);
  held_.release();
  if (!std::filesystem::exists(file)) {
    held_ = FileLock::acquire(file + ".lock");
    held_key_ = key;
    if (!std::filesystem::exists(file)) return std::nullopt;  // ours to compute
    held_.release();  // another process computed it while this one waited
  }
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
  ratios = ratios.cpu().contiguous();
  step.ratios.assign(ratios.data_ptr<double>(), ratios.data_ptr<double>() + ratios.numel());
  c10::IValue source;
  archive.read("prunelab_source_run", source);
  step.source_run = source.toStringRef();
  return step;
}

void FirstStepCache::save(const std::string& key, Network& net, MaskSet& masks, const CachedFirstStep& step) const {
  torch::serialize::OutputArchive archive;
  net.save(archive);
  for (size_t i = 0; i < masks.size(); ++i) {
    archive.write(fmt::format("prunelab_mask_{}", i), masks.masks()[i], /*is_buffer=*/true);
    archive.write(fmt::format("prunelab_channel_mask_{}", i), masks.channel_masks()[i], /*is_buffer=*/true);
  }
  archive.write("prunelab_ratios", at::tensor(step.ratios, at::kDouble), /*is_buffer=*/true);
  archive.write("prunelab_source_run", c10::IValue(step.source_run));
  save_archive(archive, path(key));
  if (held_key_ == key) held_.release();
}

}  // namespace prunelab
