#include "bench/proc.h"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace rwd::bench {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long status_kib(const std::string& status, const char* key) {
  auto p = status.find(key);
  if (p == std::string::npos) return 0;
  return std::strtol(status.c_str() + p + strlen(key), nullptr, 10);
}

std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    std::array<char, 256> buf;
    while (fgets(buf.data(), buf.size(), f)) out += buf.data();
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

ProcStats read_proc(pid_t pid) {
  ProcStats s;
  if (pid <= 0) return s;
  std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return s;
  // Fields after the command name: state is field 3; utime 14, stime 15, num_threads 20.
  std::istringstream in(stat.substr(close + 2));
  std::string f;
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (int field = 3; in >> f; field++) {
    if (field == 14 || field == 15) s.cpu_s += std::stod(f) / ticks;
    if (field == 20) s.threads = std::stoi(f);
  }
  std::string status = slurp("/proc/" + std::to_string(pid) + "/status");
  s.rss_kib = status_kib(status, "VmRSS:");
  s.peak_rss_kib = status_kib(status, "VmHWM:");
  s.ok = true;
  return s;
}

pid_t find_listener(uint16_t port) {
  // The socket inode of a listening socket (state 0A) on `port`.
  std::string inode;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::istringstream in(slurp(table));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream l(line);
      std::string sl, local, remote, st, queues, tr, retr, uid, timeout, ino;
      l >> sl >> local >> remote >> st >> queues >> tr >> retr >> uid >> timeout >> ino;
      auto colon = local.rfind(':');
      if (st == "0A" && colon != std::string::npos &&
          std::stoul(local.substr(colon + 1), nullptr, 16) == port) {
        inode = ino;
        break;
      }
    }
    if (!inode.empty()) break;
  }
  if (inode.empty()) return 0;
  std::string want = "socket:[" + inode + "]";
  DIR* proc = opendir("/proc");
  if (!proc) return 0;
  pid_t found = 0;
  while (dirent* e = readdir(proc)) {
    if (!isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    std::string fd_dir = std::string("/proc/") + e->d_name + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (!fds) continue;
    while (dirent* fd = readdir(fds)) {
      char target[64];
      ssize_t n = readlink((fd_dir + "/" + fd->d_name).c_str(), target, sizeof target - 1);
      if (n > 0 && std::string_view(target, n) == want) {
        found = std::atoi(e->d_name);
        break;
      }
    }
    closedir(fds);
    if (found) break;
  }
  closedir(proc);
  return found;
}

Machine read_machine() {
  Machine m;
  cpu_set_t set;
  m.cores = sched_getaffinity(0, sizeof set, &set) == 0
                ? CPU_COUNT(&set)
                : static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  m.mem_kib = status_kib(slurp("/proc/meminfo"), "MemTotal:");
  utsname u;
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  std::string cpuinfo = slurp("/proc/cpuinfo");
  auto p = cpuinfo.find("model name");
  if (p != std::string::npos) {
    auto c = cpuinfo.find(':', p), e = cpuinfo.find('\n', p);
    if (c != std::string::npos && c + 2 < e) m.cpu_model = cpuinfo.substr(c + 2, e - c - 2);
  }
  return m;
}

void self_cpu(double& user_s, double& sys_s) {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  user_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  sys_s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

std::string git_commit(bool& dirty) {
  std::string dir = REWIND_SOURCE_DIR;
  std::string head = run("git -C '" + dir + "' rev-parse HEAD 2>/dev/null");
  dirty = !head.empty() &&
          !run("git -C '" + dir + "' status --porcelain --untracked-files=no 2>/dev/null").empty();
  return head;
}

}  // namespace rwd::bench
