#include "core/stop_signal.hpp"

#include <atomic>
#include <csignal>

#include <fmt/format.h>

namespace prunelab {

namespace {
std::atomic<int> g_stop{0};
static_assert(std::atomic<int>::is_always_lock_free, "the flag is set from a signal handler");

void on_stop_signal(int sig) {
  int expected = 0;
  g_stop.compare_exchange_strong(expected, sig);  // the first signal is the one reported
}
}  // namespace

StopRequested::StopRequested(int signal)
    : std::runtime_error(fmt::format("stopped by {} (the interrupted run is redone on the next invocation)", signal_name(signal))),
      signal_(signal) {}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // interrupted system calls resume; the flag is polled
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
}

int stop_signal() { return g_stop.load(); }

void throw_if_stop_requested() {
  if (const int sig = g_stop.load()) throw StopRequested(sig);
}

void request_stop(int signal) { g_stop.store(signal); }
void clear_stop_request() { g_stop.store(0); }

std::string signal_name(int signal) {
  switch (signal) {
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGINT: return "SIGINT";
    default: return fmt::format("signal {}", signal);
  }
}

}  // namespace prunelab
