#include "config/experiment.hpp"

#include "core/json.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace prunelab {

std::string stable_hash(const std::string& text) {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a 64 offset basis
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

std::string ComponentSpec::to_json() const {
  JsonObject params_o;
  for (const auto& [k, v] : params.values())
    if (std::find(unhashed.begin(), unhashed.end(), k) == unhashed.end()) params_o.set(k, v);
  JsonObject o;
  o.set("type", type).set("version", version).set("params", params_o);
  return o.str();
}

std::string ComponentSpec::label() const {
  if (explicit_keys.empty()) return type;
  std::vector<std::string> parts;
  for (const auto& k : explicit_keys) {
    std::string v = value_to_json(params.values().at(k));
    v.erase(std::remove(v.begin(), v.end(), '"'), v.end());
    parts.push_back(k + "=" + v);
  }
  return fmt::format("{}({})", type, fmt::join(parts, ","));
}

namespace {
JsonObject data_obj(const DataSpec& d) {
  JsonObject o;
  o.set("dataset", d.dataset).set("val_size", d.val_size).set("train_limit", d.train_limit)
      .set("test_limit", d.test_limit).set("split_seed", d.split_seed);
  // File-based sets are identified by their content, never by their folder: a moved copy keeps
  // its hashes (and its cached dense models), changed files get new ones.
  if (fingerprinted_dataset(d.dataset)) o.set("fingerprint", d.fingerprint);
  if (d.dataset == "synthetic")
    o.set("synthetic_train", d.synthetic_train).set("synthetic_test", d.synthetic_test)
        .set("synthetic_size", d.synthetic_size).set("synthetic_classes", d.synthetic_classes);
  if (d.dataset == "synthetic" && d.synthetic_channels != 1) o.set("synthetic_channels", d.synthetic_channels);
  if (d.dataset == "cifar100") o.set("labels", d.labels);
  if (d.dataset == "image_folder")
    o.set("resize", d.resize).set("image_height", d.image_height).set("image_width", d.image_width)
        .set("channels", d.channels);
  // Written where it is not what runs had before issue 16, so their hashes stay.
  const std::string norm = normalize_mode(d);
  const bool older_dataset = d.dataset == "fashion_mnist" || d.dataset == "mnist_format" || d.dataset == "synthetic";
  if (!older_dataset || norm != "global") {
    JsonObject n;
    n.set("mode", norm);
    if (norm == "given") n.set("mean", Value(d.normalize.mean)).set("std", Value(d.normalize.std));
    o.set("normalize", n);
  }
  if (d.augment.enabled()) {
    JsonObject a;
    a.set("crop_padding", d.augment.crop_padding).set("flip", d.augment.flip);
    o.set("augment", a);
  }
  return o;
}
JsonObject optim_obj(const OptimSpec& s) {
  JsonObject o;
  o.set("lr", s.lr).set("momentum", s.momentum).set("weight_decay", s.weight_decay)
      .set("lr_schedule", s.lr_schedule).set("batch_size", s.batch_size);
  // Written only when used, so configs from before these options keep their hashes.
  if (s.bn_l1 != 0.0) o.set("bn_l1", s.bn_l1);
  if (s.group_lasso != 0.0) o.set("group_lasso", s.group_lasso);
  return o;
}
JsonObject gran_obj(const Granularity& g) {
  JsonObject o;
  o.set("type", granularity_names()[static_cast<size_t>(g.kind)]);
  if (g.kind == GranularityKind::Pattern) o.set("n", g.n).set("m", g.m);
  if (g.kind == GranularityKind::Channel) o.set("scope", std::string(g.coupled ? "coupled" : "inner"));
  return o;
}
}  // namespace

std::string to_json(const DataSpec& d) { return data_obj(d).str(); }
std::string to_json(const OptimSpec& o) { return optim_obj(o).str(); }
std::string to_json(const Granularity& g) { return gran_obj(g).str(); }

std::string RunSpec::dense_json() const {
  JsonObject train_o = optim_obj(train.optim);
  train_o.set("epochs", train.epochs);
  JsonObject o;
  o.set_raw("model", model.to_json()).set("data", data_obj(data)).set("train", train_o).set("seed", seed);
  return o.str();
}

std::string RunSpec::dense_hash() const { return stable_hash(dense_json()); }

std::string RunSpec::canonical_json() const {
  JsonObject train_o = optim_obj(train.optim);
  train_o.set("epochs", train.epochs);
  JsonObject ft = optim_obj(finetune.optim);
  ft.set("epochs", finetune.epochs);
  if (finetune.distill.weight != 0.0) {  // written only when used: older runs keep their hashes
    JsonObject kd;
    kd.set("weight", finetune.distill.weight).set("temperature", finetune.distill.temperature);
    ft.set("distill", kd);
  }
  if (finetune.recalibrate_bn > 0) ft.set("recalibrate_bn", finetune.recalibrate_bn);  // likewise
  JsonObject prune;
  prune.set_raw("criterion", criterion.to_json()).set_raw("ratio_policy", ratio_policy.to_json())
      .set_raw("schedule", schedule.to_json()).set_raw("granularity", to_json(granularity))
      .set("sparsity", sparsity);
  JsonObject o;
  o.set("version", 1).set("experiment", experiment).set("seed", seed).set_raw("model", model.to_json())
      .set("data", data_obj(data)).set("train", train_o).set("finetune", ft)
      .set("prune", prune);
  return o.str();
}

std::string RunSpec::hash() const { return stable_hash(canonical_json()); }

std::string RunSpec::summary() const {
  return fmt::format("{} {}/{}/{} {} s={} seed={}", model.label(), criterion.label(), ratio_policy.label(),
                     schedule.label(), granularity.name(), sparsity, seed);
}

}  // namespace prunelab
