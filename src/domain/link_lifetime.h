#pragma once

#include <cstdint>
#include <string>

#include "domain/types.h"

namespace rwd::domain {

// A mailed link's lifetime as a person reads it: whole hours, or minutes (rounded up) under an
// hour ("24 hours", "30분").
std::string link_lifetime_text(int64_t ttl_us, Language language);

}  // namespace rwd::domain
