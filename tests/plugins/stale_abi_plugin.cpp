// A plugin built against a changed copy of the public headers (tests/CMakeLists.txt makes it),
// as one built before the interface changed. It also calls a function the framework does not
// have: it must be refused by its interface hash, before any symbol is resolved, not with
// "undefined symbol".
#include <prunelab/plugin_api.hpp>

namespace prunelab {
void function_this_framework_does_not_have();
}

namespace {
class Stale final : public prunelab::Criterion {
 public:
  std::vector<at::Tensor> score(prunelab::CriterionContext&) override { return {}; }
};
}  // namespace

PRUNELAB_PLUGIN(registrar) {
  prunelab::function_this_framework_does_not_have();
  registrar.add_criterion({"stale", "0.0.1", "built against other headers", {}},
                          [](const prunelab::Params&) { return std::make_unique<Stale>(); });
}
