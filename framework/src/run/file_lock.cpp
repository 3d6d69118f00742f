#include "run/file_lock.hpp"

#include "core/stop_signal.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace prunelab {

namespace {
int open_lock_file(const std::string& path) {
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot open lock file {}: {}", path, std::strerror(errno)));
  return fd;
}

// true: locked; false: another holder has it.
bool lock_now(int fd, const std::string& path) {
#ifdef F_OFD_SETLK
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
  if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  if (errno != EINVAL)
    throw std::runtime_error(fmt::format("cannot lock {}: {}", path, std::strerror(errno)));
  // EINVAL: no OFD locks here; flock has the same per-open-file semantics.
#endif
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  throw std::runtime_error(fmt::format("cannot lock {}: {}", path, std::strerror(errno)));
}
}  // namespace

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() { release(); }

void FileLock::release() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor of the open file drops the lock
  fd_ = -1;
}

FileLock FileLock::try_acquire(const std::string& path) {
  const int fd = open_lock_file(path);
  try {
    if (lock_now(fd, path)) return FileLock(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return FileLock();
}

FileLock FileLock::acquire(const std::string& path, const std::function<void()>& on_wait) {
  const int fd = open_lock_file(path);
  bool waited = false;
  try {
    while (!lock_now(fd, path)) {
      if (!waited && on_wait) on_wait();
      waited = true;
      throw_if_stop_requested();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  return FileLock(fd);
}

}  // namespace prunelab
