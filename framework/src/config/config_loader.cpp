#include "config/config_loader.hpp"

#include "core/errors.hpp"
#include "models/model_spec.hpp"
#include "plugin/registry.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <fstream>
#include <set>
#include <sstream>

namespace prunelab {

const int64_t kMaxGridRuns = 100000;

ConfigError::ConfigError(const std::string& f, int l, int c, const std::string& k, const std::string& m)
    : std::runtime_error(fmt::format("{}:{}:{}: {}: {}", f, l, c, k, m)), file(f), key(k), line(l), column(c) {}

namespace {

constexpr int64_t kMaxThreads = 1024;

// Hand-written rather than std::regex: libstdc++'s matcher recurses once per character, and a
// long scalar (tens of thousands of digits) overflowed the stack.
bool is_integer_literal(const std::string& s) {
  const size_t start = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (start == s.size()) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(start), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A value as an error message quotes it: long ones abbreviated, so the message stays one line.
std::string shown(const std::string& s) {
  if (s.size() <= 60) return s;
  return fmt::format("{}... ({} characters)", s.substr(0, 40), s.size());
}

// Letters, digits, '_', '-' and '.': it names the database file.
bool is_file_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}
constexpr double kMaxEpochs = 1e6;  // keeps epochs x steps per epoch an exact integer

/// Parsing state: the file name for messages, plus typed access with marks.
class Reader {
 public:
  Reader(std::string file, const PluginRegistry& registry) : file_(std::move(file)), registry_(registry) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& msg) const {
    const auto mark = node.Mark();
    throw ConfigError(file_, mark.line + 1, mark.column + 1, key, msg);
  }

