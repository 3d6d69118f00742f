#pragma once
/// An exclusive lock on a file, shared by processes on any host of a shared file system: two
/// array tasks never train the same dense model or compute the same first step at once.

#include <functional>
#include <string>

namespace prunelab {

/// Open-file-description locks (fcntl F_OFD_SETLK, whole file; flock where the kernel lacks them).
/// Over NFS they are byte-range locks the server arbitrates (NFSv4, or v3 with lockd); Lustre
/// needs the `flock` mount option; GPFS supports them. The lock goes with the process: a task
/// that is killed holds nothing. Lock files stay on disk (removing them would race).
class FileLock {
 public:
  FileLock() = default;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  /// Waits until this process holds `path` (created if missing). `on_wait` runs once if another
  /// holder makes it wait. Polls twice a second, so a stop request (SIGTERM) ends the wait with
  /// StopRequested.
  static FileLock acquire(const std::string& path, const std::function<void()>& on_wait = {});
  /// The lock if it is free now; an unheld FileLock otherwise.
  static FileLock try_acquire(const std::string& path);

  bool held() const { return fd_ >= 0; }
  void release();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace prunelab
