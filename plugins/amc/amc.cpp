/// Ratio policy `amc`: AutoML for Model Compression (He et al. 2018). A DDPG agent walks the prune
/// units in order and picks each unit's ratio from a state describing it; after each episode the
/// ratios are evaluated on a validation subset without fine-tuning and the reward trains the agent.
///
/// - State per unit (all scaled to about [0, 1]): index, output and input size, kernel size, the
///   unit's share of the weights and of the dense MACs, MACs already cut by earlier units, MACs of
///   the units still to come, the previous action.
/// - Budget: every run must reach its target sparsity, so that is AMC's hard resource constraint
///   here. Each action is clipped so that the remaining units, at `max_ratio`, can still meet it,
///   and the episode's ratios are then fitted to the target exactly (one common factor).
/// - Reward: `error` = -(1 - top-1) under that hard budget (AMC's resource-constrained mode), or
///   `error_log_flops` = -(1 - top-1) * log(MACs).
/// - Agent: actor and critic MLPs (Adam), a replay buffer, Gaussian exploration noise decaying per
///   episode after `warmup` random episodes. As in AMC every transition of an episode receives
///   the episode's reward (minus a moving-average baseline); with no per-step reward to bootstrap
///   the critic regresses that reward directly (discount 0), so no target networks are needed.
/// - The best episode's ratios are used for the step; every episode is logged (`search_log`).

#include <prunelab/plugin_api.hpp>
#include <prunelab/ratio_tools.hpp>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace {

constexpr int64_t kStateSize = 9;

struct Mlp : torch::nn::Module {
  Mlp(int64_t in, int64_t hidden, int64_t out)
      : l1(register_module("l1", torch::nn::Linear(in, hidden))),
        l2(register_module("l2", torch::nn::Linear(hidden, hidden))),
        l3(register_module("l3", torch::nn::Linear(hidden, out))) {}
  at::Tensor forward(const at::Tensor& x) { return l3(at::relu(l2(at::relu(l1(x))))); }
  torch::nn::Linear l1, l2, l3;
};

class Amc final : public prunelab::RatioPolicy {
 public:
  explicit Amc(const prunelab::Params& p)
      : episodes_(p.get_int("episodes")), warmup_(p.get_int("warmup")), samples_(p.get_int("samples")),
        max_ratio_(p.get_number("max_ratio")), noise_(p.get_number("noise")), noise_decay_(p.get_number("noise_decay")),
        hidden_(p.get_int("hidden")), updates_(p.get_int("updates")), batch_(p.get_int("batch")),
        actor_lr_(p.get_number("actor_lr")), critic_lr_(p.get_number("critic_lr")), reward_(p.get_string("reward")) {
    std::ostringstream s;
    s << "episodes=" << episodes_ << ",warmup=" << warmup_ << ",samples=" << samples_ << ",max_ratio=" << max_ratio_
      << ",noise=" << noise_ << ",decay=" << noise_decay_ << ",hidden=" << hidden_ << ",updates=" << updates_
      << ",batch=" << batch_ << ",lr=" << actor_lr_ << "/" << critic_lr_ << ",reward=" << reward_;
    settings_ = s.str();
  }

  std::vector<double> ratios(const prunelab::RatioContext& ctx) override {
    if (!ctx.evaluator) throw std::runtime_error("amc needs the evaluator");
    return prunelab::reuse_or_search(ctx, "amc", settings_, [&] { return search(ctx); });
  }

