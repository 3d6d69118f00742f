#pragma once
/// The other half of errors as people read them (core/errors.hpp makes the one line that
/// `runs.error` and the terminal get): the full text with LibTorch's stack trace goes to a debug
/// log when asked for, and one-line warnings are routed to whatever shows the grid's progress.

#include <exception>
#include <functional>
#include <string>

namespace prunelab {

/// Where full error texts are appended: `runner --debug-log FILE`, else $PRUNELAB_DEBUG_LOG,
/// else nowhere.
void set_debug_log(const std::string& path);
std::string debug_log_path();
/// Appends "TIME context: full what()" (stack trace included) to the debug log, if one is set.
/// Never throws.
void debug_log(const std::string& context, const std::exception& e);

/// A one-line warning, e.g. a corrupt cache entry that is being rebuilt: printed to stderr as
/// "warning: ...", or handed to the sink a WarningSink installed.
void warn(const std::string& message);

/// Routes warn() to `sink` while it lives (the grid's progress display, a test); restores the
/// previous sink afterwards.
class WarningSink {
 public:
  explicit WarningSink(std::function<void(const std::string&)> sink);
  ~WarningSink();
  WarningSink(const WarningSink&) = delete;
  WarningSink& operator=(const WarningSink&) = delete;

 private:
  std::function<void(const std::string&)> previous_;
};

}  // namespace prunelab
