#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "base/clock.h"

namespace rwd::store {

// Makes storage failures that the environment causes (disk full, I/O errors, files that
// cannot be opened, a database locked by another process) visible without flooding the log.
// An outage starts at the first failure: one error line with its cause. While it lasts, at
// most one more line per interval, with the number of failures since the previous line and
// the latest cause. The first success ends it with one line saying how many failed. The
// counter of failures since start-up is readable from any thread (for a metrics endpoint).
//
// One instance per kind of operation ("write", "read"): a success of one kind must not end an
// outage of the other. Thread-safe.
class StorageHealth {
 public:
  // Receives each line; true for error lines, false for the recovery line. Empty: spdlog.
  using Sink = std::function<void(bool is_error, const std::string& line)>;

  // noun: "write" or "read"; adjective: "writable" or "readable".
  StorageHealth(std::string noun, std::string adjective, const Clock& clock, int64_t interval_us,
                Sink sink = {});

  // `count` operations failed for `cause` (SQLite's text and code, and what was being done).
  void failed(uint64_t count, std::string_view cause);
  // An operation of this kind succeeded: ends the outage, if any. Cheap when there is none.
  void succeeded();

  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  bool failing() const { return failing_.load(std::memory_order_acquire); }

 private:
  void emit(bool is_error, const std::string& line);

  const std::string noun_, adjective_;
  const Clock& clock_;
  const int64_t interval_us_;
  const Sink sink_;

  std::atomic<uint64_t> failures_{0};
  std::atomic<bool> failing_{false};  // written under mu_
  std::mutex mu_;
  int64_t outage_start_us_ = 0;   // guarded by mu_
  int64_t last_line_us_ = 0;      // guarded by mu_
  uint64_t outage_failures_ = 0;  // guarded by mu_
  uint64_t unreported_ = 0;       // guarded by mu_: failures since the last line
};

}  // namespace rwd::store
