#include "base/client_address.h"

#include <arpa/inet.h>

#include <vector>

#include "base/text.h"

namespace rwd {

std::optional<std::string> canonical_address(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  in_addr v4;
  in6_addr v6;
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    inet_ntop(AF_INET, &v4, out, sizeof out);
    return std::string(out);
  }
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    inet_ntop(AF_INET, v6.s6_addr + 12, out, sizeof out);
  } else {
    inet_ntop(AF_INET6, &v6, out, sizeof out);
  }
  return std::string(out);
}

ClientAddress client_address(std::string_view peer, std::string_view forwarded_for,
                             const AddressSet& trusted_proxies) {
  ClientAddress client{std::string(peer)};
  if (trusted_proxies.empty() || !trusted_proxies.contains(peer)) return client;
  if (trim(forwarded_for).empty()) return client;
  std::vector<std::string_view> entries;
  for (size_t start = 0;;) {
    size_t comma = forwarded_for.find(',', start);
    entries.push_back(trim(forwarded_for.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    std::optional<std::string> address = canonical_address(*it);
    if (!address) {
      client.malformed_forwarded_for = true;
      return client;
    }
    if (!trusted_proxies.contains(*address) || std::next(it) == entries.rend()) {
      client.address = std::move(*address);
      return client;
    }
  }
  return client;
}

}  // namespace rwd