 private:
  std::vector<double> search(const prunelab::RatioContext& ctx) {
    const auto t0 = std::chrono::steady_clock::now();
    const size_t n = ctx.units.size();
    const auto floor = prunelab::pruned_shares(ctx);
    const auto weights = prunelab::unit_weights(ctx);
    const auto ceiling = prunelab::ratio_ceilings(ctx);
    const auto features = unit_features(ctx);
    double total_w = 0, total_flops = 0;
    for (size_t u = 0; u < n; ++u) total_w += weights[u], total_flops += flops_[u];
    const double target = ctx.target_sparsity;

    // Everything random in the search comes from the run's seed, through its own generator (the
    // global one, which the run's training uses, is left alone).
    auto gen = at::make_generator<at::CPUGeneratorImpl>(ctx.seed * 104729ULL + 5ULL);
    Mlp actor(kStateSize, hidden_, 1), critic(kStateSize + 1, hidden_, 1);
    for (auto* net : {&actor, &critic}) {
      at::NoGradGuard no_grad;
      for (auto& p : net->parameters()) {
        const double bound = 1.0 / std::sqrt(double(p.dim() == 2 ? p.size(1) : p.size(0)));  // PyTorch's default
        p.uniform_(-bound, bound, gen);
      }
    }
    torch::optim::Adam actor_opt(actor.parameters(), torch::optim::AdamOptions(actor_lr_));
    torch::optim::Adam critic_opt(critic.parameters(), torch::optim::AdamOptions(critic_lr_));
    std::vector<at::Tensor> buffer_s;
    std::vector<double> buffer_a, buffer_r;
    double baseline = 0, sigma = noise_;
    bool have_baseline = false;

    std::vector<double> best;
    double best_reward = -std::numeric_limits<double>::infinity();
    for (int64_t episode = 0; episode < episodes_; ++episode) {
      std::vector<double> actions(n);
      std::vector<at::Tensor> states;
      double reduced = 0, prev = 0, pruned_w = 0;
      for (size_t t = 0; t < n; ++t) {
        double rest = 0, rest_max = 0;
        for (size_t i = t + 1; i < n; ++i)
          rest += flops_[i], rest_max += std::max(std::min(max_ratio_, ceiling[i]), floor[i]) * weights[i];
        auto s = features[t].clone();
        s[6] = reduced / total_flops;
        s[7] = rest / total_flops;
        s[8] = prev;
        double a;
        if (episode < warmup_) {
          a = at::rand({1}, gen).item<double>() * max_ratio_;
        } else {
          at::NoGradGuard no_grad;
          a = max_ratio_ * at::sigmoid(actor.forward(s.unsqueeze(0))).item<double>() +
              sigma * at::randn({1}, gen).item<double>();
        }
        a = std::clamp(a, 0.0, max_ratio_);
        // Hard budget: what the later units cannot take even at max_ratio, this one must.
        const double need = (target * total_w - pruned_w - rest_max) / weights[t];
        a = std::clamp(std::max({a, need, floor[t]}), 0.0, std::max(floor[t], ceiling[t]));
        actions[t] = a;
        states.push_back(s);
        pruned_w += a * weights[t];
        reduced += a * flops_[t];
        prev = a;
      }
      const double agent_sparsity = prunelab::sparsity_of(actions, weights);
      const auto fitted = prunelab::fit_to_target(actions, floor, weights, target, ceiling);
      const double acc = ctx.evaluator->accuracy_with_ratios(fitted, samples_);
      const double macs = double(ctx.evaluator->macs_with_ratios(fitted));
      const double reward = reward_ == "error" ? -(1.0 - acc) : -(1.0 - acc) * std::log(std::max(macs, 2.0));
      if (reward > best_reward) best_reward = reward, best = fitted;

      for (size_t t = 0; t < n; ++t) {
        buffer_s.push_back(states[t]);
        buffer_a.push_back(std::min(1.0, actions[t] / max_ratio_));  // the actor's range
        buffer_r.push_back(reward);
      }
      baseline = have_baseline ? 0.95 * baseline + 0.05 * reward : reward;
      have_baseline = true;
      if (episode + 1 >= warmup_) train(actor, critic, actor_opt, critic_opt, buffer_s, buffer_a, buffer_r, baseline, gen);
      if (episode >= warmup_) sigma *= noise_decay_;
      if (ctx.store) {
        std::ostringstream j;
        j << "{\"episode\":" << episode << ",\"reward\":" << prunelab::json_number(reward) << ",\"accuracy\":" << prunelab::json_number(acc)
          << ",\"sparsity\":" << prunelab::json_number(prunelab::sparsity_of(fitted, weights)) << ",\"agent_sparsity\":"
          << prunelab::json_number(agent_sparsity) << ",\"macs\":" << prunelab::json_number(macs) << ",\"sigma\":" << prunelab::json_number(sigma) << ",\"ratios\":[";
        for (size_t u = 0; u < n; ++u) j << (u ? "," : "") << prunelab::json_number(fitted[u]);
        j << "]}";
        ctx.store->log("amc_episode", j.str());
      }
    }
    if (ctx.store) {
      std::ostringstream j;
      j << "{\"best_reward\":" << prunelab::json_number(best_reward) << ",\"episodes\":" << episodes_ << ",\"search_s\":"
        << prunelab::json_number(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) << ",\"ratios\":{";
      for (size_t u = 0; u < n; ++u) j << (u ? "," : "") << "\"" << ctx.units[u].name << "\":" << prunelab::json_number(best[u]);
      j << "}}";
      ctx.store->log("amc", j.str());
    }
    return best;
  }

  /// The static part of every unit's state; also fills flops_.
  std::vector<at::Tensor> unit_features(const prunelab::RatioContext& ctx) {
    const size_t n = ctx.units.size();
    flops_.assign(n, 0.0);
    std::vector<double> out_c(n), in_c(n), k(n), w(n);
    double max_out = 1, max_in = 1, max_k = 1, total_w = 0, total_flops = 0;
    for (size_t u = 0; u < n; ++u) {
      const auto& first = ctx.layers.at(ctx.units[u].layers.at(0));
      out_c[u] = double(first.weight.size(0));
      in_c[u] = first.weight.dim() >= 2 ? double(first.weight.size(1)) : 1.0;
      k[u] = first.weight.dim() == 4 ? double(first.weight.size(2)) : 1.0;
      w[u] = double(ctx.units[u].slices) * double(ctx.units[u].weights_per_slice);
      for (size_t l : ctx.units[u].layers) flops_[u] += double(ctx.layers.at(l).dense_macs);
      if (flops_[u] <= 0) flops_[u] = w[u];  // unit tests without MAC counts
      max_out = std::max(max_out, out_c[u]), max_in = std::max(max_in, in_c[u]), max_k = std::max(max_k, k[u]);
      total_w += w[u], total_flops += flops_[u];
    }
    std::vector<at::Tensor> out;
    for (size_t u = 0; u < n; ++u)
      out.push_back(at::tensor({n > 1 ? double(u) / double(n - 1) : 0.0, out_c[u] / max_out, in_c[u] / max_in,
                                k[u] / max_k, w[u] / total_w, flops_[u] / total_flops, 0.0, 0.0, 0.0},
                               at::kFloat));
    return out;
  }