  /// Rejects keys outside `allowed`, pointing at the offending key.
  void check_keys(const YAML::Node& map, const std::string& path, const std::vector<std::string>& allowed) const {
    if (!map.IsMap()) fail(map, path, "expected a mapping");
    for (const auto& kv : map) {
      const auto key = kv.first.as<std::string>();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
        fail(kv.first, join(path, shown(key)),
             fmt::format("unknown key '{}' (valid keys: {})", shown(key), fmt::join(allowed, ", ")));
    }
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  template <typename T>
  T scalar(const YAML::Node& node, const std::string& key, const char* what) const {
    if (!node.IsScalar()) fail(node, key, fmt::format("expected {}", what));
    try {
      return node.as<T>();
    } catch (const YAML::BadConversion&) {
      fail(node, key, fmt::format("expected {}, got '{}'", what, shown(node.Scalar())));
    }
  }
  /// Every number of a config is finite: `.nan` and `.inf` validate as YAML but cannot be right.
  double number(const YAML::Node& n, const std::string& k) const {
    const double v = scalar<double>(n, k, "a number");
    if (!std::isfinite(v)) fail(n, k, fmt::format("must be a finite number, got '{}'", shown(n.Scalar())));
    return v;
  }
  /// A number in [lo, hi] (`lo_open`: excluding lo).
  double number_in(const YAML::Node& n, const std::string& k, double lo, bool lo_open, double hi, const char* why = "") const {
    const double v = number(n, k);
    const bool low = lo_open ? !(v > lo) : !(v >= lo);
    if (low || !(v <= hi))
      fail(n, k, fmt::format("must be {} {}{} (got {}){}", lo_open ? ">" : ">=", lo,
                             std::isfinite(hi) ? fmt::format(" and <= {}", hi) : "", shown(n.Scalar()), why));
    return v;
  }
  int64_t integer_in(const YAML::Node& n, const std::string& k, int64_t lo, int64_t hi, const char* why = "") const {
    const int64_t v = integer(n, k);
    if (v < lo || v > hi)
      fail(n, k, fmt::format("must be {} (got {}){}", hi == std::numeric_limits<int64_t>::max()
                                                          ? fmt::format(">= {}", lo) : fmt::format("in [{}, {}]", lo, hi),
                             v, why));
    return v;
  }
  int64_t integer(const YAML::Node& n, const std::string& k) const { return scalar<int64_t>(n, k, "an integer"); }
  std::string string(const YAML::Node& n, const std::string& k) const { return scalar<std::string>(n, k, "a string"); }
  bool boolean(const YAML::Node& n, const std::string& k) const { return scalar<bool>(n, k, "true or false"); }

  std::string choice(const YAML::Node& n, const std::string& k, const std::vector<std::string>& choices) const {
    auto v = string(n, k);
    if (std::find(choices.begin(), choices.end(), v) == choices.end())
      fail(n, k, fmt::format("'{}' is not one of: {}", shown(v), fmt::join(choices, ", ")));
    return v;
  }

  /// A YAML value as a plugin parameter value.
  Value value(const YAML::Node& n, const std::string& k) const {
    if (n.IsSequence()) {
      std::vector<double> out;
      for (const auto& item : n) out.push_back(number(item, k));
      return out;
    }
    if (!n.IsScalar()) fail(n, k, "expected a scalar or a list of numbers");
    const std::string s = n.Scalar();
    if (n.Tag() == "!") return s;  // quoted: always a string
    if (is_integer_literal(s)) return integer(n, k);
    if (s == "true" || s == "false") return s == "true";
    double d = 0;
    try {
      d = n.as<double>();
    } catch (const YAML::BadConversion&) {
      return s;
    }
    if (!std::isfinite(d)) fail(n, k, fmt::format("must be a finite number, got '{}'", s));
    return d;
  }

  /// `NAME` or `{type: NAME, key: value...}`, validated against the plugin's ParamSpecs.
  ComponentSpec component(const YAML::Node& n, const std::string& key, ComponentKind kind) const {
    ComponentSpec spec;
    Params raw;
    YAML::Node type_node = n;
    if (n.IsScalar()) {
      spec.type = n.Scalar();
    } else if (n.IsMap()) {
      type_node.reset(n["type"]);  // reset(): operator= would overwrite n itself
      if (!type_node) fail(n, key, "a component written as a mapping needs a 'type' key");
      spec.type = string(type_node, key + ".type");
      for (const auto& kv : n) {
        const auto pname = kv.first.as<std::string>();
        if (pname == "type") continue;
        raw.set(pname, value(kv.second, key + "." + pname));
        spec.explicit_keys.push_back(pname);
      }
    } else {
      fail(n, key, "expected a name or {type: NAME, ...}");
    }
    if (!registry_.find(kind, spec.type)) fail(type_node, key, registry_.unknown_component_message(kind, spec.type));
    try {
      spec.params = registry_.validate(kind, spec.type, raw);
      const auto& info = registry_.find(kind, spec.type)->info;
      spec.version = info.version;
      for (const auto& ps : info.params)
        if (!ps.hashed_at_default && spec.params.values().at(ps.name) == ps.default_value)
          spec.unhashed.push_back(ps.name);
      // Build it once now: range checks in the plugin's constructor fail here, with a line
      // number, instead of after a dense model has been trained.
      if (kind == ComponentKind::Criterion) registry_.make_criterion(spec.type, spec.params);
      if (kind == ComponentKind::RatioPolicy) registry_.make_ratio_policy(spec.type, spec.params);
      if (kind == ComponentKind::Schedule) registry_.make_schedule(spec.type, spec.params);
    } catch (const ParamError& e) {
      // The framework's checks and a plugin's keyed ParamError name the parameter: point at it.
      const bool written = !e.key.empty() && std::find(spec.explicit_keys.begin(), spec.explicit_keys.end(), e.key) !=
                                                 spec.explicit_keys.end();
      if (written) fail(n[e.key], key + "." + e.key, one_line(e));
      fail(n, e.key.empty() ? key : key + "." + e.key, one_line(e));
    } catch (const std::exception& e) {
      fail(n, key, one_line(e));
    }
    return spec;
  }

  Granularity granularity(const YAML::Node& n, const std::string& key) const {
    Granularity g;
    std::string type;
    YAML::Node type_node = n;
    if (n.IsMap()) {
      check_keys(n, key, {"type", "n", "m", "scope"});
      type_node.reset(n["type"]);  // reset(): operator= would overwrite n itself
      if (!type_node) fail(n, key, "needs a 'type' key");
      if (n["n"]) g.n = integer(n["n"], key + ".n");
      if (n["m"]) g.m = integer(n["m"], key + ".m");
    }
    type = choice(type_node, key, granularity_names());
    if (type == "element") g.kind = GranularityKind::Element;
    else if (type == "pattern") g.kind = GranularityKind::Pattern;
    else if (type == "vector") g.kind = GranularityKind::Vector;
    else if (type == "kernel") g.kind = GranularityKind::Kernel;
    else g.kind = GranularityKind::Channel;
    if (n.IsMap() && n["scope"]) {
      if (g.kind != GranularityKind::Channel) fail(n["scope"], key + ".scope", "only channel granularity has a scope");
      g.coupled = choice(n["scope"], key + ".scope", {"inner", "coupled"}) == "coupled";
    }
    if (g.kind == GranularityKind::Pattern && !(g.n >= 1 && g.n < g.m))
      fail(n, key, fmt::format("pattern needs 1 <= n < m, got n={} m={}", g.n, g.m));
    return g;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  const PluginRegistry& registry_;
};

/// A grid axis: a list in the config, or a single value treated as a one-element list.
std::vector<YAML::Node> axis(const YAML::Node& n) {
  std::vector<YAML::Node> out;
  if (n.IsSequence()) {
    for (const auto& item : n) out.push_back(item);
  } else {
    out.push_back(n);
  }
  return out;
}

OptimSpec optim(const Reader& r, const YAML::Node& n, const std::string& path, OptimSpec o) {
  if (n["lr"]) o.lr = r.number(n["lr"], path + ".lr");
  if (n["momentum"]) o.momentum = r.number(n["momentum"], path + ".momentum");
  if (n["weight_decay"]) o.weight_decay = r.number(n["weight_decay"], path + ".weight_decay");
  if (!(o.momentum >= 0 && o.momentum < 1)) r.fail(n["momentum"], path + ".momentum", fmt::format("must be in [0, 1) (got {})", o.momentum));
  if (o.weight_decay < 0) r.fail(n["weight_decay"], path + ".weight_decay", fmt::format("must be >= 0 (got {})", o.weight_decay));
  if (n["lr_schedule"]) o.lr_schedule = r.choice(n["lr_schedule"], path + ".lr_schedule", {"cosine", "step", "constant"});
  if (n["batch_size"]) o.batch_size = r.integer(n["batch_size"], path + ".batch_size");
  if (n["bn_l1"]) o.bn_l1 = r.number(n["bn_l1"], path + ".bn_l1");
  if (n["group_lasso"]) o.group_lasso = r.number(n["group_lasso"], path + ".group_lasso");
  if (o.bn_l1 < 0) r.fail(n["bn_l1"], path + ".bn_l1", "must be >= 0");
  if (o.group_lasso < 0) r.fail(n["group_lasso"], path + ".group_lasso", "must be >= 0");
  if (o.lr <= 0) r.fail(n["lr"] ? n["lr"] : n, path + ".lr", "must be > 0");
  if (o.batch_size <= 0) r.fail(n["batch_size"], path + ".batch_size", fmt::format("must be > 0 (got {})", o.batch_size));
  return o;
}

DataSpec data(const Reader& r, const YAML::Node& n) {
  DataSpec d;
  if (!n) return d;
  r.check_keys(n, "data", {"dataset", "root", "val_size", "train_limit", "test_limit", "split_seed",
                           "synthetic_train", "synthetic_test", "synthetic_size", "synthetic_classes",
                           "synthetic_channels", "labels", "image_size", "resize", "channels", "normalize", "augment"});
  if (n["dataset"]) d.dataset = r.choice(n["dataset"], "data.dataset", dataset_names());
  if (n["root"]) d.root = r.string(n["root"], "data.root");
  if (d.dataset != "fashion_mnist" && d.dataset != "synthetic" && d.root.empty())
    r.fail(n, "data.root", fmt::format("{} needs data.root (the directory of its files)", d.dataset));
  auto int_field = [&](const char* key, int64_t& out) {
    if (n[key]) out = r.integer(n[key], std::string("data.") + key);
    if (out < 0) r.fail(n[key], std::string("data.") + key, "must be >= 0");
  };
  int_field("val_size", d.val_size);
  int_field("train_limit", d.train_limit);
  int_field("test_limit", d.test_limit);
  int_field("split_seed", d.split_seed);
  int_field("synthetic_train", d.synthetic_train);
  int_field("synthetic_test", d.synthetic_test);
  int_field("synthetic_size", d.synthetic_size);
  int_field("synthetic_classes", d.synthetic_classes);
  int_field("synthetic_channels", d.synthetic_channels);
  if (d.synthetic_channels < 1) r.fail(n["synthetic_channels"], "data.synthetic_channels", "must be >= 1");
  if (d.val_size == 0) r.fail(n["val_size"], "data.val_size", "a validation split is required (pruning decisions use it)");
  // Format options belong to one dataset: elsewhere they would be silently ignored.
  auto only_for = [&](const char* key, std::initializer_list<const char*> datasets) {
    if (!n[key]) return false;
    for (const char* ds : datasets)
      if (d.dataset == ds) return true;
    r.fail(n[key], std::string("data.") + key, fmt::format("applies to dataset {} only", *datasets.begin()));
  };
  if (only_for("labels", {"cifar100"})) d.labels = r.choice(n["labels"], "data.labels", {"fine", "coarse"});
  if (only_for("image_size", {"image_folder"})) {
    const auto& v = n["image_size"];
    if (v.IsSequence() && v.size() == 2) {
      d.image_height = r.integer(v[0], "data.image_size");
      d.image_width = r.integer(v[1], "data.image_size");
    } else {
      d.image_height = d.image_width = r.integer(v, "data.image_size");
    }
    if (d.image_height <= 0 || d.image_width <= 0) r.fail(v, "data.image_size", "expected N or [height, width], both > 0");
  }
  if (only_for("resize", {"image_folder"})) {
    d.resize = r.integer(n["resize"], "data.resize");
    if (d.resize <= 0) r.fail(n["resize"], "data.resize", "must be > 0 (pixels of the shorter side)");
  }
  if (only_for("channels", {"image_folder"})) {
    d.channels = r.integer(n["channels"], "data.channels");
    if (d.channels != 1 && d.channels != 3) r.fail(n["channels"], "data.channels", "must be 1 (grey) or 3 (RGB)");
  }
  if (const auto& v = n["normalize"]) {
    if (v.IsMap()) {
      r.check_keys(v, "data.normalize", {"mean", "std"});
      d.normalize.mode = "given";
      for (const char* key : {"mean", "std"}) {
        const std::string path = std::string("data.normalize.") + key;
        if (!v[key]) r.fail(v, path, "missing (give mean and std: one value, or one per channel)");
        auto& out = key[0] == 'm' ? d.normalize.mean : d.normalize.std;
        if (v[key].IsSequence()) {
          for (const auto& x : v[key]) out.push_back(r.number(x, path));
        } else {
          out.push_back(r.number(v[key], path));
        }
        if (out.empty()) r.fail(v[key], path, "needs at least one value");
      }
      const size_t nm = d.normalize.mean.size(), ns = d.normalize.std.size();
      if (nm != ns && nm != 1 && ns != 1)
        r.fail(v, "data.normalize", "mean and std need as many values (or one of them a single value for every channel)");
      for (double s : d.normalize.std)
        if (!(s > 0)) r.fail(v["std"], "data.normalize.std", "every std must be > 0");
    } else {
      d.normalize.mode = r.choice(v, "data.normalize", {"global", "per_channel", "none"});
    }
  }
  if (const auto& a = n["augment"]) {
    r.check_keys(a, "data.augment", {"crop_padding", "flip"});
    if (a["crop_padding"]) d.augment.crop_padding = r.integer(a["crop_padding"], "data.augment.crop_padding");
    if (d.augment.crop_padding < 0) r.fail(a["crop_padding"], "data.augment.crop_padding", "must be >= 0 (pixels)");
    if (a["flip"]) d.augment.flip = r.boolean(a["flip"], "data.augment.flip");
  }
  // The files' content identifies the set (in every hash); what is cheap to check fails here,
  // with the file named, rather than after a dense model has been trained.
  if (fingerprinted_dataset(d.dataset)) {
    DataProbe probe;
    try {
      probe = probe_data(d);
    } catch (const std::exception& e) {
      r.fail(n["root"] ? n["root"] : n, "data.root", e.what());
    }
    d.fingerprint = probe.fingerprint;  // sizes are checked against the data by config/data_checks
  }
  return d;
}

// A `model:` entry: a built-in's name, or {arch: NAME} / {type: torchscript, path: FILE} with options.
ModelSpec model_entry(const Reader& r, const YAML::Node& n, const std::string& config_file) {
  ModelSpec m;
  if (n.IsScalar()) {
    m.arch = r.choice(n, "model", builtin_model_names());
    m.name = m.arch;
    return m;
  }
  r.check_keys(n, "model", {"type", "arch", "path", "name", "input", "classes", "init", "keep_dense"});
  m.type = n["type"] ? r.choice(n["type"], "model.type", {"builtin", "torchscript"}) : (n["path"] ? "torchscript" : "builtin");
  if (m.type == "builtin") {
    if (!n["arch"]) r.fail(n, "model.arch", fmt::format("missing (one of: {})", fmt::join(builtin_model_names(), ", ")));
    if (n["path"] || n["init"]) r.fail(n["path"] ? n["path"] : n["init"], "model", "path and init are for type: torchscript");
    m.arch = r.choice(n["arch"], "model.arch", builtin_model_names());
    m.name = m.arch;
  } else {
    if (!n["path"]) r.fail(n, "model.path", "missing: the TorchScript file (torch.jit.script(model).save(path))");
    if (n["arch"]) r.fail(n["arch"], "model.arch", "arch is for type: builtin");
    std::filesystem::path path = r.string(n["path"], "model.path");
    // Relative paths are read from the experiment file's folder, wherever the runner starts.
    if (path.is_relative()) path = std::filesystem::path(config_file).parent_path() / path;
    m.path = path.lexically_normal().string();
    if (!std::filesystem::is_regular_file(m.path)) r.fail(n["path"], "model.path", fmt::format("model file '{}' not found", m.path));
    m.content_hash = file_content_hash(m.path);
    m.name = path.stem().string();
    if (n["init"]) m.init = r.choice(n["init"], "model.init", {"file", "seed"});
  }
  if (n["name"]) m.name = r.string(n["name"], "model.name");
  if (n["input"]) {
    if (!n["input"].IsSequence() || n["input"].size() != 3) r.fail(n["input"], "model.input", "expected [channels, height, width]");
    for (const auto& d : n["input"]) {
      m.input.push_back(r.integer(d, "model.input"));
      if (m.input.back() <= 0) r.fail(d, "model.input", "sizes must be > 0");
    }
  }
  if (n["classes"]) {
    m.classes = r.integer(n["classes"], "model.classes");
    if (m.classes <= 0) r.fail(n["classes"], "model.classes", "must be > 0");
  }
  if (auto k = n["keep_dense"]) {
    if (!k.IsSequence()) r.fail(k, "model.keep_dense", "expected a list of layer name patterns (glob: 'fc', 'features.*')");
    for (const auto& p : k) m.keep_dense.push_back(r.string(p, "model.keep_dense"));
  }
  return m;
}

// Builds the model once (the probe forward included) so a bad file, shape or keep_dense pattern is
// a config error here, not a failed run after a dense training.
void check_model(const Reader& r, const YAML::Node& n, const ModelSpec& m, const DataSpec& data) {
  const InputShape shape = nominal_shape(data);
  try {
    make_model(m, shape);
  } catch (const std::exception& e) {
    r.fail(n.IsMap() && n[m.type == "torchscript" ? "path" : "arch"] ? n[m.type == "torchscript" ? "path" : "arch"] : n,
           "model", one_line(e));
  }
}

bool matches_label(const ComponentSpec& c, const std::string& want) { return c.type == want || c.label() == want; }

bool excluded(const Reader& r, const YAML::Node& rule, const RunSpec& run) {
  for (const auto& kv : rule) {
    const auto key = kv.first.as<std::string>();
    const auto& v = kv.second;
    bool hit = false;
    if (key == "model") hit = run.model.label() == r.string(v, "exclude.model");
    else if (key == "seed") hit = run.seed == r.integer(v, "exclude.seed");
    else if (key == "sparsity") hit = std::abs(run.sparsity - r.number(v, "exclude.sparsity")) < 1e-9;
    else if (key == "granularity") {
      auto s = r.string(v, "exclude.granularity");
      hit = run.granularity.name() == s || (run.granularity.kind == GranularityKind::Pattern && s == "pattern");
    } else if (key == "criterion") hit = matches_label(run.criterion, r.string(v, "exclude.criterion"));
    else if (key == "ratio_policy") hit = matches_label(run.ratio_policy, r.string(v, "exclude.ratio_policy"));
    else if (key == "schedule") hit = matches_label(run.schedule, r.string(v, "exclude.schedule"));
    if (!hit) return false;
  }
  return true;
}

}  // namespace

Experiment parse_experiment(const std::string& text, const std::string& file, const PluginRegistry& registry) {
  Reader r(file, registry);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file, e.mark.line + 1, e.mark.column + 1, "<yaml>", e.msg);
  }
  if (!root || !root.IsMap()) throw ConfigError(file, 1, 1, "<root>", "expected a mapping of settings");
  r.check_keys(root, "", {"version", "name", "description", "seed", "seeds", "device", "threads", "data",
                          "model", "train", "finetune", "eval", "prune", "exclude"});
  if (!root["version"]) r.fail(root, "version", "missing 'version: 1'");
  if (r.integer(root["version"], "version") != 1)
    r.fail(root["version"], "version", "unsupported config version (this runner reads version 1)");

