#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/address_set.h"

namespace rwd {

// An IP address in its canonical text ("::ffff:10.0.0.1" and "10.0.0.1" are both
// "10.0.0.1"; IPv6 in RFC 5952 form); none when `text` is not an address (a port, a name,
// brackets or "unknown" are not).
std::optional<std::string> canonical_address(std::string_view text);

struct ClientAddress {
  std::string address;  // the address per-address limits and logs use
  // The peer is a trusted proxy but its X-Forwarded-For could not be read where it mattered:
  // the peer's own address was used (worth a debug line, not an error answer).
  bool malformed_forwarded_for = false;
};

// The address of the client behind `peer`, the TCP peer of a request. From a peer not in
// `trusted_proxies` the header is the client's own words and is ignored: the peer is the
// client. From a trusted proxy, `forwarded_for` (every X-Forwarded-For value of the request,
// joined with commas in their order) lists the addresses each proxy saw, the nearest last:
// the client is the rightmost entry that is not itself a trusted proxy. Entries left of it
// were written by the client and are never read, so a client cannot choose its address by
// sending the header itself. When every entry is a trusted proxy, the leftmost one is the
// client. No header (or an empty one): the peer. An entry that is not an address, read before
// the client was found: the peer, flagged malformed.
ClientAddress client_address(std::string_view peer, std::string_view forwarded_for,
                             const AddressSet& trusted_proxies);

}  // namespace rwd
