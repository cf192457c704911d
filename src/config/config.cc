#include "config/config.h"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <thread>

#include "base/redis_url.h"
#include "base/snowflake.h"
#include "base/text.h"
#include "base/time_format.h"

namespace rwd {

namespace {

template <typename T>
CLI::Option* opt(CLI::App& app, const char* flag, T& value, const char* env, const char* help) {
  return app.add_option(flag, value, help)->envname(env)->capture_default_str();
}

}  // namespace

ConfigOutcome parse_config(int argc, char** argv) {
  Config c;
  std::string smtp_tls = "implicit";
  std::string origins;
  CLI::App app{"rewind-server: REWIND chat server (HTTP API + WebSocket gateway)"};
  app.option_defaults()->always_capture_default();
  app.get_formatter()->column_width(44);

  opt(app, "--listen", c.listen, "REWIND_LISTEN", "Address to listen on");
  opt(app, "--port", c.port, "REWIND_HTTP_PORT", "HTTP and WebSocket port (0 = any free port)");
  opt(app, "--admin-listen", c.admin_listen, "REWIND_ADMIN_LISTEN",
      "Address of the admin listener (/metrics, /healthz, /readyz)");
  opt(app, "--admin-port", c.admin_port, "REWIND_ADMIN_PORT",
      "Port of the admin listener (0 = no admin listener)");
  opt(app, "--admin-token-file", c.admin_token_file, "REWIND_ADMIN_TOKEN_FILE",
      "File holding the secret of account administration on the admin listener (default: "
      "none, no account administration)");
  opt(app, "--data-dir", c.data_dir, "REWIND_DATA_DIR", "Directory of the SQLite database");
  opt(app, "--public-base-url", c.public_base_url, "REWIND_PUBLIC_BASE_URL",
      "Base URL of verification links (default http://<listen>:<port>)");
  opt(app, "--database-url", c.database_url, "REWIND_DATABASE_URL",
      "PostgreSQL database (postgresql://user:password@host:port/db); default: SQLite in "
      "--data-dir");
  opt(app, "--redis-url", c.redis_url, "REWIND_REDIS_URL",
      "Redis joining this process to the other nodes (redis://host:port[/db]); default: one "
      "process");
  auto* worker_id =
      opt(app, "--worker-id", c.worker_id, "REWIND_WORKER_ID",
          "Snowflake worker number (0-1023), unique per database; on PostgreSQL a free one is "
          "leased when not given")
          ->check(CLI::Range(0, kMaxWorkerId));
  opt(app, "--prune-interval", c.prune_interval_s, "REWIND_PRUNE_INTERVAL_S",
      "Seconds between deletions of expired tokens and registrations and old sent mail")
      ->check(CLI::Range(1, 86400));
  opt(app, "--commit-delay-us", c.commit_delay_us, "REWIND_COMMIT_DELAY_US",
      "Microseconds a commit may wait for more writes while writes keep coming, on either store "
      "(0 = commit at once)")
      ->check(CLI::Range(0, 100'000));
  opt(app, "--sent-mail-retention", c.sent_mail_retention_h, "REWIND_SENT_MAIL_RETENTION_H",
      "Hours sent mail stays in the outbox table (for diagnosis) before it is deleted")
      ->check(CLI::Range(0.0, 24.0 * 3650));
  opt(app, "--threads", c.threads, "REWIND_THREADS", "Network threads (0 = one per core)")
      ->check(CLI::Range(0, 256));
  opt(app, "--allowed-origins", origins, "REWIND_ALLOWED_ORIGINS",
      "Comma-separated Origins allowed to open /ws (empty = any)");

  opt(app, "--smtp-host", c.smtp_host, "REWIND_SMTP_HOST", "SMTP server (empty: mail to the log)");
  opt(app, "--smtp-port", c.smtp_port, "REWIND_SMTP_PORT",
      "SMTP port (0 = 465 implicit, 587 starttls, 25 none)")
      ->check(CLI::Range(0, 65535));
  opt(app, "--smtp-tls", smtp_tls, "REWIND_SMTP_TLS", "SMTP TLS mode")
      ->check(CLI::IsMember({"implicit", "starttls", "none"}));
  opt(app, "--smtp-ca-file", c.smtp_ca_file, "REWIND_SMTP_CAFILE",
      "CA bundle for the SMTP server (default: system store)");
  opt(app, "--mail-address", c.mail_address, "MAIL_ADDRESS", "Sender address and SMTP login");
  opt(app, "--mail-password", c.mail_password, "MAIL_PASSWD", "SMTP password");
  opt(app, "--mail-backlog-limit", c.mail_backlog_limit, "REWIND_MAIL_BACKLOG_LIMIT",
      "Unsent mail in the outbox above which /readyz answers 503 (0 = mail never does)")
      ->check(CLI::Range(0, 10000000));

  opt(app, "--heartbeat-timeout", c.heartbeat_timeout_s, "REWIND_HEARTBEAT_TIMEOUT_S",
      "Seconds without a heartbeat before a connection is dropped")
      ->check(CLI::Range(1, 3600));
  opt(app, "--auth-timeout", c.auth_timeout_s, "REWIND_AUTH_TIMEOUT_S",
      "Seconds a connection may stay unauthenticated")
      ->check(CLI::Range(1, 3600));
  opt(app, "--utc-offset", c.utc_offset_text, "REWIND_UTC_OFFSET",
      "UTC offset of created_at and load cursors");
  opt(app, "--max-message-bytes", c.max_message_bytes, "REWIND_MAX_MESSAGE_BYTES",
      "Largest WebSocket message")
      ->check(CLI::Range(size_t{1024}, size_t{16} << 20));
  opt(app, "--max-content-chars", c.max_content_chars, "REWIND_MAX_CONTENT_CHARS",
      "Longest chat message, in characters")
      ->check(CLI::Range(size_t{1}, size_t{100000}));
  opt(app, "--send-queue-bytes", c.send_queue_bytes, "REWIND_SEND_QUEUE_BYTES",
      "Outgoing bytes queued for one connection before it is closed as too slow")
      ->check(CLI::Range(size_t{4096}, size_t{1} << 30));
  opt(app, "--ws-handshake-timeout", c.ws_handshake_timeout_s, "REWIND_WS_HANDSHAKE_TIMEOUT_S",
      "Seconds for a WebSocket opening or closing handshake")
      ->check(CLI::Range(1, 3600));
  opt(app, "--ws-close-grace", c.ws_close_grace_s, "REWIND_WS_CLOSE_GRACE_S",
      "Seconds a closing connection may take to write the frame in flight before it is cut")
      ->check(CLI::Range(1, 3600));
  opt(app, "--shutdown-timeout", c.shutdown_timeout_s, "REWIND_SHUTDOWN_TIMEOUT_S",
      "Seconds open connections get to close on SIGTERM/SIGINT before the server stops anyway")
      ->check(CLI::Range(1, 3600));
  opt(app, "--max-sessions-per-user", c.max_sessions_per_user, "REWIND_MAX_SESSIONS_PER_USER",
      "Open authenticated connections per user")
      ->check(CLI::Range(1, 100000));
  opt(app, "--max-connections-per-address", c.max_connections_per_address,
      "REWIND_MAX_CONNECTIONS_PER_ADDRESS", "Open WebSocket connections per client address")
      ->check(CLI::Range(1, 1000000));
  opt(app, "--pending-queue", c.pending_queue, "REWIND_PENDING_QUEUE",
      "Requests held while waiting for auth")
      ->check(CLI::Range(0, 1000));
  opt(app, "--invalid-frame-limit", c.invalid_frame_limit, "REWIND_INVALID_FRAME_LIMIT",
      "Invalid frames a connection may send per minute before it is closed (4103)")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--history-max-count", c.history_max_count, "REWIND_HISTORY_MAX_COUNT",
      "Largest count a history load returns (a whole load of the longest messages must fit in "
      "half of --send-queue-bytes)")
      ->check(CLI::Range(1, 10000));
  opt(app, "--ws-rate-count", c.ws_rate_count, "REWIND_WS_RATE_COUNT",
      "Requests per connection per --ws-rate-window")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--ws-rate-window", c.ws_rate_window_s, "REWIND_WS_RATE_WINDOW_S",
      "Window of the per-connection limit, seconds")
      ->check(CLI::Range(1, 86400));
  opt(app, "--chat-rate-count", c.chat_rate_count, "REWIND_CHAT_RATE_COUNT",
      "Chat sends and edits per user per --user-rate-window")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--friend-rate-count", c.friend_rate_count, "REWIND_FRIEND_RATE_COUNT",
      "Friend requests per user per --user-rate-window")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--max-guild-members", c.max_guild_members, "REWIND_MAX_GUILD_MEMBERS",
      "Members a guild may have")
      ->check(CLI::Range(1, 1000000));
  opt(app, "--user-rate-window", c.user_rate_window_s, "REWIND_USER_RATE_WINDOW_S",
      "Window of the per-user limits, seconds")
      ->check(CLI::Range(1, 86400));

  opt(app, "--max-body-bytes", c.max_body_bytes, "REWIND_MAX_BODY_BYTES", "Largest HTTP body")
      ->check(CLI::Range(size_t{256}, size_t{16} << 20));
  opt(app, "--max-header-bytes", c.max_header_bytes, "REWIND_MAX_HEADER_BYTES",
      "Largest HTTP header block")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 20));
  opt(app, "--http-read-timeout", c.http_read_timeout_s, "REWIND_HTTP_READ_TIMEOUT_S",
      "Seconds to receive a whole HTTP request")
      ->check(CLI::Range(1, 3600));
  opt(app, "--http-write-timeout", c.http_write_timeout_s, "REWIND_HTTP_WRITE_TIMEOUT_S",
      "Seconds to send a whole HTTP response")
      ->check(CLI::Range(1, 3600));
  opt(app, "--register-rate-count", c.register_rate_count, "REWIND_REGISTER_RATE_COUNT",
      "Registrations per address per --http-rate-window")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--login-rate-count", c.login_rate_count, "REWIND_LOGIN_RATE_COUNT",
      "Logins per address per --http-rate-window")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--login-account-rate-count", c.login_account_rate_count,
      "REWIND_LOGIN_ACCOUNT_RATE_COUNT", "Logins per email per --http-rate-window")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--reset-rate-count", c.reset_rate_count, "REWIND_RESET_RATE_COUNT",
      "Password reset requests and uses per address per --http-rate-window")
      ->check(CLI::Range(1, 10000000));
  opt(app, "--http-rate-window", c.http_rate_window_s, "REWIND_HTTP_RATE_WINDOW_S",
      "Window of the HTTP limits, seconds")
      ->check(CLI::Range(1, 86400));
  opt(app, "--rate-limit-exempt", c.rate_limit_exempt_text, "REWIND_RATE_LIMIT_EXEMPT",
      "Comma-separated addresses or CIDR ranges exempt from per-address limits");
  opt(app, "--trusted-proxies", c.trusted_proxies_text, "REWIND_TRUSTED_PROXIES",
      "Comma-separated addresses or CIDR ranges of proxies whose X-Forwarded-For names the "
      "client (default: none, the header is ignored)");

  // Fractions of an hour are allowed, down to a second: tests watch tokens expire.
  constexpr double kSecond = 1.0 / 3600;
  opt(app, "--token-ttl", c.token_ttl_h, "REWIND_TOKEN_TTL_H",
      "Login token lifetime, hours (fractions allowed)")
      ->check(CLI::Range(kSecond, 24.0 * 3650));
  opt(app, "--verify-key-ttl", c.verify_key_ttl_h, "REWIND_VERIFY_KEY_TTL_H",
      "Verification link lifetime, hours (fractions allowed)")
      ->check(CLI::Range(kSecond, 24.0 * 365));
  opt(app, "--reset-key-ttl", c.reset_key_ttl_h, "REWIND_RESET_KEY_TTL_H",
      "Password reset link lifetime, hours (fractions allowed)")
      ->check(CLI::Range(kSecond, 24.0 * 365));
  opt(app, "--password-hash-ops", c.password_hash_ops, "REWIND_PASSWORD_HASH_OPS",
      "argon2id passes")
      ->check(CLI::Range(uint64_t{1}, uint64_t{64}));
  opt(app, "--password-hash-mem-kib", c.password_hash_mem_kib, "REWIND_PASSWORD_HASH_MEM_KIB",
      "argon2id memory, KiB")
      ->check(CLI::Range(uint64_t{8}, uint64_t{4} << 20));
  opt(app, "--hash-threads", c.hash_threads, "REWIND_HASH_THREADS",
      "Threads hashing passwords (0 = one per core; they run at a lower priority)")
      ->check(CLI::Range(0, 64));

  opt(app, "--log-level", c.log_level, "REWIND_LOG_LEVEL", "Log level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  opt(app, "--log-format", c.log_format, "REWIND_LOG_FORMAT",
      "Log format: text, or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  opt(app, "--access-log", c.access_log, "REWIND_ACCESS_LOG",
      "A log line per HTTP request and per closed WebSocket (true or false)");

  // `backup` takes the store's own settings (--data-dir, --database-url) from the main
  // options, before or after its name.
  auto* backup = app.add_subcommand(
      "backup",
      "Copy the SQLite store of --data-dir, consistently, to --to FILE while the server runs "
      "(PostgreSQL: use pg_dump, see docs/DEPLOYMENT.md)");
  backup->fallthrough();
  backup->add_option("--to", c.backup_to, "File to write (must not exist)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return {std::nullopt, 0};
  } catch (const CLI::ParseError& e) {
    // CLI11 names the flag; name its environment variable too, which may be what was set.
    std::string what = e.what();
    size_t at = what.find("--");
    size_t end = what.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-", at + 2);
    std::string flag = at == std::string::npos ? "" : what.substr(at, end - at);
    try {
      if (!flag.empty() && !app.get_option(flag)->get_envname().empty())
        what += " (" + flag + " / " + app.get_option(flag)->get_envname() + ")";
    } catch (const CLI::Error&) {
    }
    std::cerr << "rewind-server: " << what << "\n";
    return {std::nullopt, 2};
  }

  auto fail = [](const std::string& msg) {
    std::cerr << "rewind-server: " << msg << "\n";
    return ConfigOutcome{std::nullopt, 2};
  };
  if (backup->parsed()) {
    c.command = Command::kBackup;
    if (c.backup_to.empty()) return fail("backup --to: empty path");
  }
  // CLI11 admitted only the three names.
  c.smtp_tls = mail::smtp_tls_from_name(smtp_tls).value_or(mail::SmtpTls::kImplicit);
  if (c.smtp_port == 0) c.smtp_port = mail::default_smtp_port(c.smtp_tls);
  auto offset = parse_utc_offset(c.utc_offset_text);
  if (!offset)
    return fail("--utc-offset / REWIND_UTC_OFFSET: '" + c.utc_offset_text +
                "' is not an offset like +09:00");
  c.utc_offset_s = *offset;
  std::string bad;
  auto exempt = AddressSet::parse(c.rate_limit_exempt_text, &bad);
  if (!exempt)
    return fail("--rate-limit-exempt / REWIND_RATE_LIMIT_EXEMPT: '" + bad +
                "' is not an address or CIDR range");
  c.rate_limit_exempt = std::move(*exempt);
  auto proxies = AddressSet::parse(c.trusted_proxies_text, &bad);
  if (!proxies)
    return fail("--trusted-proxies / REWIND_TRUSTED_PROXIES: '" + bad +
                "' is not an address or CIDR range");
  c.trusted_proxies = std::move(*proxies);
  if (c.listen.empty()) return fail("--listen / REWIND_LISTEN: empty address");
  unsigned char addr_buf[16];
  if (inet_pton(AF_INET, c.listen.c_str(), addr_buf) != 1 &&
      inet_pton(AF_INET6, c.listen.c_str(), addr_buf) != 1)
    return fail("--listen / REWIND_LISTEN: '" + c.listen + "' is not an IP address");
  if (c.admin_port != 0 && inet_pton(AF_INET, c.admin_listen.c_str(), addr_buf) != 1 &&
      inet_pton(AF_INET6, c.admin_listen.c_str(), addr_buf) != 1)
    return fail("--admin-listen / REWIND_ADMIN_LISTEN: '" + c.admin_listen +
                "' is not an IP address");
  if (c.admin_port != 0 && c.admin_port == c.port && c.admin_listen == c.listen)
    return fail("--admin-port / REWIND_ADMIN_PORT: the admin listener needs a port of its own");
  if (!c.admin_token_file.empty() && c.admin_port == 0)
    return fail(
        "--admin-token-file / REWIND_ADMIN_TOKEN_FILE: needs --admin-port (the routes "
        "live on the admin listener)");
  if (!c.admin_token_file.empty()) {
    // The reason never quotes the file's content: it is a secret.
    std::ifstream in(c.admin_token_file, std::ios::binary);
    std::string content;
    if (in.is_open())
      content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.is_open() || in.bad())
      return fail("--admin-token-file / REWIND_ADMIN_TOKEN_FILE: cannot read '" +
                  c.admin_token_file + "'");
    c.admin_token = std::string(trim(content));
    if (c.admin_token.size() < kAdminTokenMin)
      return fail("--admin-token-file / REWIND_ADMIN_TOKEN_FILE: the secret in '" +
                  c.admin_token_file + "' is shorter than " + std::to_string(kAdminTokenMin) +
                  " characters");
  }
  if (c.data_dir.empty()) return fail("--data-dir / REWIND_DATA_DIR: empty path");
  c.worker_id_given = worker_id->count() > 0;
  // Only the form is checked here (the value holds a password, so it is never echoed); a
  // server that cannot be reached stops start-up when the store opens.
  if (!c.database_url.empty() && c.database_url.rfind("postgresql://", 0) != 0 &&
      c.database_url.rfind("postgres://", 0) != 0)
    return fail(
        "--database-url / REWIND_DATABASE_URL: not a PostgreSQL URI "
        "(postgresql://user:password@host:port/db)");
  if (!c.redis_url.empty()) {
    // The reason names the part at fault and never repeats the URL (it could hold a password).
    auto redis = parse_redis_url(c.redis_url);
    if (!redis.ok()) return fail("--redis-url / REWIND_REDIS_URL: " + redis.error().detail);
  }
  if (!c.smtp_host.empty() && c.mail_address.empty())
    return fail("--mail-address / MAIL_ADDRESS: required when --smtp-host is set");
  if (!c.public_base_url.empty() && c.public_base_url.rfind("http://", 0) != 0 &&
      c.public_base_url.rfind("https://", 0) != 0)
    return fail("--public-base-url / REWIND_PUBLIC_BASE_URL: must start with http:// or https://");
  while (!c.public_base_url.empty() && c.public_base_url.back() == '/')
    c.public_base_url.pop_back();
  for (size_t start = 0; start < origins.size();) {
    size_t comma = origins.find(',', start);
    std::string o =
        origins.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!o.empty() && o.front() == ' ') o.erase(0, 1);
    while (!o.empty() && o.back() == ' ') o.pop_back();
    if (!o.empty()) c.allowed_origins.push_back(o);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
  if (c.hash_threads == 0) c.hash_threads = std::max(1u, std::thread::hardware_concurrency());
  return {std::move(c), 0};
}

}  // namespace rwd
