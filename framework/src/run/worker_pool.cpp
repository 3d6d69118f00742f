#include "run/worker_pool.hpp"

#include "core/stop_signal.hpp"
#include "run/subprocess.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

namespace prunelab {

int threads_per_worker(int total, int jobs) {
  if (total <= 0) {
    cpu_set_t set;
    total = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  return std::max(1, total / std::max(1, jobs));
}

namespace {
struct Worker {
  pid_t pid = -1;
  int fd = -1;          // read end of its output
  std::string partial;  // an unfinished line
  int status = -1;
};

int severity(int code) {
  switch (code) {
    case 0: return 0;
    case 1: return 1;
    case 3: return 2;
    case 2: return 3;
    default: return 1;  // a crash counts as a failure
  }
}
}  // namespace

int run_worker_pool(const std::vector<std::string>& args, int jobs, int threads_each) {
  std::vector<Worker> workers(jobs);
  fmt::print(stderr, "{} worker processes, {} thread(s) each\n", jobs, threads_each);
  for (int i = 0; i < jobs; ++i) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
    auto argv = args;
    argv.insert(argv.begin(), this_executable());
    argv.insert(argv.end(), {"--worker", fmt::format("{}/{}", i, jobs), "--threads", std::to_string(threads_each)});
    workers[i].pid = spawn_process(argv, fds[1]);
    ::close(fds[1]);
    workers[i].fd = fds[0];
  }
  bool forwarded = false;
  auto print_line = [](int i, const std::string& line) { fmt::print(stderr, "[w{}] {}\n", i, line); };
  for (;;) {
    if (!forwarded && stop_requested()) {
      for (auto& w : workers)
        if (w.status < 0) ::kill(w.pid, SIGUSR1);  // each stops at its next optimizer step
      forwarded = true;
    }
    std::vector<pollfd> fds;
    std::vector<int> index;
    for (int i = 0; i < jobs; ++i)
      if (workers[i].fd >= 0) {
        fds.push_back({workers[i].fd, POLLIN, 0});
        index.push_back(i);
      }
    if (fds.empty()) break;
    if (::poll(fds.data(), fds.size(), 500) < 0 && errno != EINTR) throw std::runtime_error("poll failed");
    for (size_t k = 0; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Worker& w = workers[index[k]];
      char buf[4096];
      const ssize_t n = ::read(w.fd, buf, sizeof buf);
      if (n > 0) {
        w.partial.append(buf, static_cast<size_t>(n));
        for (size_t nl; (nl = w.partial.find_first_of("\n\r")) != std::string::npos;) {
          if (nl > 0) print_line(index[k], w.partial.substr(0, nl));
          w.partial.erase(0, nl + 1);
        }
      } else if (n == 0 || errno != EINTR) {
        if (!w.partial.empty()) print_line(index[k], w.partial);
        ::close(w.fd);
        w.fd = -1;
      }
    }
  }
  int worst = 0;
  for (int i = 0; i < jobs; ++i) {
    int status = 0;
    while (::waitpid(workers[i].pid, &status, 0) < 0 && errno == EINTR) {}
    workers[i].status = exit_code_of(status);
    if (workers[i].status != 0) fmt::print(stderr, "[w{}] exited with {}\n", i, workers[i].status);
    if (severity(workers[i].status) > severity(worst)) worst = workers[i].status > 3 ? 1 : workers[i].status;
  }
  return worst;
}

}  // namespace prunelab
