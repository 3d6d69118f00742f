#include "plugin/abi_record.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>

namespace prunelab {

namespace {
// Built at run time so that this library's own bytes never contain the record's prefix.
std::string record_prefix() { return std::string("prunelab-plugin-abi") + ";"; }

bool parse_int(const std::string& s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k)
    if (s[k] < '0' || s[k] > '9') return false;
  out = std::atoi(s.c_str());
  return true;
}
}  // namespace

AbiScan scan_library_bytes(const std::string& bytes) {
  AbiScan scan;
  const std::string prefix = record_prefix();
  constexpr size_t kMaxRecord = 512;
  for (size_t pos = bytes.find(prefix); pos != std::string::npos; pos = bytes.find(prefix, pos + 1)) {
    const size_t end = bytes.find('\0', pos);
    const size_t len = std::min(end == std::string::npos ? bytes.size() - pos : end - pos, kMaxRecord);
    std::string record = bytes.substr(pos, len);
    if (std::find(scan.records.begin(), scan.records.end(), record) == scan.records.end())
      scan.records.push_back(std::move(record));
  }
  const std::string reg = std::string("prunelab_register") + "_plugin";
  scan.has_register_symbol = bytes.find(reg + '\0') != std::string::npos;
  return scan;
}

std::optional<PluginAbi> parse_abi_record(const std::string& record) {
  const std::string prefix = record_prefix();
  if (record.rfind(prefix, 0) != 0) return std::nullopt;
  std::map<std::string, std::string> fields;
  size_t start = prefix.size();
  while (start <= record.size()) {
    size_t end = record.find(';', start);
    if (end == std::string::npos) end = record.size();
    const std::string item = record.substr(start, end - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return std::nullopt;
    if (!fields.emplace(item.substr(0, eq), item.substr(eq + 1)).second) return std::nullopt;
    start = end + 1;
  }
  PluginAbi abi;
  // Only the API version is required: records of other versions may carry other fields.
  if (!fields.count("api") || !parse_int(fields["api"], abi.api_version)) return std::nullopt;
  abi.interface_hash = fields["interface"];
  abi.torch_version = fields["torch"];
  if (fields.count("cxx11abi") && !parse_int(fields["cxx11abi"], abi.cxx11_abi)) return std::nullopt;
  return abi;
}

}  // namespace prunelab
