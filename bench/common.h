// Shared pieces of rewind-bench: library aliases, the options of every scenario, the clock and
// a log-bucketed latency histogram.
#pragma once

// clang-format off
// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>: first.
#include <utility>
// clang-format on

#include <algorithm>
#include <bit>
#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace rwd::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
template <class T = void>
using Task = net::awaitable<T>;

// Every option of every scenario; each scenario reads the ones it documents.
struct Options {
  std::string scenario;
  std::string url = "http://127.0.0.1:8080";
  std::string host = "127.0.0.1";  // parsed from url
  uint16_t port = 8080;            // parsed from url
  // WebSocket connections go to these ports of `host` in turn (by connection index) instead
  // of `port`: several nodes measured without a proxy in front. HTTP set-up stays on `url`.
  std::vector<uint16_t> ws_ports;
  std::string mail_dir;
  std::string cache_path = "rewind-bench-cache.json";
  int server_pid = 0;
  int workers = 0;  // 0: chosen per scenario
  int source_addrs = 8;
  double warmup_s = 2;
  double duration_s = 10;
  int setup_concurrency = 32;
  int ws_version = 1;
  // idle
  int connections = 1000;
  int sessions_per_user = 10;
  // idle: accounts 2k and 2k+1 are friends for k < friend_pairs (their presence is told).
  int friend_pairs = 0;
  // idle, with friend_pairs: each of those accounts sends a typing frame in its pair's chat
  // every this many seconds (0: never).
  double typing_every_s = 0;
  double hold_s = 10;
  double heartbeat_s = 30;
  int ramp = 200;
  // connect, history, login
  int concurrency = 0;  // 0: scenario default
  int users = 0;        // 0: scenario default
  // dm
  int pairs = 100;
  double rate = 0;  // 0: closed loop
  int window = 1;
  // Prints each message slower than this many ms (0: none) to stderr with its send time, to
  // tell one long stall from many short ones.
  double slow_ms = 0;
  // v2 only: each send is preceded by a `typing` frame in its chat, as a client's is when its
  // person starts typing (the server forwards what its per-user limit lets through).
  bool typing = false;
  // fanout (also rate)
  int members = 1000;
  // history
  int messages = 10000;
  int count = 50;
  bool burst = false;
};

// Monotonic nanoseconds, comparable across the worker processes (CLOCK_MONOTONIC is
// system-wide), so a send time written by one process can be read by another.
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
inline std::chrono::steady_clock::time_point to_time_point(int64_t ns) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

// HDR-style histogram of nanosecond values: 64 linear sub-buckets per power of two, so a
// reported percentile is within 1.6% of the true value, in a fixed array that merges by
// addition across workers.
class Histogram {
 public:
  static constexpr int kSub = 64;
  static constexpr int kBuckets = kSub * 58 + 2 * kSub;

  Histogram() : counts_(kBuckets, 0) {}

  static int index(int64_t v) {
    if (v < 0) v = 0;
    int shift = std::max(0, static_cast<int>(std::bit_width(static_cast<uint64_t>(v))) - 7);
    return kSub * shift + static_cast<int>(v >> shift);
  }
  // The largest value that falls in bucket i.
  static int64_t upper(int i) {
    if (i < 2 * kSub) return i;
    int shift = i / kSub - 1;
    int64_t m = i - kSub * shift;
    return ((m + 1) << shift) - 1;
  }

  void record(int64_t v) {
    counts_[index(v)]++;
    total_++;
    if (v > max_) max_ = v;
    sum_ += static_cast<double>(v);
  }
  void merge(const Histogram& o) {
    for (int i = 0; i < kBuckets; i++) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    sum_ += o.sum_;
  }
  uint64_t count() const { return total_; }
  int64_t max() const { return max_; }
  double mean() const { return total_ ? sum_ / static_cast<double>(total_) : 0; }
  int64_t percentile(double p) const {
    if (!total_) return 0;
    auto rank = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; i++) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }
  uint64_t count_above(int64_t v) const {
    uint64_t n = 0;
    for (int i = index(v) + 1; i < kBuckets; i++) n += counts_[i];
    return n;
  }
  // Sparse text form for the pipe between a worker and the parent: "max sum i:n i:n ...".
  std::string encode() const;
  static Histogram decode(std::string_view s);

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  int64_t max_ = 0;
  double sum_ = 0;
};

// JSON string escaping for the few strings the bench writes by hand.
std::string json_quote(std::string_view s);

}  // namespace rwd::bench
