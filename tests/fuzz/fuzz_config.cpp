// libFuzzer target: the experiment config loader on arbitrary text, with the real plugins (from
// $PRUNELAB_FUZZ_PLUGIN_DIR, the release build's plugins) so components and their parameters are
// parsed and constructed as in `runner validate`. Any exception is an answer; a crash, a leak, a
// sanitizer report or a timeout is a defect.
#include "config/config_loader.hpp"
#include "plugin/registry.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {
prunelab::PluginRegistry* registry = nullptr;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* dir = std::getenv("PRUNELAB_FUZZ_PLUGIN_DIR");
  registry = new prunelab::PluginRegistry();
  for (const auto& refused : registry->load_directory(dir ? dir : "build/plugins"))
    std::fprintf(stderr, "fuzz_config: %s\n", refused.c_str());
  if (registry->all().empty()) {
    std::fprintf(stderr, "fuzz_config: no plugins loaded; set PRUNELAB_FUZZ_PLUGIN_DIR\n");
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto exp = prunelab::parse_experiment(text, "fuzz.yaml", *registry);
    for (const auto& run : exp.runs) (void)run.hash();
  } catch (const std::exception&) {
  }
  return 0;
}
