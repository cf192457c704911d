#include "bench/fleet.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "bench/proc.h"

namespace rwd::bench {

std::string Histogram::encode() const {
  std::ostringstream o;
  o << max_ << ' ' << static_cast<uint64_t>(sum_);
  for (int i = 0; i < kBuckets; i++)
    if (counts_[i]) o << ' ' << i << ':' << counts_[i];
  return o.str();
}

Histogram Histogram::decode(std::string_view s) {
  Histogram h;
  std::istringstream in{std::string(s)};
  uint64_t sum = 0;
  in >> h.max_ >> sum;
  h.sum_ = static_cast<double>(sum);
  std::string tok;
  while (in >> tok) {
    auto c = tok.find(':');
    int i = std::stoi(tok.substr(0, c));
    uint64_t n = std::stoull(tok.substr(c + 1));
    if (i >= 0 && i < kBuckets) h.counts_[i] += n, h.total_ += n;
  }
  return h;
}

std::string json_quote(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", c);
      o += buf;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

// One line: "cpu U S RC RW | c NAME VALUE ... | h NAME <histogram> | h ...".
std::string WorkerOut::encode() const {
  std::ostringstream o;
  o.precision(17);
  o << "cpu " << cpu_user_s << ' ' << cpu_sys_s << ' ' << run_cpu_s << ' ' << run_wall_s << " | c";
  for (const auto& [k, v] : counters) o << ' ' << k << ' ' << v;
  for (const auto& [k, h] : hists) o << " | h " << k << ' ' << h.encode();
  return o.str();
}

WorkerOut WorkerOut::decode(std::string_view s) {
  WorkerOut w;
  size_t start = 0;
  while (start <= s.size()) {
    size_t bar = s.find('|', start);
    std::string part(s.substr(start, bar == std::string_view::npos ? s.npos : bar - start));
    std::istringstream in(part);
    std::string kind;
    in >> kind;
    if (kind == "cpu") {
      in >> w.cpu_user_s >> w.cpu_sys_s >> w.run_cpu_s >> w.run_wall_s;
    } else if (kind == "c") {
      std::string k;
      double v;
      while (in >> k >> v) w.counters[k] += v;
    } else if (kind == "h") {
      std::string k, rest;
      in >> k;
      std::getline(in, rest);
      w.hists[k] = Histogram::decode(rest);
    }
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return w;
}

void WorkerOut::merge(const WorkerOut& o) {
  for (const auto& [k, v] : o.counters) counters[k] += v;
  for (const auto& [k, h] : o.hists) hists[k].merge(h);
  cpu_user_s += o.cpu_user_s;
  cpu_sys_s += o.cpu_sys_s;
  run_cpu_s += o.run_cpu_s;
  run_wall_s = std::max(run_wall_s, o.run_wall_s);
}

WorkerCtx::WorkerCtx(net::io_context& io, int index, int count, int in_fd, int out_fd)
    : io_(io), index_(index), count_(count), in_(io, in_fd), out_fd_(out_fd) {}

void WorkerCtx::say(const std::string& line) {
  std::string l = line + "\n";
  for (size_t done = 0; done < l.size();) {
    ssize_t n = ::write(out_fd_, l.data() + done, l.size() - done);
    if (n <= 0) _exit(3);  // the parent is gone
    done += static_cast<size_t>(n);
  }
}

Task<std::string> WorkerCtx::next_line() {
  size_t n = co_await net::async_read_until(in_, in_buf_, '\n', net::use_awaitable);
  std::string line(net::buffers_begin(in_buf_.data()), net::buffers_begin(in_buf_.data()) + n);
  in_buf_.consume(n);
  line.pop_back();
  co_return line;
}

Task<void> WorkerCtx::ready(const std::string& note) {
  say("ready " + note);
  std::string l = co_await next_line();
  if (l != "go") throw std::runtime_error("expected go, got " + l);
  double u, s;
  self_cpu(u, s);
  go_cpu_ = u + s;
  go_ns_ = now_ns();
}

Task<void> WorkerCtx::wait_stop() {
  std::string l = co_await next_line();
  if (l != "stop") throw std::runtime_error("expected stop, got " + l);
}

void WorkerCtx::run_ended() {
  double u, s;
  self_cpu(u, s);
  out.run_cpu_s = u + s - go_cpu_;
  out.run_wall_s = (now_ns() - go_ns_) / 1e9;
}

Fleet::~Fleet() { kill_all(); }

void Fleet::kill_all() {
  for (auto& c : children_) {
    if (c.pid > 0) {
      ::kill(c.pid, SIGKILL);
      waitpid(c.pid, nullptr, 0);
      c.pid = 0;
    }
    if (c.to_fd >= 0) close(c.to_fd), c.to_fd = -1;
    if (c.from_fd >= 0) close(c.from_fd), c.from_fd = -1;
  }
}

void Fleet::start(int n, const WorkerMain& main) {
  std::cout.flush();
  std::cerr.flush();
  fflush(nullptr);
  for (int i = 0; i < n; i++) {
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // The child: nothing of the parent's pipes but its own two ends.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (auto& c : children_) close(c.to_fd), close(c.from_fd);
      close(down[1]);
      close(up[0]);
      int code = 0;
      {
        net::io_context io(1);
        WorkerCtx ctx(io, i, n, down[0], up[1]);
        std::string error;
        bool finished = false;
        net::co_spawn(io, main(ctx), [&](std::exception_ptr e) {
          finished = true;
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              error = ex.what();
            }
          }
          io.stop();
        });
        try {
          io.run();
        } catch (const std::exception& ex) {
          error = ex.what();
        }
        if (!finished && error.empty()) error = "worker stopped early";
        double u, s;
        self_cpu(u, s);
        ctx.out.cpu_user_s = u;
        ctx.out.cpu_sys_s = s;
        if (error.empty()) {
          ctx.say("done " + ctx.out.encode());
        } else {
          for (auto& ch : error)
            if (ch == '\n') ch = ' ';
          ctx.say("error " + error);
          code = 1;
        }
      }
      // _exit: no atexit handlers or destructors of the parent's state in the child.
      _exit(code);
    }
    close(down[0]);
    close(up[1]);
    children_.push_back({pid, down[1], up[0], ""});
  }
}

