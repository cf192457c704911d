#pragma once

#include <cstdint>
#include <mutex>

namespace rwd {

// Snowflake ids: 41 bits of milliseconds since kSnowflakeEpochMs, 10 bits of worker id,
// 12 bits of per-millisecond sequence. Always positive as int64 (the app parses them into
// a signed 64-bit int) and time ordered. Thread-safe.
inline constexpr int64_t kSnowflakeEpochMs = 1609459200000;  // 2021-01-01T00:00:00Z
inline constexpr int kMaxWorkerId = 1023;

class SnowflakeGenerator {
 public:
  // worker_id must be in [0, kMaxWorkerId]; Config validates it before this is built.
  explicit SnowflakeGenerator(int worker_id);

  // Returns a new id. If the clock steps backwards, ids keep increasing from the last one
  // issued, so ids never repeat within a process.
  int64_t next();
  // As next(), for a caller that already knows the time (tests).
  int64_t next_at_ms(int64_t unix_ms);

  static int64_t unix_ms_of(int64_t id) { return (id >> 22) + kSnowflakeEpochMs; }
  static int worker_of(int64_t id) { return static_cast<int>((id >> 12) & 0x3ff); }

 private:
  std::mutex mu_;
  const int64_t worker_;
  int64_t last_ms_ = 0;   // guarded by mu_
  int64_t sequence_ = 0;  // guarded by mu_
};

}  // namespace rwd
