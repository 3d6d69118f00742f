// A plugin that claims a different API version: the loader must refuse it before registering.
#include <prunelab/plugin_api.hpp>

extern "C" BOOST_SYMBOL_EXPORT const prunelab::PluginAbi prunelab_plugin_abi = {TEST_PLUGIN_API_VERSION, TORCH_VERSION, PRUNELAB_CXX11_ABI};
extern "C" BOOST_SYMBOL_EXPORT void prunelab_register_plugin(prunelab::Registrar&) {
  throw std::runtime_error("must never be called");
}
