// A DataSpec as one JSON string, for files that must reload their data (saved models).
#include "data/dataset.hpp"

#include "core/json.hpp"

#include <yaml-cpp/yaml.h>

#include <stdexcept>

namespace prunelab {

std::string data_spec_to_json(const DataSpec& d) {
  JsonObject o;
  o.set("dataset", d.dataset).set("root", d.root).set("val_size", d.val_size).set("train_limit", d.train_limit)
      .set("test_limit", d.test_limit).set("split_seed", d.split_seed).set("synthetic_train", d.synthetic_train)
      .set("synthetic_test", d.synthetic_test).set("synthetic_size", d.synthetic_size)
      .set("synthetic_classes", d.synthetic_classes).set("synthetic_channels", d.synthetic_channels).set("labels", d.labels).set("resize", d.resize)
      .set("image_height", d.image_height).set("image_width", d.image_width).set("channels", d.channels)
      .set("normalize_mode", d.normalize.mode).set("normalize_mean", Value(d.normalize.mean))
      .set("normalize_std", Value(d.normalize.std)).set("crop_padding", d.augment.crop_padding)
      .set("flip", d.augment.flip).set("fingerprint", d.fingerprint);
  return o.str();
}

DataSpec data_spec_from_json(const std::string& json) {
  const YAML::Node n = YAML::Load(json);  // JSON is YAML
  if (!n.IsMap()) throw std::runtime_error("a saved data spec is not a JSON object");
  DataSpec d;
  auto get = [&](const char* key, auto& out) {
    if (n[key]) out = n[key].as<std::decay_t<decltype(out)>>();
  };
  get("dataset", d.dataset);
  get("root", d.root);
  get("val_size", d.val_size);
  get("train_limit", d.train_limit);
  get("test_limit", d.test_limit);
  get("split_seed", d.split_seed);
  get("synthetic_train", d.synthetic_train);
  get("synthetic_test", d.synthetic_test);
  get("synthetic_size", d.synthetic_size);
  get("synthetic_classes", d.synthetic_classes);
  get("synthetic_channels", d.synthetic_channels);
  get("labels", d.labels);
  get("resize", d.resize);
  get("image_height", d.image_height);
  get("image_width", d.image_width);
  get("channels", d.channels);
  get("normalize_mode", d.normalize.mode);
  get("normalize_mean", d.normalize.mean);
  get("normalize_std", d.normalize.std);
  get("crop_padding", d.augment.crop_padding);
  get("flip", d.augment.flip);
  get("fingerprint", d.fingerprint);
  return d;
}

}  // namespace prunelab
