#include "run/model_file.hpp"

#include "data/dataset.hpp"
#include "models/model_spec.hpp"

#include <fmt/format.h>

#include <map>
#include <sstream>
#include <stdexcept>

namespace prunelab {

namespace {
// One "key=value" line each: readable with `unzip -p FILE '*/extra/prunelab_metadata.json'` too.
std::string to_text(const ModelFileInfo& info) {
  const auto& d = info.data;
  std::string out = fmt::format("format=2\nmodel={}\nkind={}\nrun_hash={}\ngranularity={}\ntop1={:.17g}\n", info.model,
                                info.kind, info.run_hash, info.granularity, info.top1);
  out += fmt::format("shape={},{},{},{}\n", info.shape.channels, info.shape.height, info.shape.width, info.shape.classes);
  out += fmt::format("dataset={}\ndata_root={}\nsynthetic_channels={}\n", d.dataset, d.root, d.synthetic_channels);
  out += fmt::format("data_ints={},{},{},{},{},{},{},{}\n", d.val_size, d.train_limit, d.test_limit, d.split_seed,
                     d.synthetic_train, d.synthetic_test, d.synthetic_size, d.synthetic_classes);
  out += fmt::format("data_spec={}\n", data_spec_to_json(d));  // every field (one JSON line), the ones above included
  return out;
}

ModelFileInfo from_text(const std::string& text, const std::string& path) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (auto eq = line.find('='); eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  auto get = [&](const char* key) {
    auto it = kv.find(key);
    if (it == kv.end()) throw std::runtime_error(fmt::format("{}: model metadata has no '{}'", path, key));
    return it->second;
  };
  ModelFileInfo info;
  info.model = get("model");
  info.kind = get("kind");
  info.run_hash = get("run_hash");
  info.granularity = get("granularity");
  info.top1 = std::stod(get("top1"));
  auto& s = info.shape;
  auto& d = info.data;
  if (std::sscanf(get("shape").c_str(), "%ld,%ld,%ld,%ld", &s.channels, &s.height, &s.width, &s.classes) != 4 ||
      std::sscanf(get("data_ints").c_str(), "%ld,%ld,%ld,%ld,%ld,%ld,%ld,%ld", &d.val_size, &d.train_limit,
                  &d.test_limit, &d.split_seed, &d.synthetic_train, &d.synthetic_test, &d.synthetic_size,
                  &d.synthetic_classes) != 8)
    throw std::runtime_error(fmt::format("{}: unreadable model metadata", path));
  d.dataset = get("dataset");
  if (kv.count("synthetic_channels")) d.synthetic_channels = std::stoll(kv["synthetic_channels"]);
  d.root = get("data_root");
  if (kv.count("data_spec")) d = data_spec_from_json(kv["data_spec"]);  // files written since issue 16
  return info;
}
}  // namespace

void save_model_file(const std::string& path, Model& model, const ModelFileInfo& info) {
  model.save(path, to_text(info));
}

LoadedModel load_model_file(const std::string& path, c10::Device device) {
  std::string metadata;
  LoadedModel out;
  out.model = load_model(path, device, &metadata);
  out.info = from_text(metadata, path);
  return out;
}

}  // namespace prunelab
