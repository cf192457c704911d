#include "domain/link_lifetime.h"

#include <algorithm>

namespace rwd::domain {

std::string link_lifetime_text(int64_t ttl_us, Language language) {
  constexpr int64_t kMinute = 60'000'000, kHour = 60 * kMinute;
  bool korean = language == Language::kKorean;
  if (ttl_us >= kHour) {
    int64_t hours = ttl_us / kHour;
    return std::to_string(hours) + (korean ? "시간" : hours == 1 ? " hour" : " hours");
  }
  int64_t minutes = std::max<int64_t>(1, (ttl_us + kMinute - 1) / kMinute);
  return std::to_string(minutes) + (korean ? "분" : minutes == 1 ? " minute" : " minutes");
}

}  // namespace rwd::domain
