#include <prunelab/params.hpp>

#include <fmt/format.h>

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

const Value& Params::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw ParamError(fmt::format("parameter '{}' is not set", name));
  return it->second;
}

bool Params::get_bool(const std::string& name) const {
  if (auto* v = std::get_if<bool>(&at(name))) return *v;
  throw ParamError(fmt::format("parameter '{}' is not a bool", name));
}

int64_t Params::get_int(const std::string& name) const {
  if (auto* v = std::get_if<int64_t>(&at(name))) return *v;
  throw ParamError(fmt::format("parameter '{}' is not an int", name));
}

double Params::get_number(const std::string& name) const {
  const Value& v = at(name);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  throw ParamError(fmt::format("parameter '{}' is not a number", name));
}

const std::string& Params::get_string(const std::string& name) const {
  if (auto* v = std::get_if<std::string>(&at(name))) return *v;
  throw ParamError(fmt::format("parameter '{}' is not a string", name));
}

std::vector<double> Params::get_number_list(const std::string& name) const {
  if (auto* v = std::get_if<std::vector<double>>(&at(name))) return *v;
  throw ParamError(fmt::format("parameter '{}' is not a list of numbers", name));
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
