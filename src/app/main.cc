// rewind-server: builds every part from the Config and wires the implementations together.
// The only module that knows them all.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "app/backup_command.h"
#include "app/open_store.h"
#include "base/clock.h"
#include "base/crypto.h"
#include "base/snowflake.h"
#include "base/thread_pool.h"
#include "base/unicode.h"
#include "config/config.h"
#include "domain/accounts.h"
#include "domain/chats.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "domain/guilds.h"
#include "domain/social.h"
#include "gateway/hub.h"
#include "gateway/send_budget.h"
#include "gateway/session.h"
#include "http/router.h"
#include "mail/mailer.h"
#include "mail/outbox_sender.h"
#include "net/server.h"

namespace {

int fail(const std::string& message) {
  spdlog::critical("{}", message);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rwd;
  ConfigOutcome parsed = parse_config(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  const Config& config = *parsed.config;
  if (config.command == Command::kBackup) return app::run_backup(config);

  auto logger = spdlog::stderr_color_mt("rewind");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%t] %v");

  // A legal history load must never close its own connection (4105).
  if (Status s =
          gateway::check_history_fits_send_queue(static_cast<size_t>(config.history_max_count),
                                                 config.max_content_chars, config.send_queue_bytes);
      !s.ok())
    return fail(s.error().detail);
  if (!crypto::init()) return fail("libsodium failed to initialize");
  // ICU's data is loaded on first use: a broken installation stops start-up here, in one line,
  // rather than at the first sign-up.
  try {
    (void)unicode::confusable_skeleton(unicode::name_key("rewind"));
  } catch (const std::exception& e) {
    return fail(std::string("ICU failed to initialize: ") + e.what());
  }

  SystemClock clock;   // dates: messages, tokens, links, mail
  SteadyClock steady;  // intervals: deadlines and rate limits of connections and addresses
  auto opened = app::open_store(config, clock);
  if (!opened.ok()) return fail(opened.error().detail);
  app::OpenedStore& storage = opened.value();
  store::Store* store = storage.store.get();
  const std::string& db_path = storage.where;

  SnowflakeGenerator ids(storage.worker_id);
  domain::Directory directory;
  {
    auto snapshot = store->load_directory(clock.now_us());
    if (!snapshot.ok()) return fail("database: " + snapshot.error().detail);
    directory.load(snapshot.value());
    spdlog::info("loaded {} users from {}", directory.user_count(), db_path);
  }

  std::unique_ptr<mail::Mailer> mailer;
  if (config.smtp_host.empty()) {
    mailer = std::make_unique<mail::LogMailer>();
  } else {
    mail::SmtpSettings smtp;
    smtp.host = config.smtp_host;
    smtp.port = config.smtp_port;
    smtp.tls = config.smtp_tls == SmtpTls::kImplicit   ? mail::SmtpSettings::Tls::kImplicit
               : config.smtp_tls == SmtpTls::kStartTls ? mail::SmtpSettings::Tls::kStartTls
                                                       : mail::SmtpSettings::Tls::kNone;
    smtp.ca_file = config.smtp_ca_file;
    smtp.from = config.mail_address;
    smtp.password = config.mail_password;
    mailer = std::make_unique<mail::SmtpMailer>(smtp);
  }
  mail::OutboxSender outbox(*store, *mailer, clock);

  // Hashing is the heaviest CPU work and the least urgent: it yields to chat (nice 10).
  ThreadPool hash_pool("hash", config.hash_threads, 1024, /*nice=*/10);
  ThreadPool read_pool("db-read", 2, 4096);
  domain::InProcessEventBus bus;

  gateway::Hub hub(bus, config.max_sessions_per_user, config.utc_offset_s);
  domain::AccountSettings account_settings;
  account_settings.token_ttl_us = static_cast<int64_t>(config.token_ttl_h * 3600 * 1e6);
  account_settings.verify_key_ttl_us = static_cast<int64_t>(config.verify_key_ttl_h * 3600 * 1e6);
  account_settings.password_cost = {config.password_hash_ops, config.password_hash_mem_kib * 1024};
  account_settings.login_account_rate_count = config.login_account_rate_count;
  account_settings.rate_window_us = int64_t{config.http_rate_window_s} * 1000000;
  std::unique_ptr<domain::Accounts> accounts;
  domain::Social social(*store, directory, bus, ids, clock, config.friend_rate_count,
                        int64_t{config.user_rate_window_s} * 1000000);
  domain::ChatSettings chat_settings;
  chat_settings.max_content_chars = config.max_content_chars;
  chat_settings.history_max_count = config.history_max_count;
  chat_settings.sends_per_window = config.chat_rate_count;
  chat_settings.window_us = int64_t{config.user_rate_window_s} * 1000000;
  domain::Chats chats(chat_settings, *store, directory, bus, read_pool, ids, clock);
  domain::GuildSettings guild_settings;
  guild_settings.max_members = static_cast<size_t>(config.max_guild_members);
  // Guild operations are as rare as friend requests: the same per-user budget.
  guild_settings.ops_per_window = config.friend_rate_count;
  guild_settings.window_us = int64_t{config.user_rate_window_s} * 1000000;
  domain::Guilds guilds(guild_settings, *store, directory, bus, ids, clock);

  http::RouterSettings router_settings;
  router_settings.rate_limit_exempt = config.rate_limit_exempt;
  router_settings.register_per_window = config.register_rate_count;
  router_settings.login_per_window = config.login_rate_count;
  router_settings.window_us = int64_t{config.http_rate_window_s} * 1000000;
  router_settings.mail_to_log = config.smtp_host.empty();
  router_settings.utc_offset_s = config.utc_offset_s;

  gateway::SessionSettings session_settings;
  session_settings.heartbeat_timeout_us = int64_t{config.heartbeat_timeout_s} * 1000000;
  session_settings.auth_timeout_us = int64_t{config.auth_timeout_s} * 1000000;
  session_settings.pending_limit = static_cast<size_t>(config.pending_queue);
  session_settings.invalid_frame_burst = config.invalid_frame_limit;
  session_settings.rate_count = config.ws_rate_count;
  session_settings.rate_window_us = int64_t{config.ws_rate_window_s} * 1000000;
  session_settings.utc_offset_s = config.utc_offset_s;

  std::unique_ptr<http::Router> router;
  std::unique_ptr<gateway::Services> services;
  std::unique_ptr<net::Server> server;
  account_settings.public_base_url = config.public_base_url;
  accounts = std::make_unique<domain::Accounts>(account_settings, *store, directory, hash_pool, ids,
                                                clock, bus, [&outbox] { outbox.wake(); });
  router = std::make_unique<http::Router>(router_settings, *accounts, steady);
  services = std::make_unique<gateway::Services>(gateway::Services{
      *accounts, social, chats, guilds, directory, hub, clock, steady, session_settings});
  server = std::make_unique<net::Server>(config, *router, *services);
  if (Status s = server->listen(); !s.ok()) return fail(s.error().detail);
  if (config.public_base_url.empty()) {
    // The link base includes the bound port (--port 0 picks one).
    account_settings.public_base_url =
        "http://" +
        (config.listen.find(':') != std::string::npos ? "[" + config.listen + "]" : config.listen) +
        ":" + std::to_string(server->port());
    accounts->set_public_base_url(account_settings.public_base_url);
  }

  outbox.start();
  spdlog::info("rewind-server listening on http://{}:{} (WebSocket /ws), data in {}, mail {}",
               config.listen, server->port(), db_path,
               config.smtp_host.empty()
                   ? std::string("to the log")
                   : "via " + config.smtp_host + ":" + std::to_string(config.smtp_port));
  server->run();

  // The network threads have stopped. Drain the work they started, in dependency order:
  // hashing and reads may submit writes; writes may wake the outbox.
  spdlog::info("network stopped; finishing queued work");
  hash_pool.stop();
  read_pool.stop();
  store->flush();
  outbox.stop();
  store->close();
  server.reset();
  spdlog::info("stopped cleanly");
  return 0;
}