  Experiment exp;
  exp.file = file;
  exp.name = root["name"] ? r.string(root["name"], "name") : std::filesystem::path(file).stem().string();
  if (!is_file_name(exp.name))
    r.fail(root["name"], "name", "use letters, digits, '_', '-' and '.' only (it names the database file)");
  if (root["description"]) exp.description = r.string(root["description"], "description");
  if (root["device"]) exp.device = r.choice(root["device"], "device", {"cpu", "cuda", "auto"});
  if (root["threads"])
    exp.threads = static_cast<int>(r.integer_in(root["threads"], "threads", 0, kMaxThreads, " (0 = LibTorch's default)"));

  // Seeds: `seed: 1` or `seeds: [1, 2]`.
  if (root["seed"] && root["seeds"]) r.fail(root["seeds"], "seeds", "give either 'seed' or 'seeds', not both");
  std::vector<int64_t> seeds;
  if (auto s = root["seeds"] ? root["seeds"] : root["seed"]) {
    for (const auto& n : axis(s)) seeds.push_back(r.integer_in(n, "seeds", 0, std::numeric_limits<int64_t>::max()));
  } else {
    seeds.push_back(0);
  }

  RunSpec base;
  base.experiment = exp.name;
  base.data = data(r, root["data"]);

  if (auto t = root["train"]) {
    r.check_keys(t, "train", {"epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_schedule", "bn_l1", "group_lasso"});
    if (t["epochs"]) base.train.epochs = r.number_in(t["epochs"], "train.epochs", 0, true, kMaxEpochs);
    base.train.optim = optim(r, t, "train", base.train.optim);
  }
  if (base.train.epochs <= 0) r.fail(root["train"] ? root["train"] : root, "train.epochs", "must be > 0");
  base.finetune.optim = base.train.optim;
  base.finetune.optim.lr = base.train.optim.lr / 10.0;  // Han et al.: fine-tune at ~1/10 the LR
  // Sparsity regularisers belong to the phase that asks for them (slimming fine-tunes without).
  base.finetune.optim.bn_l1 = 0.0;
  base.finetune.optim.group_lasso = 0.0;
  if (auto f = root["finetune"]) {
    r.check_keys(f, "finetune", {"epochs", "batch_size", "lr", "momentum", "weight_decay", "lr_schedule", "bn_l1", "group_lasso", "distill", "recalibrate_bn"});
    if (auto kd = f["distill"]) {
      r.check_keys(kd, "finetune.distill", {"weight", "temperature"});
      auto& d = base.finetune.distill;
      if (kd["weight"]) d.weight = r.number(kd["weight"], "finetune.distill.weight");
      if (kd["temperature"]) d.temperature = r.number(kd["temperature"], "finetune.distill.temperature");
      if (!(d.weight >= 0.0 && d.weight <= 1.0)) r.fail(kd["weight"], "finetune.distill.weight", "must be in [0, 1]");
      if (!(d.temperature > 0.0)) r.fail(kd["temperature"], "finetune.distill.temperature", "must be > 0");
    }
    if (f["recalibrate_bn"]) {
      base.finetune.recalibrate_bn = r.integer(f["recalibrate_bn"], "finetune.recalibrate_bn");
      if (base.finetune.recalibrate_bn < 0) r.fail(f["recalibrate_bn"], "finetune.recalibrate_bn", "must be >= 0 (batches; 0 = off)");
    }
    if (f["epochs"]) base.finetune.epochs = r.number_in(f["epochs"], "finetune.epochs", 0, false, kMaxEpochs);
    if (base.finetune.epochs < 0) r.fail(f["epochs"], "finetune.epochs", "must be >= 0");
    base.finetune.optim = optim(r, f, "finetune", base.finetune.optim);
  }
  if (auto e = root["eval"]) {
    r.check_keys(e, "eval", {"batch_size", "latency_repeats", "save_models"});
    if (e["batch_size"]) base.eval.batch_size = r.integer_in(e["batch_size"], "eval.batch_size", 1, std::numeric_limits<int64_t>::max());
    if (e["latency_repeats"]) base.eval.latency_repeats = r.integer_in(e["latency_repeats"], "eval.latency_repeats", 0, 100000);
    if (base.eval.latency_repeats < 0) r.fail(e["latency_repeats"], "eval.latency_repeats", "must be >= 0");
    if (e["save_models"]) base.eval.save_models = r.boolean(e["save_models"], "eval.save_models");
  }

