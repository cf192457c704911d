#include "base/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace rwd {

namespace {

// The pid written in the lock file, or "unknown" (a holder between taking the lock and
// writing its pid, or a file written by something else).
std::string read_holder(int fd) {
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  std::string pid;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid += buf[i];
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

Result<DirectoryLock> DirectoryLock::acquire(const std::string& dir) {
  std::string path = dir + "/" + kFileName;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Error{Errc::kInternal,
                 "--data-dir: cannot open lock file " + path + ": " + std::strerror(errno)};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder = err == EWOULDBLOCK ? read_holder(fd) : std::string();
    ::close(fd);
    if (err == EWOULDBLOCK)
      return Error{Errc::kInternal, "--data-dir: " + dir +
                                        " is in use by another rewind-server (pid " + holder +
                                        "); stop it or choose another data directory"};
    return Error{Errc::kInternal, "--data-dir: cannot lock " + path + ": " + std::strerror(err)};
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  // Should this write fail, the lock is held all the same: only a refusal's pid is missing.
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
  return DirectoryLock(fd, std::move(path));
}

DirectoryLock::DirectoryLock(DirectoryLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace rwd
