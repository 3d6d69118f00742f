// prunelab_zoo: the model zoo table (docs/model-zoo.md). For each TorchScript file exported by
// scripts/export_zoo.py: the channel groups found, the layers refused and why, parameters and MACs
// before and after channel pruning at 50 % (magnitude, uniform, coupled), the masked-vs-physical
// difference at 30 and 50 %, and the measured speed-up of the physical copy at batch 1 and 8.
// The pruning and the check are prune_and_check's, the step tests/test_zoo.cpp verifies; timing is
// compare_latency's (the dense and the pruned model alternate pass by pass). Prints only.
//   prunelab_zoo --dir DIR [--threads 1] [--out FILE.md] NAME[:SIZE] ...
#include "models/model_spec.hpp"
#include "plugin/registry.hpp"
#include "prune/latency.hpp"
#include "prune/prune_check.hpp"
#include "run/threads.hpp"

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>

using namespace prunelab;

namespace {

std::string millions(int64_t n) { return fmt::format("{:.2f} M", n / 1e6); }
std::string fall(int64_t before, int64_t after) {
  return fmt::format("{} → {} (−{:.0f} %)", millions(before), millions(after), 100.0 * (before - after) / before);
}

// Refusal lines grouped by their reason with layer names and group counts left out, so 32 lines
// "layerK.conv2: grouped conv layerK.conv2 (groups 32)" become one entry with a count.
std::vector<std::string> summarise(const std::vector<std::string>& refused) {
  static const std::regex names(R"(((?:layer|conv) )[A-Za-z0-9_.\-]+)"), groups(R"(groups \d+)");
  std::map<std::string, std::pair<int, std::vector<std::string>>> by_reason;
  std::vector<std::string> order;
  for (const auto& line : refused) {
    const auto colon = line.find(": ");
    const auto layers = line.substr(0, colon), reason = line.substr(colon + 2);
    const auto key = std::regex_replace(std::regex_replace(reason, names, "$1…"), groups, "groups N");
    auto& entry = by_reason[key];
    if (entry.first++ == 0) order.push_back(key);
    if (entry.second.size() < 2) entry.second.push_back(layers);
  }
  std::vector<std::string> out;
  for (const auto& key : order) {
    const auto& [count, examples] = by_reason[key];
    out.push_back(fmt::format("{} × {} (e.g. `{}`)", count, key, fmt::join(examples, "`; `")));
  }
  return out;
}

struct Row {
  std::string name, input, groups, refusals, params, macs, diff, b1, b8, note;
};

struct ElementRow {
  std::string name, sparsity, nonzero, outputs;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The model zoo table: channel pruning of exported torchvision models, verified and timed"};
  std::string dir, out_md, plugin_dir = PLUGIN_DIR;
  int threads = 1, repeats = 15;
  std::vector<std::string> models, elements;
  app.add_option("--dir", dir, "folder of NAME.pt files (scripts/export_zoo.py)")->required();
  app.add_option("--threads", threads, "intra-op threads")->capture_default_str();
  app.add_option("--repeats", repeats, "timed passes per model at batch 8 (x3 at batch 1)")->capture_default_str();
  app.add_option("--elements", elements, "models also pruned by elements at 50 % (the transformers), comma-separated")
      ->delimiter(',');
  app.add_option("--out", out_md, "write the Markdown here (else stdout)");
  app.add_option("--plugin-dir", plugin_dir, "where the built-in plugins are")->capture_default_str();
  app.add_option("models", models, "NAME or NAME:SIZE (input height and width, default 64)")->required();
  CLI11_PARSE(app, argc, argv);
  configure_threads(threads);
  PluginRegistry registry;
  for (const auto& why : registry.load_directory(plugin_dir)) fmt::print(stderr, "warning: {}\n", why);
  auto criterion = registry.make_criterion("magnitude", {});
  auto policy = registry.make_ratio_policy("uniform", {});
  Granularity channels{GranularityKind::Channel};
  channels.coupled = true;

