#pragma once

// The Config turned into each module's settings: one function per module, the only place
// where the program reads the Config's units (seconds, hours) and converts them to what the
// modules count in (microseconds). The Application builds each part from these; nothing else
// reads the Config except net::Server and the store opening (open_store.h).
//
// To add a setting: a field in Config (with its flag and variable, config.cc), a field in the
// module's settings struct, and one line in that module's function here.

#include <cstdint>
#include <string>

#include "config/config.h"
#include "domain/accounts.h"
#include "domain/chats.h"
#include "domain/guilds.h"
#include "gateway/session.h"
#include "http/router.h"
#include "mail/mailer.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace rwd::app {

// The Config's durations in the microseconds every module counts in. Hours may be fractional
// (tests give seconds as fractions of an hour).
constexpr int64_t micros_from_seconds(int64_t seconds) { return seconds * 1'000'000; }
constexpr int64_t micros_from_hours(double hours) {
  return static_cast<int64_t>(hours * 3600 * 1e6);
}

// Pruning and the clock: the same for either store.
store::SqliteOptions sqlite_options(const Config& config, const Clock& clock);
store::PostgresOptions postgres_options(const Config& config, const Clock& clock);

// The SMTP server, when config.smtp_host names one (otherwise mail goes to the log).
mail::SmtpSettings smtp_settings(const Config& config);

// The base of verification links: --public-base-url, or else this server's own address
// with the port actually bound (which --port 0 leaves to the kernel).
std::string public_base_url(const Config& config, uint16_t bound_port);

domain::AccountSettings account_settings(const Config& config, std::string public_base_url);

// Friend requests per user per window (Social takes them as arguments).
struct SocialLimits {
  int requests_per_window = 0;
  int64_t window_us = 0;
};
SocialLimits social_limits(const Config& config);

domain::ChatSettings chat_settings(const Config& config);
domain::GuildSettings guild_settings(const Config& config);
http::RouterSettings router_settings(const Config& config);
gateway::SessionSettings session_settings(const Config& config);

}  // namespace rwd::app
