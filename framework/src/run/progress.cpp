#include "run/progress.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <unistd.h>

namespace prunelab {

namespace {
std::string duration(double s) {
  if (s < 90) return fmt::format("{:.0f}s", s);
  if (s < 5400) return fmt::format("{:.0f}m", s / 60);
  return fmt::format("{:.1f}h", s / 3600);
}
}  // namespace

Progress::Progress(int64_t total_runs, bool quiet)
    : live_(isatty(fileno(stderr)) != 0), quiet_(quiet), total_(total_runs) {}

void Progress::start_run(int64_t index, const std::string& summary) {
  index_ = index;
  summary_ = summary;
  phase_ = "start";
  detail_.clear();
  run_start_ = std::chrono::steady_clock::now();
  redraw();
}

void Progress::phase(const std::string& phase) {
  phase_ = phase;
  detail_.clear();
  redraw();
}

void Progress::train(int64_t step, int64_t total, double loss) {
  detail_ = fmt::format("step {}/{} loss {:.3f}", step, total, loss);
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(200) || step == total) redraw();
}

void Progress::metric(const std::string& text) {
  detail_ = text;
  redraw();
}

void Progress::redraw() {
  if (!live_ || quiet_) return;
  last_draw_ = std::chrono::steady_clock::now();
  std::string eta;
  if (finished_ > 0) {
    const double per_run = finished_seconds_ / double(finished_);
    eta = " | ETA " + duration(per_run * double(total_ - index_));
  }
  std::string line = fmt::format("[{}/{}] {} | {} {}{}", index_ + 1, total_, summary_, phase_, detail_, eta);
  if (line.size() > 160) line = line.substr(0, 157) + "...";
  fmt::print(stderr, "\r\033[K{}", line);
  std::fflush(stderr);
}

void Progress::end_run(const std::string& outcome, bool counted) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_).count();
  if (counted) {
    ++finished_;
    finished_seconds_ += secs;
  }
  if (quiet_) return;
  if (live_) fmt::print(stderr, "\r\033[K");
  fmt::print(stderr, "[{}/{}] {} | {} ({})\n", index_ + 1, total_, summary_, outcome, duration(secs));
  std::fflush(stderr);
}

void Progress::message(const std::string& text) {
  if (quiet_) return;
  if (live_) fmt::print(stderr, "\r\033[K");
  fmt::print(stderr, "{}\n", text);
  std::fflush(stderr);
}

}  // namespace prunelab
