// A magnitude criterion that sends its own process SIGTERM the first time it scores, as Slurm
// would in the middle of a run: tests check that the run stops at the next optimizer step, is
// left pending, and is redone with the same numbers.
#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

#include <csignal>

namespace {
class Signalling final : public prunelab::Criterion {
 public:
  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    static bool raised = false;  // once per process
    if (!raised) {
      raised = true;
      std::raise(SIGTERM);
    }
    std::vector<at::Tensor> out;
    for (const auto& layer : ctx.layers) out.push_back(layer.weight.detach().abs());
    return out;
  }
};
}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion({"signalling", "0.0.1", "magnitude; raises SIGTERM the first time it scores", {}},
                          [](const prunelab::Params&) { return std::make_unique<Signalling>(); });
}
