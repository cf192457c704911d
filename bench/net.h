// The client side of the public protocol: TCP connections from spread source addresses, a
// WebSocket connection with a write queue, a keep-alive HTTP client, and helpers to run
// coroutines in parallel.
#pragma once

#include <rapidjson/document.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>

#include "bench/common.h"

namespace rwd::bench {

// Connects to the server from 127.0.0.(1 + source % source_addrs). Loopback has about 28,000
// ephemeral ports per source address and destination; spreading the sources lifts that
// limit. IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), so a port is reused
// across destinations instead of being reserved at bind().
Task<tcp::socket> connect_tcp(const Options& o, uint64_t source, uint16_t port);

// Resets the connection (RST) instead of a FIN: no TIME_WAIT left behind on either side, so
// the connect scenario does not run out of ports.
void abort_socket(tcp::socket& s);

// A parsed gateway frame.
struct Frame {
  rapidjson::Document doc;
  std::string_view type;
  const rapidjson::Value* payload = nullptr;

  bool parse(std::string_view text);
  std::string payload_str(const char* key) const;
  std::string error_code() const { return type == "error" ? payload_str("code") : ""; }
};

// The same for hot loops: parses into a fixed buffer that is reused frame after frame, instead
// of a fresh 64 KiB memory pool per frame.
class FrameParser {
 public:
  FrameParser() : pool_(buf_, sizeof buf_), doc_(&pool_) {}
  FrameParser(const FrameParser&) = delete;
  bool parse(std::string_view text);

  std::string_view type;
  const rapidjson::Value* payload = nullptr;

 private:
  char buf_[16384];
  rapidjson::MemoryPoolAllocator<> pool_;
  rapidjson::Document doc_;
};

class WsConn : public std::enable_shared_from_this<WsConn> {
 public:
  explicit WsConn(tcp::socket s) : ws_(std::move(s)) {}

  // Connects and upgrades to `path` (e.g. "/ws" or "/ws?v=2").
  static Task<std::shared_ptr<WsConn>> open(const Options& o, uint64_t source,
                                            std::string_view path);

  // Queues a text frame; frames go out in order, one write at a time, as Beast requires.
  void send(std::string frame);
  // The next frame; the view is valid until the next read. Throws when the connection ends.
  Task<std::string_view> read();
  // Reads frames until one of type `want` or an error frame arrives (events in between
  // are skipped).
  Task<Frame> read_until(std::string_view want);
  // heartbeat, then auth: returns the user's id (self_user.id), or "" for error 4000.
  Task<std::string> hello(const std::string& token);

  void abort();
  bool closed() const { return closed_; }

 private:
  Task<void> drain();

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer in_;
  std::deque<std::string> out_;
  bool writing_ = false;
  bool closed_ = false;
};

class HttpClient {
 public:
  struct Response {
    unsigned status = 0;
    std::string body;
  };
  HttpClient(const Options& o, uint64_t source) : o_(o), source_(source) {}

  Task<Response> post_form(std::string target, std::string body);
  Task<Response> get(std::string target);

 private:
  Task<Response> exchange(http::request<http::string_body> req);

  const Options& o_;
  uint64_t source_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buf_;
};

// Waits until count_down() was called `n` times.
class Latch {
 public:
  Latch(net::any_io_executor ex, size_t n)
      : timer_(ex, std::chrono::steady_clock::time_point::max()), n_(n) {}
  void count_down() {
    if (n_ > 0 && --n_ == 0) timer_.cancel();
  }
  Task<void> wait();

 private:
  net::steady_timer timer_;
  size_t n_;
};

// Runs fn(0..n-1) with at most `concurrency` running at once; the first exception stops
// handing out new indexes and is rethrown once the running ones have finished.
Task<void> parallel_for(size_t n, int concurrency, std::function<Task<void>(size_t)> fn);

// Runs a coroutine to completion on `io` from plain code.
void run_sync(net::io_context& io, Task<void> task);

Task<void> sleep_until_ns(int64_t t);
Task<void> sleep_for_s(double s);

std::string form_escape(std::string_view s);
std::string base64(std::string_view s);

}  // namespace rwd::bench
