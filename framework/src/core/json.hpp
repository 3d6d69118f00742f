#pragma once
/// A tiny writer for canonical JSON: keys sorted, numbers in shortest round-trip form.

#include <prunelab/params.hpp>

#include <map>
#include <string>

namespace prunelab {

class JsonObject {
 public:
  JsonObject& set(const std::string& key, const Value& value) {
    fields_[key] = value_to_json(value);
    return *this;
  }
  // Exact overloads so no argument silently converts to another alternative (bool to int...).
  JsonObject& set(const std::string& key, const char* value) { return set(key, Value(std::string(value))); }
  JsonObject& set(const std::string& key, const std::string& value) { return set(key, Value(value)); }
  JsonObject& set(const std::string& key, bool value) { return set(key, Value(value)); }
  JsonObject& set(const std::string& key, int value) { return set(key, Value(int64_t(value))); }
  JsonObject& set(const std::string& key, int64_t value) { return set(key, Value(value)); }
  JsonObject& set(const std::string& key, double value) { return set(key, Value(value)); }
  JsonObject& set(const std::string& key, const JsonObject& nested) {
    fields_[key] = nested.str();
    return *this;
  }
  /// Inserts already-serialised JSON (a component's own canonical form).
  JsonObject& set_raw(const std::string& key, const std::string& json) {
    fields_[key] = json;
    return *this;
  }
  std::string str() const {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : fields_) {
      out += (first ? "\"" : ",\"") + k + "\":" + v;
      first = false;
    }
    return out + "}";
  }

 private:
  std::map<std::string, std::string> fields_;
};

/// FNV-1a 64-bit hash as 16 hex digits: stable across platforms and runs.
std::string stable_hash(const std::string& text);

}  // namespace prunelab
