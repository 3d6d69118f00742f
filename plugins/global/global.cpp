/// Ratio policy `global`: one score threshold over all layers (ShrinkBench's global magnitude).

#include <prunelab/plugin_api.hpp>
#include <prunelab/ratio_tools.hpp>

#include <ATen/ATen.h>

#include <cmath>

namespace {

class Global final : public prunelab::RatioPolicy {
 public:
  explicit Global(const prunelab::Params&) {}

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    // The slice scores themselves are the ranking (already-pruned slices are -inf: first).
    return prunelab::global_threshold_ratios(ctx, ctx.slice_scores);
  }
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy({"global", "1.0.0", "one threshold over the scores of all layers (prune units)", {}},
                             [](const prunelab::Params& p) { return std::make_unique<Global>(p); });
}
