#include "app/application.h"

#include <spdlog/spdlog.h>

#include <exception>
#include <string>
#include <utility>

#include "app/metrics_sources.h"
#include "app/readiness_checks.h"
#include "app/wiring.h"
#include "base/crypto.h"
#include "base/unicode.h"
#include "gateway/send_budget.h"

namespace rwd::app {

namespace {

// What the process needs before it builds anything; each failure is one line.
Status check_runtime(const Config& config) {
  // A legal history load must never close its own connection (4105).
  if (Status s =
          gateway::check_history_fits_send_queue(static_cast<size_t>(config.history_max_count),
                                                 config.max_content_chars, config.send_queue_bytes);
      !s.ok())
    return s;
  if (!crypto::init()) return Error{Errc::kInternal, "libsodium failed to initialize"};
  // ICU's data is loaded on first use: a broken installation stops start-up here, in one line,
  // rather than at the first sign-up.
  try {
    (void)unicode::confusable_skeleton(unicode::name_key("rewind"));
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("ICU failed to initialize: ") + e.what()};
  }
  return {};
}

std::unique_ptr<mail::Mailer> make_mailer(const Config& config) {
  if (config.smtp_host.empty()) return std::make_unique<mail::LogMailer>();
  return std::make_unique<mail::SmtpMailer>(smtp_settings(config));
}

}  // namespace

Result<std::unique_ptr<Application>> Application::create(const Config& config, const Clock& clock,
                                                         const MonotonicClock& steady) {
  if (Status s = check_runtime(config); !s.ok()) return s.error();
  auto opened = open_store(config, clock);
  if (!opened.ok()) return opened.error();
  auto snapshot = opened.value().store->load_directory(clock.now_us());
  if (!snapshot.ok()) return Error{Errc::kInternal, "database: " + snapshot.error().detail};
  // The socket is bound before the services are built, so the accounts' public base URL is
  // known when they are (with --port 0 the port is the kernel's choice) and never patched
  // afterwards. Accepting waits for run().
  // The broker is only made here (a bad URL stops start-up); it connects once started, and
  // keeps trying while Redis is away (readiness says so).
  std::unique_ptr<broker::Broker> broker;
  if (!config.redis_url.empty()) {
    auto opened_broker = broker::open_redis_broker(config.redis_url);
    if (!opened_broker.ok())
      return Error{Errc::kInternal, "--redis-url: " + opened_broker.error().detail};
    broker = std::move(opened_broker.value());
  }
  auto listener = net::Listener::bind(config.listen, config.port);
  if (!listener.ok()) return listener.error();
  std::optional<net::Listener> admin_listener;
  if (config.admin_port != 0) {
    auto bound = net::Listener::bind(config.admin_listen, config.admin_port);
    if (!bound.ok()) return Error{Errc::kInternal, "--admin-port: " + bound.error().detail};
    admin_listener.emplace(std::move(bound.value()));
  }
  try {
    return std::unique_ptr<Application>(
        new Application(config, clock, steady, std::move(opened.value()), snapshot.value(),
                        std::move(listener.value()), std::move(broker), std::move(admin_listener)));
  } catch (const std::exception& e) {
    return Error{Errc::kInternal, std::string("start-up: ") + e.what()};
  }
}

