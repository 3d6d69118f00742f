// Criteria that throw (or return NaN scores) so tests can check that a failed run is recorded
// as failed and the grid goes on: `exploding` throws a plain exception, `torch_error` makes
// LibTorch throw (its message carries a C++ stack trace that must not reach runs.error).
#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>
#include <torch/serialize/input-archive.h>

namespace {
class Exploding final : public prunelab::Criterion {
 public:
  std::vector<at::Tensor> score(prunelab::CriterionContext&) override {
    throw std::runtime_error("boom: this criterion always fails");
  }
};

class TorchError final : public prunelab::Criterion {
 public:
  std::vector<at::Tensor> score(prunelab::CriterionContext&) override {
    torch::serialize::InputArchive archive;
    archive.load_from("/nonexistent/prunelab-test.pt");  // c10::Error, with a C++ stack trace
    return {};
  }
};
}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion({"exploding", "0.0.1", "always throws", {}},
                          [](const prunelab::Params&) { return std::make_unique<Exploding>(); });
  registrar.add_criterion({"torch_error", "0.0.1", "LibTorch throws", {}},
                          [](const prunelab::Params&) { return std::make_unique<TorchError>(); });
}
