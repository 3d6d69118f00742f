#pragma once
/// Reads a plugin's ABI record (see prunelab/plugin_abi.hpp) from the library file's bytes, so
/// it is checked before the library is loaded.

#include <optional>
#include <string>
#include <vector>

namespace prunelab {

/// The fields of a plugin's ABI record.
struct PluginAbi {
  int api_version = 0;
  std::string interface_hash;
  std::string torch_version;
  int cxx11_abi = 0;
};

/// What the bytes of a library file say about it.
struct AbiScan {
  std::vector<std::string> records;   // distinct "prunelab-plugin-abi;..." strings found
  bool has_register_symbol = false;   // the name prunelab_register_plugin appears (a plugin of any age)
};

AbiScan scan_library_bytes(const std::string& bytes);

/// Parses "prunelab-plugin-abi;api=5;interface=H;torch=V;cxx11abi=N"; nullopt if malformed.
std::optional<PluginAbi> parse_abi_record(const std::string& record);

}  // namespace prunelab
