// Registers a criterion named like a built-in one: loading it next to the built-ins must fail.
#include <prunelab/plugin_api.hpp>

namespace {
class Nothing final : public prunelab::Criterion {
 public:
  std::vector<at::Tensor> score(prunelab::CriterionContext&) override { return {}; }
};
}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion({"magnitude", "0.0.1", "impostor", {}},
                          [](const prunelab::Params&) { return std::make_unique<Nothing>(); });
}
