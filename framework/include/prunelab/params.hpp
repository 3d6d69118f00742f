#pragma once
/// Typed, validated parameters of one plugin component (`{type: NAME, key: value, ...}`).

#include <cstdint>
#include <limits>
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
/// The type as a message says what a value must be: "an integer", "a number", "true or false", ...
const char* describe(ParamType type);

/// What a plugin accepts: the framework rejects unknown names, wrong types, values outside the
/// declared range and strings outside the declared choices before the plugin is ever
/// constructed, pointing at the key, and fills in defaults. Ranges and choices are declared
/// with the chained setters:
///   ParamSpec{"p", ParamType::Number, 1.0, "norm of a slice"}.greater_than(0)
///   ParamSpec{"budget", ParamType::String, std::string("total"), "..."}.one_of({"total", "per_step"})
struct ParamSpec {
  std::string name;
  ParamType type;
  Value default_value;
  std::string help;
  /// false for a parameter added after a plugin's first release: while it holds its default it
  /// is left out of the run's canonical config, so runs from before it keep their hashes.
  bool hashed_at_default = true;
  /// Accepted range of an Int or a Number, or of every entry of a NumberList. Unbounded by
  /// default; numbers must always be finite.
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false, max_exclusive = false;
  /// Accepted values of a String; any string when empty.
  std::vector<std::string> choices;

  ParamSpec& at_least(double v) { min = v; min_exclusive = false; return *this; }
  ParamSpec& greater_than(double v) { min = v; min_exclusive = true; return *this; }
  ParamSpec& at_most(double v) { max = v; max_exclusive = false; return *this; }
  ParamSpec& less_than(double v) { max = v; max_exclusive = true; return *this; }
  ParamSpec& one_of(std::vector<std::string> values) { choices = std::move(values); return *this; }

  /// Why `value` (already of the right type) is not accepted, as the end of a sentence
  /// ("must be >= 1 (got 0)", "must be one of: total, per_step (got 'all')"); empty if it is.
  std::string violation(const Value& value) const;
};

/// Error raised for a bad parameter value; the config layer adds file and line, and points at
/// `key` when it is set (the parameter the error is about).
struct ParamError : std::runtime_error {
  explicit ParamError(const std::string& message) : std::runtime_error(message) {}
  ParamError(std::string param, const std::string& message) : std::runtime_error(message), key(std::move(param)) {}
  std::string key;
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
