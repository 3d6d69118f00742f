// A criterion that throws (or returns NaN scores) so tests can check that a failed run is
// recorded as failed and the grid goes on.
#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>

namespace {
class Exploding final : public prunelab::Criterion {
 public:
  std::vector<at::Tensor> score(prunelab::CriterionContext&) override {
    throw std::runtime_error("boom: this criterion always fails");
  }
};
}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion({"exploding", "0.0.1", "always throws", {}},
                          [](const prunelab::Params&) { return std::make_unique<Exploding>(); });
}