  std::vector<Row> rows;
  std::vector<ElementRow> element_rows;
  std::vector<std::pair<std::string, std::vector<std::string>>> refusals;
  for (const auto& arg : models) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto colon = arg.find(':');
    const std::string name = arg.substr(0, colon);
    const int64_t size = colon == std::string::npos ? 64 : std::stoll(arg.substr(colon + 1));
    torch::manual_seed(1);
    ModelSpec spec;
    spec.type = "torchscript";
    spec.path = dir + "/" + name + ".pt";
    spec.name = name;
    const InputShape shape{3, size, size, 10};
    Row row;
    row.name = name;
    row.input = fmt::format("{}×{}", size, size);
    try {
      auto net = make_model(spec, shape);
      randomize_batchnorms(*net);
      const auto groups = net->channel_groups();
      int64_t channels_in_groups = 0;
      for (const auto& g : groups) channels_in_groups += g.channels;
      row.groups = fmt::format("{} ({} channels)", groups.size(), channels_in_groups);
      row.refusals = fmt::format("{}", net->channel_refusals().size());
      refusals.emplace_back(name, summarise(net->channel_refusals()));
      const auto x = to_model_layout(at::randn({2, 3, size, size}));
      const auto probe = to_model_layout(at::randn({1, 3, size, size}));
      std::vector<std::string> diffs;
      PruneCheck half;
      for (double target : {0.3, 0.5}) {
        auto r = prune_and_check(*net, channels, *criterion, *policy, target, x, probe);
        diffs.push_back(fmt::format("{:.1e}", r.relative_diff()));
        if (r.relative_diff() >= kPhysicalTolerance) row.note = "physical ≠ masked!";
        if (target == 0.5) half = std::move(r);
      }
      row.diff = fmt::format("{}", fmt::join(diffs, " / "));
      row.params = fall(half.dense.params, half.physical.params);
      row.macs = fall(half.dense.macs, half.physical.macs);
      const auto b1 = compare_latency(*net, *half.smaller, shape, 1, repeats * 3, 3, at::kCPU);
      const auto b8 = compare_latency(*net, *half.smaller, shape, 8, repeats, 2, at::kCPU);
      row.b1 = fmt::format("{:.1f} → {:.1f} ms ({:.2f}×)", b1.a_ms, b1.b_ms, b1.a_ms / b1.b_ms);
      row.b8 = fmt::format("{:.1f} → {:.1f} ms ({:.2f}×)", b8.a_ms, b8.b_ms, b8.a_ms / b8.b_ms);
      if (std::find(elements.begin(), elements.end(), name) != elements.end()) {
        const auto e = prune_and_check(*net, Granularity{GranularityKind::Element}, *criterion, *policy, 0.5, x, probe);
        double lo = 1, hi = 0;
        for (const auto& l : e.masked.layers) lo = std::min(lo, l.sparsity()), hi = std::max(hi, l.sparsity());
        element_rows.push_back({name, fmt::format("{:.4f} (layers {:.4f}–{:.4f})", e.achieved, lo, hi),
                                fall(e.dense.params_nonzero, e.masked.params_nonzero),
                                fmt::format("finite: {}, up to {:.3g}", std::isfinite(e.diff.max_abs_a) ? "yes" : "NO",
                                            e.diff.max_abs_a)});
      }
    } catch (const std::exception& e) {
      row.note = e.what();
    }
    fmt::print(stderr, "{}: {} groups, {} refused, diff {}, params {}, b1 {}, b8 {} {} ({:.0f} s)\n", name, row.groups,
               row.refusals, row.diff, row.params, row.b1, row.b8, row.note,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    rows.push_back(row);
  }

  std::string md;
  md += "| model | input | channel groups | refused groups | params at 50 % | MACs at 50 % | "
        "max rel. diff 30 / 50 % | batch 1 | batch 8 |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows)
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |{}\n", r.name, r.input, r.groups, r.refusals,
                      r.params, r.macs, r.diff, r.b1, r.b8, r.note.empty() ? "" : " " + r.note);
  if (!element_rows.empty()) {
    md += "\nElement granularity at 50 % (magnitude, uniform):\n\n| model | sparsity reached | nonzero params | outputs |\n"
          "|---|---|---|---|\n";
    for (const auto& e : element_rows)
      md += fmt::format("| {} | {} | {} | {} |\n", e.name, e.sparsity, e.nonzero, e.outputs);
  }
  md += "\n### Refused groups and why\n\n";
  for (const auto& [name, lines] : refusals) {
    md += fmt::format("**{}**\n", name);
    for (const auto& l : lines) md += fmt::format("- {}\n", l);
    md += "\n";
  }
  if (out_md.empty()) {
    fmt::print("{}", md);
  } else {
    std::ofstream(out_md) << md;
  }
  return 0;
}