std::string Fleet::read_line(Child& c, double timeout_s) {
  int64_t deadline = now_ns() + static_cast<int64_t>(timeout_s * 1e9);
  for (;;) {
    auto nl = c.buf.find('\n');
    if (nl != std::string::npos) {
      std::string line = c.buf.substr(0, nl);
      c.buf.erase(0, nl + 1);
      return line;
    }
    int64_t left_ms = (deadline - now_ns()) / 1000000;
    if (left_ms <= 0) throw std::runtime_error("a worker did not answer in time");
    pollfd p{c.from_fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (r < 0 && errno != EINTR) throw std::runtime_error("poll failed");
    if (r <= 0) continue;
    char buf[65536];
    ssize_t n = read(c.from_fd, buf, sizeof buf);
    if (n <= 0) throw std::runtime_error("a worker exited unexpectedly");
    c.buf.append(buf, static_cast<size_t>(n));
  }
}

std::vector<std::string> Fleet::expect_all(const std::string& word, double timeout_s) {
  std::vector<std::string> out;
  for (auto& c : children_) {
    std::string line = read_line(c, timeout_s);
    if (line.rfind(word, 0) != 0) {
      kill_all();
      throw std::runtime_error("worker: " + line);
    }
    out.push_back(line.size() > word.size() ? line.substr(word.size() + 1) : "");
  }
  if (word == "done") {
    for (auto& c : children_) {
      int status = 0;
      waitpid(c.pid, &status, 0);
      c.pid = 0;
    }
  }
  return out;
}

void Fleet::tell_all(const std::string& line) {
  std::string l = line + "\n";
  for (auto& c : children_)
    if (::write(c.to_fd, l.data(), l.size()) != static_cast<ssize_t>(l.size()))
      throw std::runtime_error("cannot reach a worker");
}

}  // namespace rwd::bench
