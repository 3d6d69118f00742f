#pragma once
/// One live status line per run on a terminal; one plain line per finished run otherwise.

#include <chrono>
#include <string>

namespace prunelab {

class Progress {
 public:
  explicit Progress(int64_t total_runs, bool quiet = false);
  void start_run(int64_t index, const std::string& summary);
  void phase(const std::string& phase);
  void train(int64_t step, int64_t total, double loss);
  void metric(const std::string& text);
  void end_run(const std::string& outcome, bool counted_for_eta);
  void message(const std::string& text);  // a full line that stays

 private:
  void redraw();
  bool live_;
  bool quiet_;
  int64_t total_, index_ = 0, finished_ = 0;
  double finished_seconds_ = 0;
  std::string summary_, phase_, detail_;
  std::chrono::steady_clock::time_point run_start_, last_draw_;
};

}  // namespace prunelab
