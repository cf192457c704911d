#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace rwd {

// Where a Redis server is: the value of --redis-url / REWIND_REDIS_URL, parsed once by the
// configuration (to refuse a bad value at start-up) and again by the broker that connects.
struct RedisUrl {
  std::string host;  // a name or an address; an IPv6 address without its brackets
  uint16_t port = 6379;
  int db = 0;  // SELECTed on the command link; pub/sub channels are global, whatever the db

  std::string to_string() const;  // redis://host:port/db, for logs (holds no secret)
};

// The rule, quoted in every refusal.
inline constexpr std::string_view kRedisUrlRule = "redis://host:port[/db]";

// Parses redis://host[:port][/db] (the port defaults to 6379, the db to 0; an IPv6 host is
// written in brackets). Refused, with a reason that names the part and never repeats the
// URL (it could hold a password): another scheme (rediss:// TLS is not supported), a user or
// password, a query or fragment, an empty host, a port outside 1-65535, a db that is not a
// number from 0 to 2147483647. The error's code is kBadRequest.
Result<RedisUrl> parse_redis_url(std::string_view url);

}  // namespace rwd
