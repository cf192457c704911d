#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rwd {

// A set of IPv4/IPv6 addresses and CIDR ranges ("127.0.0.1", "10.0.0.0/8", "::1/128"),
// for REWIND_RATE_LIMIT_EXEMPT. IPv4-mapped IPv6 addresses match their IPv4 ranges.
class AddressSet {
 public:
  // Parses a comma-separated list; returns the first bad entry on failure.
  static std::optional<AddressSet> parse(std::string_view list, std::string* bad_entry);
  bool contains(std::string_view address) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    std::array<uint8_t, 16> bytes;  // IPv4 stored as IPv4-mapped IPv6
    int prefix_bits;                // out of 128
  };
  std::vector<Range> ranges_;
};

// The key per-address limits count by: an IPv4 address as is, an IPv6 address by its /64
// (one subscriber usually holds a whole /64, so counting single addresses would not limit
// anyone). IPv4-mapped IPv6 addresses count as their IPv4 address.
std::string address_bucket(std::string_view address);

}  // namespace rwd
