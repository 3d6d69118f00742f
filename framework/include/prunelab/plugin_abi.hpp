#pragma once
/// What a plugin records about the interface it was compiled against, and the PRUNELAB_PLUGIN
/// macro that writes the record and the register function.
///
/// The record is one string in the library's read-only data:
///   "prunelab-plugin-abi;api=6;interface=<hash>;torch=1.13.0;cxx11abi=1"
/// The loader reads it from the file's bytes before the library is mapped, so nothing of a
/// stale plugin runs and none of its symbols is resolved before it is refused with a message
/// naming what differs. `interface` is a hash of the public headers (prunelab/*.hpp) taken
/// when the framework is built: any change to them changes it, so the version cannot be
/// forgotten. std::string, std::function and std::variant cross the boundary, so the LibTorch
/// version and the C++ standard library ABI must match too.

#include <prunelab/abi_hash.hpp>  // generated at build time: PRUNELAB_PLUGIN_INTERFACE_HASH

#include <torch/version.h>

#include <boost/config.hpp>

/// The record's format; bumped only when the record itself changes (the interface hash covers
/// every change to the headers).
#define PRUNELAB_PLUGIN_API_VERSION 6

#ifdef _GLIBCXX_USE_CXX11_ABI
#define PRUNELAB_CXX11_ABI _GLIBCXX_USE_CXX11_ABI
#else
#define PRUNELAB_CXX11_ABI -1
#endif

#define PRUNELAB_ABI_STR_(x) #x
#define PRUNELAB_ABI_STR(x) PRUNELAB_ABI_STR_(x)

/// The record text for API version `api` (tests write records of other versions).
#define PRUNELAB_PLUGIN_ABI_RECORD_FOR(api)                                                 \
  "prunelab-plugin-abi;api=" PRUNELAB_ABI_STR(api) ";interface=" PRUNELAB_PLUGIN_INTERFACE_HASH \
  ";torch=" TORCH_VERSION ";cxx11abi=" PRUNELAB_ABI_STR(PRUNELAB_CXX11_ABI)
#define PRUNELAB_PLUGIN_ABI_RECORD PRUNELAB_PLUGIN_ABI_RECORD_FOR(PRUNELAB_PLUGIN_API_VERSION)

namespace prunelab {

inline constexpr int kPluginApiVersion = PRUNELAB_PLUGIN_API_VERSION;
/// The hash of the public plugin headers this code was compiled against.
inline constexpr const char* kPluginInterfaceHash = PRUNELAB_PLUGIN_INTERFACE_HASH;

class Registrar;

}  // namespace prunelab

/// Declares a plugin's ABI record and its register function; follow it with the body:
///   PRUNELAB_PLUGIN(registrar) { registrar.add_criterion(...); }
#define PRUNELAB_PLUGIN(registrar_name)                                                        \
  extern "C" BOOST_SYMBOL_EXPORT const char prunelab_plugin_abi[] = PRUNELAB_PLUGIN_ABI_RECORD; \
  static void prunelab_register_impl(::prunelab::Registrar&);                                  \
  extern "C" BOOST_SYMBOL_EXPORT void prunelab_register_plugin(::prunelab::Registrar& r) {     \
    prunelab_register_impl(r);                                                                 \
  }                                                                                            \
  static void prunelab_register_impl(::prunelab::Registrar& registrar_name)
