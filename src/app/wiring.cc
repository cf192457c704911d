#include "app/wiring.h"

namespace rwd::app {

store::SqliteOptions sqlite_options(const Config& config, const Clock& clock) {
  store::SqliteOptions options;
  options.clock = &clock;
  options.prune_interval_us = micros_from_seconds(config.prune_interval_s);
  options.sent_mail_retention_us = micros_from_hours(config.sent_mail_retention_h);
  options.commit_delay_us = config.commit_delay_us;
  return options;
}

store::PostgresOptions postgres_options(const Config& config, const Clock& clock) {
  store::PostgresOptions options;
  options.clock = &clock;
  options.prune_interval_us = micros_from_seconds(config.prune_interval_s);
  options.sent_mail_retention_us = micros_from_hours(config.sent_mail_retention_h);
  options.commit_delay_us = config.commit_delay_us;
  return options;
}

mail::SmtpSettings smtp_settings(const Config& config) {
  mail::SmtpSettings smtp;
  smtp.host = config.smtp_host;
  smtp.port = config.smtp_port;
  smtp.tls = config.smtp_tls;
  smtp.ca_file = config.smtp_ca_file;
  smtp.from = config.mail_address;
  smtp.password = config.mail_password;
  return smtp;
}

std::string public_base_url(const Config& config, uint16_t bound_port) {
  if (!config.public_base_url.empty()) return config.public_base_url;
  // An IPv6 address is bracketed in a URL.
  std::string host =
      config.listen.find(':') != std::string::npos ? "[" + config.listen + "]" : config.listen;
  return "http://" + host + ":" + std::to_string(bound_port);
}

domain::AccountSettings account_settings(const Config& config, std::string public_base_url) {
  domain::AccountSettings settings;
  settings.public_base_url = std::move(public_base_url);
  settings.token_ttl_us = micros_from_hours(config.token_ttl_h);
  settings.verify_key_ttl_us = micros_from_hours(config.verify_key_ttl_h);
  settings.reset_key_ttl_us = micros_from_hours(config.reset_key_ttl_h);
  settings.password_cost = {config.password_hash_ops, config.password_hash_mem_kib * 1024};
  settings.login_account_rate_count = config.login_account_rate_count;
  settings.rate_window_us = micros_from_seconds(config.http_rate_window_s);
  settings.read_through = !config.redis_url.empty();
  return settings;
}

SocialLimits social_limits(const Config& config) {
  return {config.friend_rate_count, micros_from_seconds(config.user_rate_window_s)};
}

domain::ChatSettings chat_settings(const Config& config) {
  domain::ChatSettings settings;
  settings.max_content_chars = config.max_content_chars;
  settings.history_max_count = config.history_max_count;
  settings.sends_per_window = config.chat_rate_count;
  settings.window_us = micros_from_seconds(config.user_rate_window_s);
  return settings;
}

domain::GuildSettings guild_settings(const Config& config) {
  domain::GuildSettings settings;
  settings.max_members = static_cast<size_t>(config.max_guild_members);
  // Guild operations are as rare as friend requests: the same per-user budget.
  settings.ops_per_window = config.friend_rate_count;
  settings.window_us = micros_from_seconds(config.user_rate_window_s);
  return settings;
}

http::RouterSettings router_settings(const Config& config) {
  http::RouterSettings settings;
  settings.rate_limit_exempt = config.rate_limit_exempt;
  settings.register_per_window = config.register_rate_count;
  settings.login_per_window = config.login_rate_count;
  settings.reset_per_window = config.reset_rate_count;
  settings.window_us = micros_from_seconds(config.http_rate_window_s);
  settings.mail_to_log = config.smtp_host.empty();
  settings.utc_offset_s = config.utc_offset_s;
  return settings;
}

gateway::SessionSettings session_settings(const Config& config) {
  gateway::SessionSettings settings;
  settings.heartbeat_timeout_us = micros_from_seconds(config.heartbeat_timeout_s);
  settings.auth_timeout_us = micros_from_seconds(config.auth_timeout_s);
  settings.pending_limit = static_cast<size_t>(config.pending_queue);
  settings.early_bytes_limit = config.send_queue_bytes;
  settings.catch_up_bytes_limit = config.send_queue_bytes / 4;
  settings.invalid_frame_burst = config.invalid_frame_limit;
  settings.rate_count = config.ws_rate_count;
  settings.rate_window_us = micros_from_seconds(config.ws_rate_window_s);
  settings.utc_offset_s = config.utc_offset_s;
  return settings;
}

}  // namespace rwd::app
