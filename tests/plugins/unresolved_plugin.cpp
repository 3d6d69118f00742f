// A plugin with the right ABI record that needs a function nothing provides: loading must fail
// with a message naming the file and the symbol, and leave the process running.
#include <prunelab/plugin_api.hpp>

namespace prunelab {
void function_this_framework_does_not_have();
}

PRUNELAB_PLUGIN(registrar) {
  prunelab::function_this_framework_does_not_have();
}
