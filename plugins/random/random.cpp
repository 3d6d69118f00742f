/// Criterion `random`: uniform random scores from the run's seed — the baseline every study needs.

#include <prunelab/plugin_api.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace {

class Random final : public prunelab::Criterion {
 public:
  explicit Random(const prunelab::Params& p) : offset_(p.get_int("seed_offset")) {}

  std::vector<at::Tensor> score(prunelab::CriterionContext& ctx) override {
    // One generator per call, seeded by the run: the same run draws the same scores.
    auto gen = at::make_generator<at::CPUGeneratorImpl>(ctx.seed * 2654435761ULL + static_cast<uint64_t>(offset_) + 1);
    std::vector<at::Tensor> out;
    for (const auto& layer : ctx.layers) {
      const auto grid = prunelab::slice_grid_shape(ctx.granularity, layer.weight.sizes());
      out.push_back(at::rand(grid, gen).to(layer.weight.device()));
    }
    return out;
  }

 private:
  int64_t offset_;
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_criterion(
      {"random", "1.0.0", "uniform random slice scores, seeded by the run (the baseline)",
       {{"seed_offset", prunelab::ParamType::Int, int64_t{0}, "added to the run seed to draw other scores"}}},
      [](const prunelab::Params& p) { return std::make_unique<Random>(p); });
}
