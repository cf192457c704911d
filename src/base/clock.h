#pragma once

#include <cstdint>

namespace rwd {

// Microseconds since the Unix epoch, from the system clock.
int64_t system_now_us();
// Microseconds since an arbitrary fixed point (the machine's boot), from a clock that only
// moves forward at a steady rate.
int64_t steady_now_us();

// Wall time: the seam for what is dated (message times, token and link expiry, mail retry
// times stored in the database). The system clock can be stepped (NTP, an administrator, a
// virtual machine resumed), so wall time never measures an interval: that is MonotonicClock.
// Tests substitute a fake to move time by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_us() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_us() const override { return system_now_us(); }
};

// Elapsed time: the seam for deadlines (heartbeat, authentication, close grace) and rate
// limits. Its values mean nothing as dates and are only compared with each other, so a step
// of the wall clock neither fires a deadline early nor keeps a dead connection open.
class MonotonicClock {
 public:
  virtual ~MonotonicClock() = default;
  virtual int64_t now_us() const = 0;
};

class SteadyClock final : public MonotonicClock {
 public:
  int64_t now_us() const override { return steady_now_us(); }
};

}  // namespace rwd
