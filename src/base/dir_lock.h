#pragma once

#include <string>

#include "base/error.h"

namespace rwd {

// An exclusive lock on a directory, held for the life of the object: the file
// <dir>/rewind.lock, locked with flock(2) and holding the holder's pid so that a process
// refused the lock can name it. The kernel drops the lock when its holder exits, however it
// exits, so the file a killed process leaves behind does not block a restart: only a live
// holder does. Advisory: it keeps out processes that ask for it (every rewind-server), not
// others.
class DirectoryLock {
 public:
  static constexpr const char* kFileName = "rewind.lock";

  // Takes the lock without waiting. Fails when another process holds it, with one line
  // naming the directory and the holder's pid.
  static Result<DirectoryLock> acquire(const std::string& dir);

  DirectoryLock(DirectoryLock&& other) noexcept;
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock();  // releases the lock; the file stays (removing it would race a new holder)

  const std::string& path() const { return path_; }

 private:
  DirectoryLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace rwd