  if (!root["model"])
    r.fail(root, "model", fmt::format("missing (one of: {}, or {{type: torchscript, path: FILE}})", fmt::join(builtin_model_names(), ", ")));
  std::vector<ModelSpec> models;
  std::set<std::string> model_labels;
  for (const auto& n : axis(root["model"])) {
    models.push_back(model_entry(r, n, file));
    if (!model_labels.insert(models.back().label()).second)
      r.fail(n, "model", fmt::format("two models are labelled '{}': give one a name", models.back().label()));
    check_model(r, n, models.back(), base.data);
  }

  auto prune = root["prune"];
  if (!prune) r.fail(root, "prune", "missing the pruning section");
  r.check_keys(prune, "prune", {"criterion", "ratio_policy", "schedule", "granularity", "sparsity"});
  for (const char* required : {"criterion", "ratio_policy", "schedule", "sparsity"})
    if (!prune[required]) r.fail(prune, std::string("prune.") + required, "missing");

  std::vector<ComponentSpec> criteria, policies, schedules;
  for (const auto& n : axis(prune["criterion"])) criteria.push_back(r.component(n, "prune.criterion", ComponentKind::Criterion));
  for (const auto& n : axis(prune["ratio_policy"])) policies.push_back(r.component(n, "prune.ratio_policy", ComponentKind::RatioPolicy));
  for (const auto& n : axis(prune["schedule"])) schedules.push_back(r.component(n, "prune.schedule", ComponentKind::Schedule));
  std::vector<Granularity> grans;
  if (prune["granularity"]) {
    for (const auto& n : axis(prune["granularity"])) grans.push_back(r.granularity(n, "prune.granularity"));
  } else {
    grans.push_back(Granularity{});
  }
  std::vector<double> sparsities;
  for (const auto& n : axis(prune["sparsity"])) {
    const double s = r.number(n, "prune.sparsity");
    if (!(s >= 0.0 && s < 1.0)) r.fail(n, "prune.sparsity", fmt::format("{} is outside [0, 1)", s));
    sparsities.push_back(s);
  }

