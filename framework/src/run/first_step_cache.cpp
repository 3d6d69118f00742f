#include "run/first_step_cache.hpp"

#include "core/json.hpp"
#include "run/cache_integrity.hpp"
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
constexpr int kFormat = 2;  // 2: model state as write_state() (any model kind)
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

std::optional<CachedFirstStep> FirstStepCache::load(const std::string& key, Model& net, MaskSet& masks,
                                                    const c10::Device& device) const {
  const auto file = path(key);
  held_.release();
  if (!std::filesystem::exists(file)) {
    held_ = FileLock::acquire(file + ".lock");
    held_key_ = key;
    if (!std::filesystem::exists(file)) return std::nullopt;  // ours to compute
    held_.release();  // another process computed it while this one waited
  }
  // Checked before anything is read into the model: a damaged entry is recomputed, and one
  // from before checksums is too (a failed load half-way would leave the model half-loaded).
  if (!verified_cache_entry(file, file + ".meta", "cached first pruning step")) {
    held_ = FileLock::acquire(file + ".lock");  // recomputed by this process, the others wait
    held_key_ = key;
    return std::nullopt;
  }
  torch::serialize::InputArchive archive;
  archive.load_from(file, device);
  read_state(net, archive, file);
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

void FirstStepCache::save(const std::string& key, Model& net, MaskSet& masks, const CachedFirstStep& step) const {
  torch::serialize::OutputArchive archive;
  write_state(net, archive);
  for (size_t i = 0; i < masks.size(); ++i) {
    archive.write(fmt::format("prunelab_mask_{}", i), masks.masks()[i], /*is_buffer=*/true);
    archive.write(fmt::format("prunelab_channel_mask_{}", i), masks.channel_masks()[i], /*is_buffer=*/true);
  }
  archive.write("prunelab_ratios", at::tensor(step.ratios, at::kDouble), /*is_buffer=*/true);
  archive.write("prunelab_source_run", c10::IValue(step.source_run));
  save_archive(archive, path(key));
  write_checksum_meta(path(key), path(key) + ".meta");
  if (held_key_ == key) held_.release();
}

}  // namespace prunelab
