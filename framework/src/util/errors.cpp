#include "util/errors.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <mutex>

namespace prunelab {

namespace {
std::mutex& lock() {
  static std::mutex m;
  return m;
}
std::string& log_path() {
  static std::string path = [] {
    const char* env = std::getenv("PRUNELAB_DEBUG_LOG");
    return std::string(env ? env : "");
  }();
  return path;
}
std::function<void(const std::string&)>& sink() {
  static std::function<void(const std::string&)> s;
  return s;
}
}  // namespace

void set_debug_log(const std::string& path) {
  std::lock_guard<std::mutex> g(lock());
  log_path() = path;
}

std::string debug_log_path() {
  std::lock_guard<std::mutex> g(lock());
  return log_path();
}

void debug_log(const std::string& context, const std::exception& e) {
  try {
    std::lock_guard<std::mutex> g(lock());
    if (log_path().empty()) return;
    std::ofstream out(log_path(), std::ios::app);
    if (!out) return;
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out << when << ' ' << context << ": " << e.what() << "\n\n";
  } catch (...) {
    // The debug log is best effort: failing to write it must not hide the error itself.
  }
}

void warn(const std::string& message) {
  std::function<void(const std::string&)> s;
  {
    std::lock_guard<std::mutex> g(lock());
    s = sink();
  }
  if (s) s(message);
  else fmt::print(stderr, "warning: {}\n", message);
}

WarningSink::WarningSink(std::function<void(const std::string&)> s) {
  std::lock_guard<std::mutex> g(lock());
  previous_ = std::move(sink());
  sink() = std::move(s);
}

WarningSink::~WarningSink() {
  std::lock_guard<std::mutex> g(lock());
  sink() = std::move(previous_);
}

}  // namespace prunelab
