#pragma once

#include <cstdint>

namespace rwd {

// Microseconds since the Unix epoch, from the system clock.
int64_t system_now_us();

// A seam for time: services take a Clock so tests can move time by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_us() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_us() const override { return system_now_us(); }
};

}  // namespace rwd
