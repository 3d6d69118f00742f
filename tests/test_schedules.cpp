#include "models/network.hpp"
#include "prune/pruner.hpp"
#include "prune/stats.hpp"
#include "test_support.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <numeric>

using namespace prunelab;

namespace {
std::vector<PruneStep> plan(const std::string& name, Params p, double target, int64_t budget = 100) {
  return test::builtin_registry().make_schedule(name, p)->plan({target, budget, 50});
}
std::vector<double> targets(const std::vector<PruneStep>& steps) {
  std::vector<double> out;
  for (auto& s : steps) out.push_back(s.target_sparsity);
  return out;
}
int64_t total_steps(const std::vector<PruneStep>& steps) {
  int64_t t = 0;
  for (auto& s : steps) t += s.finetune_steps;
  return t;
}
}  // namespace

TEST(OneShot, PrunesOnceAndSpendsTheBudget) {
  auto p = plan("one_shot", {}, 0.9);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_DOUBLE_EQ(p[0].target_sparsity, 0.9);
  EXPECT_EQ(p[0].finetune_steps, 100);
  EXPECT_EQ(plan("one_shot", Params({{"epochs", 0.0}}), 0.9)[0].finetune_steps, 0);
  EXPECT_EQ(plan("one_shot", Params({{"epochs", 2.0}}), 0.9)[0].finetune_steps, 100);  // 2 x 50
}

TEST(Iterative, DefaultTargetsClimbBy0point2ToTheTarget) {
  EXPECT_EQ(targets(plan("iterative", {}, 0.95)), (std::vector<double>{0.3, 0.5, 0.7, 0.9, 0.95}));
  EXPECT_EQ(targets(plan("iterative", {}, 0.9)), (std::vector<double>{0.3, 0.5, 0.7, 0.9}));
  EXPECT_EQ(targets(plan("iterative", {}, 0.5)), (std::vector<double>{0.3, 0.5}));
  EXPECT_EQ(targets(plan("iterative", {}, 0.2)), (std::vector<double>{0.2}));
  EXPECT_EQ(targets(plan("iterative", Params({{"steps", std::vector<double>{0.6, 0.2, 0.95}}}), 0.8)),
            (std::vector<double>{0.2, 0.6, 0.8}));
}

TEST(Iterative, TotalBudgetEqualsOneShotsExactly) {
  for (int64_t budget : {0, 1, 7, 100, 101}) {
    auto it = plan("iterative", {}, 0.95, budget);
    EXPECT_EQ(total_steps(it), budget);
    EXPECT_EQ(total_steps(plan("one_shot", {}, 0.95, budget)), budget);
  }
  auto per_step = plan("iterative", Params({{"budget", std::string("per_step")}}), 0.9, 40);
  EXPECT_EQ(total_steps(per_step), 4 * 40);
}

TEST(PruneStep, ReachesTheRequestedSparsityOnARealModel) {
  torch::manual_seed(0);
  auto net = test::make_builtin("lenet5", {1, 28, 28, 10});
  auto probe = at::zeros({1, 1, 28, 28});
  auto crit = test::builtin_registry().make_criterion("magnitude", {});
  for (const std::string policy : {"uniform", "global"}) {
    auto pol = test::builtin_registry().make_ratio_policy(policy, {});
    auto fresh = test::make_builtin("lenet5", {1, 28, 28, 10});
    copy_state(*net, *fresh);
    MaskSet masks(*fresh);
    std::vector<at::Tensor> previous;
    for (double target : {0.3, 0.5, 0.7, 0.9, 0.95}) {
      prune_step(masks, UnitLayout(masks, Granularity{}), *crit, *pol, target, nullptr, nullptr, 0);
      auto stats = measure(*fresh, probe);
      EXPECT_NEAR(stats.sparsity(), target, 0.005) << policy << " at " << target;
      // Masks only grow: everything pruned before is still pruned.
      for (size_t i = 0; i < previous.size(); ++i)
        EXPECT_EQ((previous[i] * masks.masks()[i]).sum().item<float>(), 0.0f) << policy;
      previous.clear();
      for (auto& m : masks.masks()) previous.push_back(m.eq(0).to(at::kFloat));
    }
  }
}
