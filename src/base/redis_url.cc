#include "base/redis_url.h"

#include <limits>

namespace rwd {

namespace {

Error refused(std::string reason) {
  return Error{Errc::kBadRequest,
               "not a Redis URL (" + std::string(kRedisUrlRule) + "): " + std::move(reason)};
}

// A decimal number of at most max; false for anything else (signs, spaces, overflow).
bool parse_decimal(std::string_view digits, int64_t max, int64_t* out) {
  if (digits.empty() || digits.size() > 10) return false;
  int64_t value = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return false;
    value = value * 10 + (ch - '0');
  }
  if (value > max) return false;
  *out = value;
  return true;
}

}  // namespace

std::string RedisUrl::to_string() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return "redis://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" +
         std::to_string(db);
}

Result<RedisUrl> parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.rfind("rediss://", 0) == 0) return refused("TLS (rediss://) is not supported");
  if (url.rfind(kScheme, 0) != 0) return refused("it must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos)
    return refused("a query or fragment (? or #) is not supported");
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (authority.find('@') != std::string_view::npos)
    return refused("a user or password (user:password@) is not supported");

  RedisUrl parsed;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return refused("an IPv6 host lacks its closing ]");
    parsed.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return refused("only :port may follow an IPv6 host");
      port_text = after.substr(1);
      if (port_text.empty()) return refused("the port after ':' is empty");
    }
  } else {
    size_t colon = authority.find(':');
    parsed.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return refused("the port after ':' is empty");
    }
  }
  if (parsed.host.empty()) return refused("the host is empty");
  for (char ch : parsed.host) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == '_' || ch == ':' || ch == '%';
    if (!ok) return refused("the host has a character that no host name or address has");
  }
  if (!port_text.empty()) {
    int64_t port = 0;
    if (!parse_decimal(port_text, 65535, &port) || port == 0)
      return refused("the port is not a number from 1 to 65535");
    parsed.port = static_cast<uint16_t>(port);
  }
  if (!path.empty()) {
    int64_t db = 0;
    if (!parse_decimal(path, std::numeric_limits<int32_t>::max(), &db))
      return refused("the db after '/' is not a number from 0 to 2147483647");
    parsed.db = static_cast<int>(db);
  }
  return parsed;
}

}  // namespace rwd
