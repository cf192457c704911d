#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "base/error.h"
#include "config/config.h"
#include "gateway/session.h"
#include "http/admin_router.h"
#include "http/router.h"
#include "net/listener.h"

namespace rwd {
class SharedGauge;
}

namespace rwd::net {

// The network layer: Config::threads event loops (an io_context and a thread each), one
// listening socket for HTTP and WebSocket whose connections are dealt to the loops in turn
// and stay on theirs for life. Owns every connection.
//
// Shutdown (SIGINT/SIGTERM or stop()): from that moment stopping() is true (readiness
// answers 503, so a proxy sends new clients elsewhere), every WebSocket connection is closed
// with 1001 and new upgrades are refused, HTTP requests in flight get their answers, and the
// listener keeps answering HTTP one request per connection while the connections drain;
// then the listener closes and the threads return from run(). Whatever domain work was
// already accepted keeps running on its own threads; the application drains it after run()
// returns.
class Server {
 public:
  // Takes the listening socket; accepting starts with run().
  Server(const Config& config, Listener listener, http::Router& router,
         gateway::Services& services);
  ~Server();

  uint16_t port() const;
  // Runs the network threads until shutdown completes. Call once.
  void run();
  // Begins a graceful shutdown; any thread.
  void stop();
  // True from the moment a shutdown begins (a signal or stop()); any thread.
  bool stopping() const;
  // Names this node in the X-Rewind-Node header of every HTTP response (its worker id), so
  // that behind a proxy a client or an operator can tell which node answered. Before run().
  void set_node_id(int worker_id);
  // Also serves the admin routes (/metrics, /healthz, /readyz) on a listener of their own,
  // which nothing else is served on; `admin` outlives the server. Before run(). The admin
  // listener closes with the public one.
  void serve_admin(Listener listener, http::AdminRouter& admin);
  // Several nodes: WebSocket connections are also counted per address in `gauge`, and
  // --max-connections-per-address holds over the local count plus the other nodes' last
  // reported ones. Before run().
  void count_connections_in(SharedGauge* gauge);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rwd::net
