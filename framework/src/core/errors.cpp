#include "core/errors.hpp"

#include <c10/util/Exception.h>

#include <sstream>
#include <vector>

namespace prunelab {

std::string one_line(const std::string& message) {
  std::vector<std::string> lines;
  std::istringstream in(message);
  for (std::string line; std::getline(in, line);) {
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    // LibTorch appends "Exception raised from ... (most recent call first):" and frames.
    if (line.rfind("Exception raised from", start) == start || line.rfind("frame #", start) == start) break;
    lines.push_back(line.substr(start));
  }
  if (lines.empty()) return message;
  // TorchScript's interpreter reports the failing Python-level error last ("RuntimeError: ...").
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    const auto colon = it->find("Error: ");
    if (colon != std::string::npos && it->find(' ') > colon) return it->substr(colon + 7);
  }
  return lines.front();
}

std::string one_line(const std::exception& e) {
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) return one_line(std::string(c10e->what_without_backtrace()));
  return one_line(std::string(e.what()));
}

}  // namespace prunelab
