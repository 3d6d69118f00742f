#include "config/data_checks.hpp"

#include "config/config_loader.hpp"
#include "data/dataset.hpp"
#include "core/errors.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>
#include <sstream>

namespace prunelab {

namespace {
// Where a key of the config sits: the key's value, else the closest section that exists.
class Locator {
 public:
  Locator(const std::string& text, std::string file) : file_(std::move(file)) {
    try {
      root_ = YAML::Load(text);
    } catch (const std::exception&) {
      // The config parsed once already; without marks the errors just say line 0.
    }
  }
  [[noreturn]] void fail(const std::string& section, const std::string& key, const std::string& message) const {
    int line = 0, column = 0;
    const YAML::Node& root = root_;
    if (root && root.IsMap()) {
      YAML::Node at = root;
      if (auto s = root[section]; s) {
        at.reset(s);
        if (s.IsMap() && s[key]) at.reset(s[key]);
      }
      line = at.Mark().line + 1;
      column = at.Mark().column + 1;
    }
    throw ConfigError(file_, line, column, section + "." + key, message);
  }

 private:
  std::string file_;
  YAML::Node root_;
};

void check_one(const RunSpec& run, const Locator& where) {
  const DataSpec& d = run.data;
  int64_t available = 0;  // training images left once the validation split is carved out
  if (d.dataset == "synthetic") {
    if (d.synthetic_train < 1) where.fail("data", "synthetic_train", "must be >= 1 (training images)");
    if (d.synthetic_test < 1) where.fail("data", "synthetic_test", "must be >= 1 (test images)");
    if (d.synthetic_size < 1) where.fail("data", "synthetic_size", "must be >= 1 (image side in pixels)");
    if (d.synthetic_classes < 2) where.fail("data", "synthetic_classes", "must be >= 2");
    available = d.synthetic_train;  // the validation split is drawn in addition
  } else {
    DataSpec whole = d;
    whole.val_size = 0;
    whole.train_limit = 0;
    const int64_t images = train_split_size(whole);  // reads the label file only
    if (d.val_size >= images)
      where.fail("data", "val_size", fmt::format("{} validation images leave no training images: the training file "
                                                 "has {} (use at most {})", d.val_size, images, images - 1));
    available = images - d.val_size;
  }
  if (d.train_limit > available)
    where.fail("data", "train_limit", fmt::format("{} is more than the {} training images there are{} (0 = all of them)",
                                                  d.train_limit, available,
                                                  d.dataset == "synthetic" ? "" : " after the validation split"));
  const int64_t train = d.train_limit > 0 ? d.train_limit : available;
  if (run.train.optim.batch_size > train)
    where.fail("train", "batch_size", fmt::format("{} is larger than the training split ({} images)",
                                                  run.train.optim.batch_size, train));
  if (run.finetune.optim.batch_size > train)
    where.fail("finetune", "batch_size", fmt::format("{} is larger than the training split ({} images)",
                                                     run.finetune.optim.batch_size, train));
}
}  // namespace

std::vector<std::string> check_against_data(const Experiment& exp, const std::string& config_text) {
  const Locator where(config_text, exp.file);
  std::vector<std::string> notes;
  std::map<std::string, bool> seen;  // per data section and batch sizes: runs mostly share them
  for (const auto& run : exp.runs) {
    const std::string key = fmt::format("{}|{}|{}", to_json(run.data), run.train.optim.batch_size,
                                        run.finetune.optim.batch_size);
    if (!seen.emplace(key, true).second) continue;
    try {
      check_one(run, where);
    } catch (const ConfigError&) {
      throw;
    } catch (const std::exception& e) {  // the data set is not here: nothing to check against
      notes.push_back(fmt::format("sizes not checked against the data ({})", one_line(e)));
    }
  }
  return notes;
}

std::vector<std::string> check_against_data(const Experiment& exp) {
  std::ifstream in(exp.file);
  std::stringstream text;
  text << in.rdbuf();
  return check_against_data(exp, text.str());
}

}  // namespace prunelab
