#pragma once
/// A process-wide request to stop at the next optimizer step: what Slurm's SIGTERM (preemption,
/// time limit, scancel --signal=TERM) or its early-warning SIGUSR1 asks of a running grid.

#include <stdexcept>
#include <string>

namespace prunelab {

/// Thrown where a stop request is honoured (before an optimizer step, between runs); the grid
/// runner leaves the interrupted run to be redone and the runner exits with its own code.
class StopRequested : public std::runtime_error {
 public:
  explicit StopRequested(int signal);
  int signal() const { return signal_; }

 private:
  int signal_;
};

/// SIGTERM and SIGUSR1 set the stop flag instead of ending the process. Repeated signals do not
/// end it either (Slurm and a --jobs parent may both signal a worker); kill -9 is always safe.
void install_stop_handlers();
/// The signal that asked to stop, 0 if none.
int stop_signal();
inline bool stop_requested() { return stop_signal() != 0; }
/// Throws StopRequested if a stop was requested.
void throw_if_stop_requested();
/// For tests, and for a process that has dealt with the request.
void request_stop(int signal);
void clear_stop_request();
/// "SIGTERM", "SIGUSR1", ...
std::string signal_name(int signal);

}  // namespace prunelab
