#pragma once

// Internal to src/net: the state every connection shares. Includes Beast; never include
// this outside src/net.

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "gateway/transport.h"
#include "net/deadline_wheel.h"
#include "net/server.h"

namespace rwd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

class WsConnection;

// Every connection lives on one event loop (one thread) for its whole life, so its state
// needs no strand and its I/O objects carry the loop's plain executor instead of the
// type-erased any_io_executor (cheaper per call and smaller per connection).
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
using HttpStream = beast::basic_stream<tcp, Executor>;

// One event loop and the thread that runs it. Frames for its connections queued from other
// threads (the hub, on the store's completion thread) go through an inbox drained by one
// posted job, so fanning a message out to 1,000 members costs one wake-up per loop rather
// than one posted handler per connection.
class Loop {
 public:
  Loop(int index, const MonotonicClock& clock);

  // Queues frame for conn, which lives on this loop. Any thread.
  void deliver(std::shared_ptr<WsConnection> conn, gateway::Frame frame);
  // Starts ticking the deadline wheel; before run().
  void start_ticking();

  const int index;
  const MonotonicClock& clock;  // the time of every deadline in `deadlines`
  DeadlineWheel deadlines;      // declared before ioc: connections destroyed with it unlink here
  asio::io_context ioc;
  asio::executor_work_guard<Executor> work;  // run() returns only when stopped

 private:
  void drain();
  void tick();

  Timer tick_timer_;

  std::mutex inbox_mu_;
  std::vector<std::pair<std::shared_ptr<WsConnection>, gateway::Frame>> inbox_;  // guarded
};

struct Server::Impl {
  Impl(const Config& config, http::Router& router, gateway::Services& services);

  void accept();
  // The admin listener's accept loop (serve_admin); on the first loop.
  void accept_admin();
  void on_accept(beast::error_code ec, Socket socket, Loop& loop);
  // Logs the end of an episode of refused accepts once none was refused for a second.
  void end_fd_exhaustion_if_quiet(int64_t now_us);
  // Both run on the first loop, with the acceptor (shutdown_timer is not thread-safe).
  void begin_shutdown();
  void maybe_finish_shutdown();
  // Posts maybe_finish_shutdown to the first loop; any thread.
  void check_shutdown();
  // Stops every loop; any thread.
  void stop_loops();
  // Closes the listener and stops every loop: the drain is over. On the first loop.
  void finish_shutdown();

  // Per-address WebSocket connection counts (for --max-connections-per-address).
  bool acquire_address(const std::string& address);
  void release_address(const std::string& address);
  void add_ws(WsConnection* c);
  void remove_ws(WsConnection* c);

  const Config& config;
  http::Router& router;
  gateway::Services& services;

  // Declared before the loops so they outlive them: handlers destroyed with ioc may hold the last
  // reference to a connection, whose destructor releases its address here.
  std::mutex mu;
  std::unordered_map<std::string, int> per_address;  // guarded by mu
  std::unordered_set<WsConnection*> ws_connections;  // guarded by mu
  std::atomic<bool> stopping{false};
  // The X-Rewind-Node header of every HTTP response: which node answered. Set before run().
  std::string node_id = "0";
  SharedGauge* shared_connections = nullptr;  // set before run()
  std::atomic<int> http_in_flight{0};

  std::vector<std::unique_ptr<Loop>> loops;  // one per --threads; never resized
  size_t next_loop = 0;                      // round robin of accepted sockets; first loop
  asio::basic_socket_acceptor<tcp, Executor> acceptor;
  // Open only with an admin listener; its connections are answered by admin_router alone.
  asio::basic_socket_acceptor<tcp, Executor> admin_acceptor;
  http::AdminRouter* admin_router = nullptr;
  asio::basic_signal_set<Executor> signals;
  Timer accept_backoff;
  Timer shutdown_timer;
  std::vector<std::thread> threads;
  // An episode of running out of descriptors, on the first loop: it starts with the first
  // refused accept and ends once accepts have gone kFdEpisodeQuietUs without one. Descriptors
  // freed one at a time at the limit (a connection closes, the next accept takes its place)
  // stay within one episode: one line when it starts, one when it ends.
  static constexpr int64_t kFdEpisodeQuietUs = 1'000'000;
  static constexpr int64_t kFdPauseUs = 100'000;  // accepting pauses this long after a refusal
  bool in_fd_exhaustion = false;
  int64_t fd_exhaustion_started_us = 0;
  int64_t fd_exhaustion_last_us = 0;
  uint64_t fd_exhaustion_pauses = 0;
};

// Starts serving HTTP on an accepted socket, which belongs to loop. An admin connection is
// answered by the admin router only (no API, no web client, no WebSocket).
void start_http_connection(Server::Impl& server, Loop& loop, Socket socket, bool admin = false);

// Takes over a socket whose HTTP request was a WebSocket upgrade to /ws.
void start_ws_connection(Server::Impl& server, Loop& loop, Socket socket,
                         bhttp::request<bhttp::string_body> request, protocol::Version version,
                         std::string address);

}  // namespace rwd::net
