// A plugin whose ABI record claims a different API version: the loader must refuse it from the
// file, before registering (or even loading) anything.
#include <prunelab/plugin_api.hpp>

extern "C" BOOST_SYMBOL_EXPORT const char prunelab_plugin_abi[] = PRUNELAB_PLUGIN_ABI_RECORD_FOR(TEST_PLUGIN_API_VERSION);
extern "C" BOOST_SYMBOL_EXPORT void prunelab_register_plugin(prunelab::Registrar&) {
  throw std::runtime_error("must never be called");
}
