#include "base/snowflake.h"

#include "base/clock.h"

namespace rwd {

SnowflakeGenerator::SnowflakeGenerator(int worker_id) : worker_(worker_id & kMaxWorkerId) {}

int64_t SnowflakeGenerator::next() { return next_at_ms(system_now_us() / 1000); }

int64_t SnowflakeGenerator::next_at_ms(int64_t unix_ms) {
  std::lock_guard lock(mu_);
  int64_t ms = unix_ms - kSnowflakeEpochMs;
  if (ms < last_ms_) ms = last_ms_;  // clock went back: stay on the last millisecond
  if (ms == last_ms_) {
    if (++sequence_ > 0xfff) {  // sequence exhausted: borrow the next millisecond
      ++ms;
      sequence_ = 0;
    }
  } else {
    sequence_ = 0;
  }
  last_ms_ = ms;
  return (ms << 22) | (worker_ << 12) | sequence_;
}

}  // namespace rwd