  void train(Mlp& actor, Mlp& critic, torch::optim::Adam& actor_opt, torch::optim::Adam& critic_opt,
             const std::vector<at::Tensor>& s, const std::vector<double>& a, const std::vector<double>& r,
             double baseline, at::Generator& gen) {
    const int64_t size = int64_t(s.size());
    for (int64_t k = 0; k < updates_; ++k) {
      const auto idx = at::randint(size, {std::min(batch_, size)}, gen, at::kLong);
      std::vector<at::Tensor> bs;
      std::vector<float> ba, br;
      for (int64_t i = 0; i < idx.size(0); ++i) {
        const auto j = idx[i].item<int64_t>();
        bs.push_back(s[size_t(j)]);
        ba.push_back(float(a[size_t(j)]));
        br.push_back(float(r[size_t(j)] - baseline));
      }
      const auto states = at::stack(bs);
      const auto actions = at::tensor(ba).unsqueeze(1);
      const auto rewards = at::tensor(br).unsqueeze(1);
      // Critic: Q(s, a) -> the episode's reward (discount 0, see the header).
      critic_opt.zero_grad();
      const auto q = critic.forward(at::cat({states, actions}, 1));
      (q - rewards).pow(2).mean().backward();
      critic_opt.step();
      // Actor: the action the critic values most.
      actor_opt.zero_grad();
      const auto mu = at::sigmoid(actor.forward(states));
      (-critic.forward(at::cat({states, mu}, 1)).mean()).backward();
      actor_opt.step();
    }
  }

  int64_t episodes_, warmup_, samples_;
  double max_ratio_, noise_, noise_decay_;
  int64_t hidden_, updates_, batch_;
  double actor_lr_, critic_lr_;
  std::string reward_, settings_;
  std::vector<double> flops_;  // per unit, dense MACs per sample
};

}  // namespace

PRUNELAB_PLUGIN(registrar) {
  registrar.add_ratio_policy(
      {"amc", "1.0.0", "AMC: a DDPG agent picks each unit's ratio; reward from validation error (and MACs) without fine-tuning",
       {prunelab::ParamSpec{"episodes", prunelab::ParamType::Int, int64_t{60}, "search episodes (each one validation evaluation)"}.at_least(1),
        prunelab::ParamSpec{"warmup", prunelab::ParamType::Int, int64_t{15}, "first episodes with random actions, filling the replay buffer"}.at_least(0),
        prunelab::ParamSpec{"samples", prunelab::ParamType::Int, int64_t{500}, "validation samples per evaluation"}.at_least(1),
        prunelab::ParamSpec{"max_ratio", prunelab::ParamType::Number, 0.95, "the largest ratio the agent may pick"}.greater_than(0).at_most(1),
        prunelab::ParamSpec{"noise", prunelab::ParamType::Number, 0.3, "initial std of the Gaussian exploration noise (in ratio units)"}.at_least(0),
        prunelab::ParamSpec{"noise_decay", prunelab::ParamType::Number, 0.95, "noise multiplier per episode after warm-up"}.greater_than(0).at_most(1),
        prunelab::ParamSpec{"hidden", prunelab::ParamType::Int, int64_t{64}, "width of the actor's and critic's two hidden layers"}.at_least(1),
        prunelab::ParamSpec{"updates", prunelab::ParamType::Int, int64_t{20}, "gradient steps of actor and critic after each episode"}.at_least(0),
        prunelab::ParamSpec{"batch", prunelab::ParamType::Int, int64_t{64}, "replay samples per gradient step"}.at_least(1),
        prunelab::ParamSpec{"actor_lr", prunelab::ParamType::Number, 1e-3, "Adam learning rate of the actor"}.greater_than(0),
        prunelab::ParamSpec{"critic_lr", prunelab::ParamType::Number, 1e-2, "Adam learning rate of the critic"}.greater_than(0),
        prunelab::ParamSpec{"reward", prunelab::ParamType::String, std::string("error"), "error (hard budget) | error_log_flops"}.one_of({"error", "error_log_flops"})}},
      [](const prunelab::Params& p) { return std::make_unique<Amc>(p); });
}
