#pragma once

// Internal to src/net: the state every connection shares. Includes Beast; never include
// this outside src/net.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "net/server.h"

namespace rwd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;

class WsConnection;

struct Server::Impl {
  Impl(const Config& config, http::Router& router, gateway::Services& services);

  void accept();
  void on_accept(beast::error_code ec, tcp::socket socket);
  // Both run on the acceptor's strand (shutdown_timer is not thread-safe).
  void begin_shutdown();
  void maybe_finish_shutdown();
  // Posts maybe_finish_shutdown to that strand; any thread.
  void check_shutdown();

  // Per-address WebSocket connection counts (for --max-connections-per-address).
  bool acquire_address(const std::string& address);
  void release_address(const std::string& address);
  void add_ws(WsConnection* c);
  void remove_ws(WsConnection* c);

  const Config& config;
  http::Router& router;
  gateway::Services& services;

  // Declared before ioc so they outlive it: handlers destroyed with ioc may hold the last
  // reference to a connection, whose destructor releases its address here.
  std::mutex mu;
  std::unordered_map<std::string, int> per_address;  // guarded by mu
  std::unordered_set<WsConnection*> ws_connections;  // guarded by mu
  std::atomic<bool> stopping{false};
  std::atomic<int> http_in_flight{0};

  asio::io_context ioc;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer accept_backoff;
  asio::steady_timer shutdown_timer;
  std::vector<std::thread> threads;
  bool logged_fd_exhaustion = false;  // on the acceptor's strand
};

// Starts serving HTTP on an accepted socket.
void start_http_connection(Server::Impl& server, tcp::socket socket);

// Takes over a socket whose HTTP request was a WebSocket upgrade to /ws.
void start_ws_connection(Server::Impl& server, beast::tcp_stream stream,
                         bhttp::request<bhttp::string_body> request, protocol::Version version,
                         std::string address);

}  // namespace rwd::net
