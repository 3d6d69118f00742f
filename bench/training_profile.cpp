#include "training_profile.hpp"

#include "bench_data.hpp"
#include "models/builtin_model.hpp"
#include "prune/masks.hpp"
#include "train/trainer.hpp"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace prunelab::bench {

namespace {
namespace prof = torch::autograd::profiler;

// Inclusive microseconds per (phase, operator): the operator is the phase scope's direct child
// (an aten op in the forward, an autograd node in the backward).
using Breakdown = std::map<std::pair<std::string, std::string>, double>;

std::string short_name(std::string name) {
  const std::string prefix = "autograd::engine::evaluate_function: ";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return name;
}

Breakdown aggregate(const prof::thread_event_lists& lists) {
  Breakdown out;
  for (const auto& list : lists) {
    struct Open {
      const prof::LegacyEvent* event;
      std::string phase;  // the enclosing prunelab.* scope ("" outside one)
      bool phase_child;   // a direct child of that scope
    };
    std::vector<Open> stack;
    for (const auto& e : list) {
      if (e.kind() == prof::EventKind::PushRange) {
        const std::string name = e.name();
        const bool is_phase = name.rfind("prunelab.", 0) == 0;
        const bool parent_is_phase = !stack.empty() && std::string(stack.back().event->name()).rfind("prunelab.", 0) == 0;
        const std::string phase = is_phase ? name : stack.empty() ? "" : stack.back().phase;
        stack.push_back({&e, phase, !is_phase && parent_is_phase});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        const auto open = stack.back();
        stack.pop_back();
        const double us = open.event->cpuElapsedUs(e);
        const std::string name = open.event->name();
        if (name.rfind("prunelab.", 0) == 0) out[{name, ""}] += us;
        else if (open.phase_child) out[{open.phase, short_name(name)}] += us;
      }
    }
  }
  return out;
}

double train_ms(BuiltinModel& net, const DataSplits& data, const OptimSpec& spec, MaskSet& masks, int64_t steps) {
  const auto t0 = std::chrono::steady_clock::now();
  train_steps(net, data.train, spec, steps, 7, &masks, {}, c10::Device(c10::kCPU));
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

void print_training_profile(int threads, bool quick) {
  at::set_num_threads(threads);
  const auto data = cifar_sized_splits(quick ? 256 : 2048);
  at::manual_seed(1);
  BuiltinModel net("resnet20", data.shape);
  MaskSet masks(net);
  OptimSpec spec;
  spec.batch_size = quick ? 32 : 128;
  const int64_t steps = quick ? 2 : 10;
  train_steps(net, data.train, spec, 2, 7, &masks, {}, c10::Device(c10::kCPU));  // warm-up
  const double plain_ms = train_ms(net, data, spec, masks, steps) / steps;
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  const double profiled_ms = train_ms(net, data, spec, masks, steps) / steps;
  const auto breakdown = aggregate(prof::disableProfilerLegacy());

  fmt::print("\n### One ResNet-20 training step, batch {} of 3x32x32, masks on ({} thread{})\n\n", spec.batch_size,
             threads, threads > 1 ? "s" : "");
  fmt::print("{:.1f} ms per step ({:.1f} ms under the profiler; the shares below are of the profiled step)\n\n",
             plain_ms, profiled_ms);
  fmt::print("| phase | operator | ms per step | share |\n|---|---|---|---|\n");
  std::map<std::string, std::vector<std::pair<double, std::string>>> ops;
  for (const auto& [key, us] : breakdown)
    if (!key.second.empty()) ops[key.first].push_back({us, key.second});
  for (const char* phase : {"prunelab.data", "prunelab.zero_grad", "prunelab.forward", "prunelab.loss",
                            "prunelab.backward", "prunelab.masks", "prunelab.optimizer"}) {
    auto it = breakdown.find({phase, ""});
    if (it == breakdown.end()) continue;
    const double ms = it->second / 1000.0 / steps;
    fmt::print("| {} | (all) | {:.2f} | {:.1f} % |\n", phase + 9, ms, 100 * ms / profiled_ms);
    auto& list = ops[phase];
    std::sort(list.rbegin(), list.rend());
    for (size_t i = 0; i < list.size() && i < 6; ++i)
      fmt::print("| | {} | {:.2f} | {:.1f} % |\n", list[i].second, list[i].first / 1000.0 / steps,
                 100 * list[i].first / 1000.0 / steps / profiled_ms);
  }
}

}  // namespace prunelab::bench
