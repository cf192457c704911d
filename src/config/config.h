#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/address_set.h"
#include "mail/smtp_tls.h"

namespace rwd {

// What the program was asked to do: serve (the default), or a one-off command that runs and
// exits.
enum class Command {
  kServe,
  kBackup,  // `rewind-server backup --to FILE`: a consistent copy of the SQLite store
};

// Every setting of rewind-server. Each is a command-line flag and an environment
// variable (the flag wins); the names of SPEC §4 are fixed because deployment scripts
// depend on them. parse_config() fills and validates this; the rest of the program
// treats it as read-only.
struct Config {
  Command command = Command::kServe;
  std::string backup_to;  // kBackup: the file to write (must not exist)

  // Network
  std::string listen = "127.0.0.1";
  uint16_t port = 8080;
  std::string public_base_url;               // default http://<listen>:<port>
  int threads = 0;                           // network threads; 0 = one per core
  std::vector<std::string> allowed_origins;  // empty = any Origin (the app sends none)
  // The admin listener (GET /metrics, /healthz, /readyz), apart from the public one.
  std::string admin_listen = "127.0.0.1";
  uint16_t admin_port = 0;  // 0 = no admin listener
  // --admin-token-file: a file holding the secret that account administration on the admin
  // listener asks for (Authorization: Bearer). Empty: those routes do not exist.
  std::string admin_token_file;
  // The file's content, trimmed (at least kAdminTokenMin characters). A secret: never logged.
  std::string admin_token;

  // Storage and ids
  std::string data_dir = "./data";
  // A libpq URI (postgresql://user:password@host:port/db) selects PostgreSQL; empty: SQLite
  // under data_dir. Holds a password: never log it whole.
  std::string database_url;
  // redis://host:port[/db] (checked by parse_redis_url) joins the other nodes through Redis
  // pub/sub; empty: one process, events stay in-process.
  std::string redis_url;
  int worker_id = 0;
  bool worker_id_given = false;  // false: 0, or on PostgreSQL a free id leased from the database
  int prune_interval_s = 60;     // expired tokens, registrations, old sent mail
  int commit_delay_us = 1000;    // SQLite's commit window (store/sqlite/sqlite_store.h)
  double sent_mail_retention_h = 24 * 7;  // sent mail kept for diagnosis

  // Mail
  std::string smtp_host;  // empty: mail goes to the log
  int smtp_port = 0;      // 0: by TLS mode (465 / 587 / 25)
  mail::SmtpTls smtp_tls = mail::SmtpTls::kImplicit;
  std::string smtp_ca_file;
  std::string mail_address;
  std::string mail_password;
  // /readyz answers 503 naming "mail" while more unsent mail than this waits in the outbox
  // (docs/OPERATIONS.md); 0: mail never makes the node unready.
  int mail_backlog_limit = 100;

  // Gateway
  int heartbeat_timeout_s = 45;
  int auth_timeout_s = 15;
  int utc_offset_s = 9 * 3600;
  std::string utc_offset_text = "+09:00";
  size_t max_message_bytes = 64 * 1024;  // one WebSocket message
  size_t max_content_chars = 2000;       // one chat message's text
  size_t send_queue_bytes = 2 << 20;     // per connection before it is closed as slow
  int ws_handshake_timeout_s = 5;        // the WebSocket opening handshake, and the closing one
  int ws_close_grace_s = 5;              // for the frame in flight when a close is asked for
  int shutdown_timeout_s = 8;            // for open connections to close on SIGTERM/SIGINT
  int max_sessions_per_user = 10;
  int max_connections_per_address = 1000;
  int pending_queue = 16;        // requests held before auth
  int invalid_frame_limit = 20;  // invalid frames per minute before a close
  int history_max_count = 100;   // largest load count served
  int ws_rate_count = 120;       // requests per connection ...
  int ws_rate_window_s = 60;     // ... per window
  int chat_rate_count = 60;      // chat sends/edits per user ...
  int friend_rate_count = 30;    // friend requests (and guild operations) per user ...
  int user_rate_window_s = 60;   // ... per window
  int max_guild_members = 1000;  // members per guild

  // HTTP
  size_t max_body_bytes = 16 * 1024;
  size_t max_header_bytes = 8 * 1024;
  int http_read_timeout_s = 10;
  int http_write_timeout_s = 30;      // one whole response
  int register_rate_count = 10;       // per address per window
  int login_rate_count = 20;          // per address per window
  int login_account_rate_count = 10;  // per email per window
  int reset_rate_count = 5;           // password reset requests and uses per address per window
  int http_rate_window_s = 60;
  AddressSet rate_limit_exempt;
  std::string rate_limit_exempt_text;
  // Proxies whose X-Forwarded-For names the client (empty: nobody's header is read).
  AddressSet trusted_proxies;
  std::string trusted_proxies_text;

  // Accounts
  double token_ttl_h = 24 * 30;  // fractions allowed (tests use seconds)
  double verify_key_ttl_h = 24;
  double reset_key_ttl_h = 0.5;  // password reset links
  uint64_t password_hash_ops = 2;
  uint64_t password_hash_mem_kib = 19 * 1024;
  int hash_threads = 0;  // 0: one per core

  // Logging
  std::string log_level = "info";
  std::string log_format = "text";  // "text" or "json" (log/logging.h)
  bool access_log = true;           // log/access_log.h
};

inline constexpr size_t kAdminTokenMin = 16;

struct ConfigOutcome {
  std::optional<Config> config;  // set when the server should start
  int exit_code = 0;             // otherwise: exit with this (0 after --help)
};

// Parses flags and environment. Prints --help or one clear line naming a bad setting.
ConfigOutcome parse_config(int argc, char** argv);

}  // namespace rwd