  std::vector<YAML::Node> exclusions;
  if (auto ex = root["exclude"]) {
    if (!ex.IsSequence()) r.fail(ex, "exclude", "expected a list of {axis: value} rules");
    for (const auto& rule : ex) {
      r.check_keys(rule, "exclude", {"model", "seed", "criterion", "ratio_policy", "schedule", "granularity", "sparsity"});
      exclusions.push_back(rule);
    }
  }

  // Counted before anything is expanded: a grid too large to run is refused at once instead of
  // keeping `validate` busy (exclusions are applied run by run, so they do not lower the count).
  const double grid_size = double(models.size()) * double(grans.size()) * double(criteria.size()) *
                           double(policies.size()) * double(schedules.size()) * double(sparsities.size()) *
                           double(seeds.size());
  if (grid_size > double(kMaxGridRuns))
    r.fail(prune, "prune", fmt::format(
        "the grid has {} models x {} granularities x {} criteria x {} ratio policies x {} schedules x {} sparsities "
        "x {} seeds = {:.0f} runs before exclusions, more than the limit of {} runs per experiment file; split it "
        "into several files", models.size(), grans.size(), criteria.size(), policies.size(), schedules.size(),
        sparsities.size(), seeds.size(), grid_size, kMaxGridRuns));
  std::vector<int> exclusion_hits(exclusions.size(), 0);
  // Cartesian product, in a fixed nesting order so run indices are stable.
  for (const auto& model : models)
    for (const auto& g : grans)
      for (const auto& crit : criteria)
        for (const auto& pol : policies)
          for (const auto& sched : schedules)
            for (double s : sparsities)
              for (int64_t seed : seeds) {
                RunSpec run = base;
                run.model = model;
                run.granularity = g;
                run.criterion = crit;
                run.ratio_policy = pol;
                run.schedule = sched;
                run.sparsity = s;
                run.seed = seed;
                bool drop = false;
                for (size_t k = 0; k < exclusions.size(); ++k)
                  if (excluded(r, exclusions[k], run)) {
                    drop = true;
                    ++exclusion_hits[k];
                  }
                if (drop) continue;
                // N:M fixes the sparsity; checked after exclusions so a grid can pair it with one value.
                if (g.kind == GranularityKind::Pattern && std::abs(s - (1.0 - double(g.n) / double(g.m))) > 1e-9)
                  r.fail(prune["sparsity"], "prune.sparsity",
                         fmt::format("pattern {}:{} prunes exactly {:g} of the weights; set sparsity to that (or "
                                     "exclude the other values for it)", g.n, g.m, 1.0 - double(g.n) / double(g.m)));
                run.index = static_cast<int64_t>(exp.runs.size());
                exp.runs.push_back(std::move(run));
              }
  for (size_t k = 0; k < exclusions.size(); ++k)
    if (exclusion_hits[k] == 0) r.fail(exclusions[k], "exclude", "this rule matches no run of the grid (a typo?)");
  if (exp.runs.empty()) r.fail(root, "exclude", "the grid is empty after exclusions");
  std::set<std::string> hashes;
  for (const auto& run : exp.runs)
    if (!hashes.insert(run.hash()).second)
      r.fail(prune, "prune", fmt::format("two grid entries expand to the same run ({}); remove the duplicate", run.summary()));
  return exp;
}

Experiment load_experiment(const std::string& path, const PluginRegistry& registry) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, 0, 0, "<file>", "cannot open the experiment file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_experiment(ss.str(), path, registry);
}

}  // namespace prunelab
