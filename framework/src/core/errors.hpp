#pragma once
/// One readable line from any exception: LibTorch's own messages carry C++ stack frames and
/// TorchScript tracebacks, which belong in a debug log, not in a config error or runs.error.

#include <exception>
#include <string>

namespace prunelab {

/// The message without stack frames or TorchScript traceback: for a c10::Error its last
/// "XxxError: ..." line (what actually failed), else the first non-empty line.
std::string one_line(const std::exception& e);
/// The same for a message already taken out of an exception.
std::string one_line(const std::string& message);

}  // namespace prunelab
