#pragma once
/// Typed, validated parameters of one plugin component (`{type: NAME, key: value, ...}`).

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace prunelab {

/// One parameter value. Lists are always lists of numbers (sparsity steps, ratios).
using Value = std::variant<bool, int64_t, double, std::string, std::vector<double>>;

enum class ParamType { Bool, Int, Number, String, NumberList };

const char* to_string(ParamType type);

/// What a plugin accepts: the framework rejects unknown names and wrong types
/// before the plugin is ever constructed, and fills in defaults.
struct ParamSpec {
  std::string name;
  ParamType type;
  Value default_value;
  std::string help;
  /// false for a parameter added after a plugin's first release: while it holds its default it
  /// is left out of the run's canonical config, so runs from before it keep their hashes.
  bool hashed_at_default = true;
};

/// Error raised for a bad parameter value; the config layer adds file and line.
struct ParamError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, Value> values) : values_(std::move(values)) {}

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  bool get_bool(const std::string& name) const;
  int64_t get_int(const std::string& name) const;
  double get_number(const std::string& name) const;  // accepts ints too
  const std::string& get_string(const std::string& name) const;
  std::vector<double> get_number_list(const std::string& name) const;

  void set(const std::string& name, Value value) { values_[name] = std::move(value); }
  const std::map<std::string, Value>& values() const { return values_; }

 private:
  const Value& at(const std::string& name) const;
  std::map<std::string, Value> values_;
};

/// Canonical JSON text of one value (numbers printed with round-trip precision).
std::string value_to_json(const Value& value);

}  // namespace prunelab