Application::Application(const Config& config, const Clock& clock, const MonotonicClock& steady,
                         OpenedStore storage, const store::DirectorySnapshot& snapshot,
                         net::Listener listener, std::unique_ptr<broker::Broker> broker,
                         std::optional<net::Listener> admin_listener)
    : config_(config),
      clock_(clock),
      steady_(steady),
      storage_(std::move(storage)),
      store_(*storage_.store),
      ids_(storage_.worker_id),
      directory_(snapshot),
      mailer_(make_mailer(config)),
      outbox_(store_, *mailer_, clock_),
      hash_pool_("hash", config.hash_threads, 1024, /*nice=*/10),
      read_pool_("db-read", 2, 4096),
      broker_(std::move(broker)),
      reload_pool_(broker_ ? std::make_unique<ThreadPool>("cluster-read", 2, 4096) : nullptr),
      bus_(make_bus()),
      hub_(*bus_, config.max_sessions_per_user, config.utc_offset_s),
      accounts_(account_settings(config, public_base_url(config, listener.port())), store_,
                directory_, hash_pool_, read_pool_, ids_, clock_, *bus_,
                [this] { outbox_.wake(); }),
      social_(store_, directory_, *bus_, ids_, clock_, social_limits(config).requests_per_window,
              social_limits(config).window_us),
      chats_(chat_settings(config), store_, directory_, *bus_, read_pool_, ids_, clock_),
      guilds_(guild_settings(config), store_, directory_, *bus_, ids_, clock_),
      blocks_(store_, directory_, *bus_, read_pool_, clock_, social_.request_limiter()),
      router_(router_settings(config), accounts_, steady_, readiness_),
      services_{accounts_,  social_, chats_, guilds_, blocks_,
                directory_, hub_,    clock_, steady_, session_settings(config)},
      server_(config, std::move(listener), router_, services_) {
  server_.set_node_id(storage_.worker_id);
  if (broker_) share_limits();
  hub_.show_presence(directory_);  // after share_limits: the other nodes' sessions count too
  add_readiness_checks(readiness_, store_, server_);
  add_mail_readiness_check(readiness_, outbox_, config.mail_backlog_limit);
  if (admin_listener) {
    exposition_ = make_exposition(store_, broker_.get(), cluster_bus_, limits_.get());
    // Read from the sender at each scrape: the very number readiness compares.
    exposition_->add_gauge("mail_backlog", "Unsent mail in the outbox that will still be tried.",
                           [this] { return static_cast<double>(outbox_.backlog()); });
    if (!config.admin_token.empty())
      admin_accounts_ = std::make_unique<http::AdminAccounts>(config.admin_token, accounts_);
    admin_router_ = std::make_unique<http::AdminRouter>([this] { return exposition_->scrape(); },
                                                        metrics::Exposition::kContentType,
                                                        readiness_, admin_accounts_.get());
    uint16_t admin_port = admin_listener->port();
    server_.serve_admin(std::move(*admin_listener), *admin_router_);
    spdlog::info("admin listener (/metrics, /healthz, /readyz{}) on http://{}:{}",
                 admin_accounts_ ? ", /admin/users" : "", config.admin_listen, admin_port);
  }
  spdlog::info("loaded {} users from {}", directory_.user_count(), storage_.where);
}

Application::~Application() = default;

std::unique_ptr<domain::EventBus> Application::make_bus() {
  if (!broker_) return std::make_unique<domain::InProcessEventBus>();
  cluster::ClusterSettings settings;
  settings.node_instance = cluster::make_node_instance(storage_.worker_id);
  auto bus = std::make_unique<cluster::ClusterEventBus>(std::move(settings), *broker_, directory_,
                                                        store_, *reload_pool_, clock_);
  cluster_bus_ = bus.get();
  return bus;
}

void Application::share_limits() {
  limits_ = std::make_unique<broker::ClusterLimits>(*broker_);
  // The names are the same on every node; they are the wire's.
  limits_->add_rate("register", router_.register_limiter());
  limits_->add_rate("login", router_.login_limiter());
  limits_->add_rate("login-account", accounts_.login_per_account_limiter());
  limits_->add_rate("reset", router_.reset_limiter());
  limits_->add_rate("sessions", router_.sessions_limiter());
  limits_->add_rate("reset-email", accounts_.reset_per_email_limiter());
  limits_->add_rate("chat", chats_.send_limiter());
  limits_->add_rate("friend", social_.request_limiter());
  limits_->add_rate("guild", guilds_.operation_limiter());
  limits_->add_gauge("sessions", session_counts_);
  limits_->add_gauge("connections", connection_counts_);
  hub_.count_sessions_in(&session_counts_);
  server_.count_connections_in(&connection_counts_);
}

void Application::start() {
  if (broker_) {
    limits_->start();  // its channel is routed before the broker starts
    // Every subscriber (the hub) is in place; the first "up" reloads the Directory, which
    // covers what other nodes changed since it was read. Before the first connection.
    cluster_bus_->start();
    broker_->start();
    readiness_.add("broker", [this]() -> std::optional<std::string> {
      if (broker_->up()) return std::nullopt;
      return "not connected to the other nodes";
    });
  }
  outbox_.start();
  spdlog::info("rewind-server listening on http://{}:{} (WebSocket /ws), data in {}, mail {}",
               config_.listen, server_.port(), storage_.where,
               config_.smtp_host.empty()
                   ? std::string("to the log")
                   : "via " + config_.smtp_host + ":" + std::to_string(config_.smtp_port));
}

void Application::run() { server_.run(); }

void Application::stop() { server_.stop(); }

void Application::shutdown() {
  // The network threads have stopped. Drain the work they started, in dependency order:
  // hashing and reads may submit writes; writes may wake the outbox.
  spdlog::info("network stopped; finishing queued work");
  if (broker_) {
    // No more events from the other nodes and no Directory reload (it reads the store, which
    // closes below); what this node still publishes goes out until the broker stops.
    cluster_bus_->stop();
    reload_pool_->stop();
    // Its goodbye (the others forget this node's sessions and connections at once) leaves
    // while the broker has time to send it.
    limits_->stop();
  }
  hash_pool_.stop();
  read_pool_.stop();
  store_.flush();
  outbox_.stop();
  store_.close();
  // After the store's last callbacks, which may still publish to the other nodes.
  if (broker_) broker_->stop();
}

}  // namespace rwd::app
