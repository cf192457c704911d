// What the bench reads about the machine, itself and the server process from /proc.
#pragma once

#include <sys/types.h>

#include <string>

namespace rwd::bench {

struct ProcStats {
  bool ok = false;
  double cpu_s = 0;  // user + system
  long rss_kib = 0;
  long peak_rss_kib = 0;  // VmHWM
  int threads = 0;
};
ProcStats read_proc(pid_t pid);

// The process listening on TCP `port` (from /proc/net/tcp and /proc/*/fd), or 0.
pid_t find_listener(uint16_t port);

struct Machine {
  int cores = 0;  // CPUs this process may run on, as nproc counts them
  long mem_kib = 0;
  std::string kernel, cpu_model;
};
Machine read_machine();

// CPU seconds (user, system) used by this process so far.
void self_cpu(double& user_s, double& sys_s);

// `git rev-parse HEAD` of the bench's source tree, "" when unknown; dirty when the tree
// has uncommitted changes.
std::string git_commit(bool& dirty);

}  // namespace rwd::bench
