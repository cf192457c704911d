#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rwd {

// A fixed-window-free token bucket: `burst` requests at once, refilled at burst/window.
// One bucket per key (an address, a user id). Thread-safe. Idle buckets are swept so the
// map does not grow without bound under address churn.
//
// Times should come from a MonotonicClock (base/clock.h). Fed wall time, a step forward
// refills early and a step back is taken as no time passing: never fewer tokens.
class RateLimiter {
 public:
  RateLimiter(int burst, int64_t window_us);

  // Takes one token for `key` at time now_us. Returns 0 when allowed, otherwise the
  // microseconds to wait until a token is available.
  int64_t acquire(const std::string& key, int64_t now_us);

  // Several nodes (broker/cluster_limits.h): the buckets stand for the cluster's. After
  // share(), every admission is also counted per key, and take_admitted() hands those counts
  // over (to be told to the other nodes); charge() takes the tokens another node's
  // admissions used from the same key's bucket here, down to -burst (so a key the cluster
  // used up waits at most one window more). Never called: a limiter of one process.
  // charge() takes no time: it works at the latest time acquire() was given, so the bucket
  // stays in the clock of this limiter's callers (some limiters are fed wall time).
  void share();
  std::vector<std::pair<std::string, int>> take_admitted();
  void charge(const std::string& key, int count);

 private:
  struct Bucket {
    double tokens;
    int64_t updated_us;
  };
  const double burst_;
  const double refill_per_us_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mu_
  int64_t last_sweep_us_ = 0;                        // guarded by mu_
  int64_t latest_us_ = 0;                            // the latest acquire() time; mu_
  bool time_known_ = false;                          // acquire() was called; mu_
  bool shared_ = false;                              // guarded by mu_
  std::unordered_map<std::string, int> admitted_;    // guarded by mu_; since take_admitted()
};

// How a LocalRateLimiter's bucket fills: `burst` requests at once, refilled at burst/window.
struct RateRule {
  int burst;
  int64_t window_us;
};

// A local token bucket for one owner (a connection) that is only touched by one thread at a
// time (the connection's event loop). Times as for RateLimiter. The bucket holds only its
// state; its rule comes with every call, from the owner's settings: a connection holds three
// buckets, and a rule in each would be most of their size (every idle connection pays it).
class LocalRateLimiter {
 public:
  // Takes one token at now_us. Returns 0 when allowed, otherwise the microseconds to wait until
  // a token is available. The first call finds the bucket full. Every call of one bucket
  // passes the same rule.
  int64_t acquire(RateRule rule, int64_t now_us);

 private:
  // updated_us_ of a bucket never used: a monotonic clock may read 0, which is a time like any
  // other.
  static constexpr int64_t kUnused = INT64_MIN;
  double tokens_ = 0;
  int64_t updated_us_ = kUnused;
};

}  // namespace rwd
