#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "app/open_store.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/readiness.h"
#include "base/shared_gauge.h"
#include "base/snowflake.h"
#include "base/thread_pool.h"
#include "broker/broker.h"
#include "broker/cluster_limits.h"
#include "broker/redis_broker.h"
#include "cluster/cluster_event_bus.h"
#include "config/config.h"
#include "domain/accounts.h"
#include "domain/blocks.h"
#include "domain/chats.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "domain/guilds.h"
#include "domain/social.h"
#include "gateway/hub.h"
#include "gateway/session.h"
#include "http/admin_router.h"
#include "http/router.h"
#include "mail/mailer.h"
#include "mail/outbox_sender.h"
#include "metrics/exposition.h"
#include "net/listener.h"
#include "net/server.h"

namespace rwd::app {

// The whole server: every part, built from the Config in dependency order and owned here.
//
// Its members are declared in the order they are built, so each is built from those above it
// and destroyed before them: the store first (and what keeps other processes off it), the
// directory it fills, mail, the pools, the bus, the hub, the services, the router, and the
// server last. What can fail for a reason of the environment (the store, the directory's first
// read, the port, the broker's URL) is done by create() before; the rest throws only on a
// failure like memory, which create() reports as one line too.
//
// Life: create() → start() → run() (until SIGINT/SIGTERM or stop()) → shutdown() → destroy.
// Called from one thread (main's), except stop().
class Application {
 public:
  // Checks what the process needs (libsodium, ICU's data, settings that must agree), opens
  // the store, reads the directory and binds the listening socket; then builds the rest.
  // Fails with one line naming what went wrong. `config` and the clocks must outlive the
  // Application.
  static Result<std::unique_ptr<Application>> create(const Config& config, const Clock& clock,
                                                     const MonotonicClock& steady);
  ~Application();
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  // Starts the background work a first request may need, then announces the address (the
  // "listening on" line, which tests and scripts read the port from). Connections wait in the
  // socket's backlog until run() accepts them.
  void start();
  // Accepts and serves on the calling thread and the other network threads; returns when a
  // shutdown has closed every connection.
  void run();
  // Begins a graceful shutdown (as SIGTERM does). Any thread.
  void stop();
  // After run(): drains the work the network started, in dependency order, and closes the
  // store. Nothing is acknowledged after it returns.
  void shutdown();

  uint16_t port() const { return server_.port(); }

 private:
  Application(const Config& config, const Clock& clock, const MonotonicClock& steady,
              OpenedStore storage, const store::DirectorySnapshot& snapshot, net::Listener listener,
              std::unique_ptr<broker::Broker> broker, std::optional<net::Listener> admin_listener);
  std::unique_ptr<domain::EventBus> make_bus();
  // Several nodes: counts the limits over the cluster (limits_). In the constructor.
  void share_limits();

  const Config& config_;
  const Clock& clock_;            // dates: messages, tokens, links, mail
  const MonotonicClock& steady_;  // intervals: deadlines and rate limits

  OpenedStore storage_;
  store::Store& store_;
  SnowflakeGenerator ids_;
  domain::Directory directory_;

  std::unique_ptr<mail::Mailer> mailer_;  // SMTP, or the log when no server is set
  mail::OutboxSender outbox_;

  // Hashing is the heaviest CPU work and the least urgent: it yields to chat (nice 10).
  ThreadPool hash_pool_;
  ThreadPool read_pool_;

  // Several nodes (--redis-url): the broker to the other nodes, a pool for the Directory
  // reloads after a gap (they block on the database), and the bus over them (cluster_bus_,
  // which is bus_). One node: none of these, and bus_ is in-process.
  std::unique_ptr<broker::Broker> broker_;
  std::unique_ptr<ThreadPool> reload_pool_;
  cluster::ClusterEventBus* cluster_bus_ = nullptr;
  // What is open now per user (sessions) and per address (WebSocket connections), counted
  // over every node by limits_ below; the hub and the server count into them.
  SharedGauge session_counts_;
  SharedGauge connection_counts_;

  // In process on one node; over the broker above with --redis-url (make_bus()).
  std::unique_ptr<domain::EventBus> bus_;
  gateway::Hub hub_;

  domain::Accounts accounts_;
  domain::Social social_;
  domain::Chats chats_;
  domain::Guilds guilds_;
  domain::Blocks blocks_;

  Readiness readiness_;  // GET /readyz: the checks are added once the server exists
  http::Router router_;
  gateway::Services services_;
  // With --admin-port: /metrics, /healthz and /readyz on the admin listener.
  std::unique_ptr<metrics::Exposition> exposition_;
  std::unique_ptr<http::AdminAccounts> admin_accounts_;  // with --admin-token-file
  std::unique_ptr<http::AdminRouter> admin_router_;
  net::Server server_;  // it serves everything above, and stops first

  // Several nodes: the rate limits of the services and the router, and the gauges above,
  // counted over the cluster through the broker. Refers to all of them: declared after.
  std::unique_ptr<broker::ClusterLimits> limits_;
};

}  // namespace rwd::app
