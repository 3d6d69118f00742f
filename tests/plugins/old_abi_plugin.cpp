// A plugin as plugin API 4 wrote it: an ABI struct instead of the record string. Refused from the
// file as built against an older prunelab.
#include <boost/config.hpp>

extern "C" struct OldPluginAbi {
  int api_version;
  const char* torch_version;
  int cxx11_abi;
};
extern "C" BOOST_SYMBOL_EXPORT const OldPluginAbi prunelab_plugin_abi = {4, "1.13.0", 1};
extern "C" BOOST_SYMBOL_EXPORT void prunelab_register_plugin(void*) {}
