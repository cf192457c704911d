#include "base/address_set.h"

#include <arpa/inet.h>

#include <cstring>

#include "base/text.h"

namespace rwd {

namespace {

bool to_bytes(const std::string& text, std::array<uint8_t, 16>& out, bool& is_v4) {
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    out.fill(0);
    out[10] = out[11] = 0xff;
    std::memcpy(out.data() + 12, &v4, 4);
    is_v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    is_v4 = false;
    return true;
  }
  return false;
}

}  // namespace

std::optional<AddressSet> AddressSet::parse(std::string_view list, std::string* bad_entry) {
  AddressSet set;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (item.empty()) continue;
    std::string addr(item);
    int prefix = -1;
    if (auto slash = addr.find('/'); slash != std::string::npos) {
      std::string bits = addr.substr(slash + 1);
      addr.resize(slash);
      if (bits.empty() || bits.size() > 3 ||
          bits.find_first_not_of("0123456789") != std::string::npos) {
        if (bad_entry) *bad_entry = std::string(item);
        return std::nullopt;
      }
      prefix = std::stoi(bits);
    }
    Range r;
    bool v4;
    if (!to_bytes(addr, r.bytes, v4) || prefix > (v4 ? 32 : 128)) {
      if (bad_entry) *bad_entry = std::string(item);
      return std::nullopt;
    }
    r.prefix_bits = prefix < 0 ? 128 : (v4 ? prefix + 96 : prefix);
    set.ranges_.push_back(r);
  }
  return set;
}

std::string address_bucket(std::string_view address) {
  std::array<uint8_t, 16> b;
  bool v4;
  if (!to_bytes(std::string(address), b, v4)) return std::string(address);
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (v4 || std::memcmp(b.data(), kMapped, 12) == 0) {
    char out[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, b.data() + 12, out, sizeof out);
    return out;
  }
  std::fill(b.begin() + 8, b.end(), 0);
  char out[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data(), out, sizeof out);
  return std::string(out) + "/64";
}

bool AddressSet::contains(std::string_view address) const {
  std::array<uint8_t, 16> b;
  bool v4;
  if (!to_bytes(std::string(address), b, v4)) return false;
  for (const Range& r : ranges_) {
    int full = r.prefix_bits / 8, rest = r.prefix_bits % 8;
    if (std::memcmp(b.data(), r.bytes.data(), full) != 0) continue;
    if (rest && ((b[full] ^ r.bytes[full]) & (0xff << (8 - rest)) & 0xff)) continue;
    return true;
  }
  return false;
}

}  // namespace rwd
