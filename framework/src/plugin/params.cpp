#include <prunelab/params.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace prunelab {

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::Bool: return "bool";
    case ParamType::Int: return "int";
    case ParamType::Number: return "number";
    case ParamType::String: return "string";
    case ParamType::NumberList: return "list of numbers";
  }
  return "?";
}

const char* describe(ParamType type) {
  switch (type) {
    case ParamType::Bool: return "true or false";
    case ParamType::Int: return "an integer";
    case ParamType::Number: return "a number";
    case ParamType::String: return "a string";
    case ParamType::NumberList: return "a list of numbers";
  }
  return "?";
}

namespace {
std::string bound(double v, bool integer) {
  return integer && v == std::floor(v) && std::abs(v) < 1e15 ? fmt::format("{}", static_cast<int64_t>(v))
                                                             : fmt::format("{}", v);
}

// "" or why one number is outside the spec's range.
std::string range_violation(const ParamSpec& s, double x, bool integer) {
  if (!std::isfinite(x)) return fmt::format("must be a finite number (got {})", x);
  const bool low = s.min_exclusive ? !(x > s.min) : !(x >= s.min);
  const bool high = s.max_exclusive ? !(x < s.max) : !(x <= s.max);
  if (!low && !high) return "";
  const bool has_min = std::isfinite(s.min), has_max = std::isfinite(s.max);
  std::string range;
  if (has_min && has_max)
    range = fmt::format("in {}{}, {}{}", s.min_exclusive ? "(" : "[", bound(s.min, integer), bound(s.max, integer),
                        s.max_exclusive ? ")" : "]");
  else if (has_min)
    range = fmt::format("{} {}", s.min_exclusive ? ">" : ">=", bound(s.min, integer));
  else
    range = fmt::format("{} {}", s.max_exclusive ? "<" : "<=", bound(s.max, integer));
  return fmt::format("must be {} (got {})", range, bound(x, integer));
}
}  // namespace

std::string ParamSpec::violation(const Value& value) const {
  if (const auto* i = std::get_if<int64_t>(&value)) return range_violation(*this, static_cast<double>(*i), true);
  if (const auto* d = std::get_if<double>(&value)) return range_violation(*this, *d, type == ParamType::Int);
  if (const auto* list = std::get_if<std::vector<double>>(&value)) {
    for (size_t k = 0; k < list->size(); ++k)
      if (auto why = range_violation(*this, (*list)[k], false); !why.empty())
        return fmt::format("entry {} {}", k + 1, why);
    return "";
  }
  if (const auto* str = std::get_if<std::string>(&value)) {
    if (choices.empty() || std::find(choices.begin(), choices.end(), *str) != choices.end()) return "";
    return fmt::format("must be one of: {} (got '{}')", fmt::join(choices, ", "),
                       str->size() <= 60 ? *str : str->substr(0, 40) + "...");
  }
  return "";
}

const Value& Params::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw ParamError(name, fmt::format("parameter '{}' is not set", name));
  return it->second;
}

bool Params::get_bool(const std::string& name) const {
  if (auto* v = std::get_if<bool>(&at(name))) return *v;
  throw ParamError(name, fmt::format("parameter '{}' is not true or false", name));
}

int64_t Params::get_int(const std::string& name) const {
  if (auto* v = std::get_if<int64_t>(&at(name))) return *v;
  throw ParamError(name, fmt::format("parameter '{}' is not an integer", name));
}

double Params::get_number(const std::string& name) const {
  const Value& v = at(name);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  throw ParamError(name, fmt::format("parameter '{}' is not a number", name));
}

const std::string& Params::get_string(const std::string& name) const {
  if (auto* v = std::get_if<std::string>(&at(name))) return *v;
  throw ParamError(name, fmt::format("parameter '{}' is not a string", name));
}

std::vector<double> Params::get_number_list(const std::string& name) const {
  if (auto* v = std::get_if<std::vector<double>>(&at(name))) return *v;
  throw ParamError(name, fmt::format("parameter '{}' is not a list of numbers", name));
}

namespace {
std::string number_to_json(double d) {
  if (std::isnan(d) || std::isinf(d)) return "null";
  return fmt::format("{}", d);  // fmt's shortest round-trip representation
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += c;
    }
  }
  return out;
}
}  // namespace

std::string value_to_json(const Value& value) {
  struct Visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return number_to_json(d); }
    std::string operator()(const std::string& s) const { return "\"" + escape(s) + "\""; }
    std::string operator()(const std::vector<double>& v) const {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + number_to_json(v[i]);
      return out + "]";
    }
  };
  return std::visit(Visitor{}, value);
}

}  // namespace prunelab
