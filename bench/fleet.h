// Worker processes: the load is spread over forked children, each with its own io_context,
// because one process may hold at most 20,000 open files here. The parent steers them with
// one-line messages over pipes: each child says "ready ..." once its connections are up,
// waits for "go" (and, for scenarios that hold load until told, "stop"), and ends with
// "done <result>" or "error <text>".
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "bench/common.h"

namespace rwd::bench {

// What one worker measured: counters and histograms, summed over workers by the parent.
struct WorkerOut {
  std::map<std::string, double> counters;
  std::map<std::string, Histogram> hists;
  double cpu_user_s = 0, cpu_sys_s = 0;  // over the whole life of the worker
  double run_cpu_s = 0, run_wall_s = 0;  // between "go" and the end of the run

  std::string encode() const;
  static WorkerOut decode(std::string_view s);
  void merge(const WorkerOut& o);
};

// The child's side of the pipes.
class WorkerCtx {
 public:
  WorkerCtx(net::io_context& io, int index, int count, int in_fd, int out_fd);
  int index() const { return index_; }
  int count() const { return count_; }
  net::io_context& io() { return io_; }
  WorkerOut out;

  // Tells the parent this worker is ready (with an optional note), then waits for "go".
  Task<void> ready(const std::string& note = "");
  // Waits for "stop".
  Task<void> wait_stop();
  // Marks the end of the measured run (for the worker's CPU use during the run).
  void run_ended();

  void say(const std::string& line);

 private:
  Task<std::string> next_line();

  net::io_context& io_;
  int index_, count_;
  net::posix::stream_descriptor in_;
  int out_fd_;
  net::streambuf in_buf_;
  int64_t go_ns_ = 0;
  double go_cpu_ = 0;
};

using WorkerMain = std::function<Task<void>(WorkerCtx&)>;

class Fleet {
 public:
  ~Fleet();
  void start(int n, const WorkerMain& main);
  // Reads one line from every worker; each must start with `word`. Returns the rest of each.
  std::vector<std::string> expect_all(const std::string& word, double timeout_s);
  void tell_all(const std::string& line);
  int size() const { return static_cast<int>(children_.size()); }

 private:
  struct Child {
    pid_t pid = 0;
    int to_fd = -1, from_fd = -1;
    std::string buf;
  };
  std::string read_line(Child& c, double timeout_s);
  void kill_all();
  std::vector<Child> children_;
};

}  // namespace rwd::bench
