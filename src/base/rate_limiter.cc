#include "base/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace rwd {

RateLimiter::RateLimiter(int burst, int64_t window_us)
    : burst_(burst), refill_per_us_(static_cast<double>(burst) / static_cast<double>(window_us)) {}

namespace {

// Time since `then`, never negative: a limiter fed wall time that stepped back must not take
// tokens away (which would refuse a client for as long as the step).
double elapsed_us(int64_t now_us, int64_t then_us) {
  return static_cast<double>(std::max<int64_t>(0, now_us - then_us));
}

}  // namespace

int64_t RateLimiter::acquire(const std::string& key, int64_t now_us) {
  std::lock_guard lock(mu_);
  if (!time_known_) {
    // Buckets charged before this limiter knew its callers' time start now.
    time_known_ = true;
    for (auto& [charged_key, bucket] : buckets_) bucket.updated_us = now_us;
  }
  latest_us_ = std::max(latest_us_, now_us);
  if (now_us < last_sweep_us_) last_sweep_us_ = now_us;  // stepped back: sweep on schedule
  if (now_us - last_sweep_us_ > 60'000'000) {
    last_sweep_us_ = now_us;
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      double t = it->second.tokens + elapsed_us(now_us, it->second.updated_us) * refill_per_us_;
      it = t >= burst_ ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now_us});
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + elapsed_us(now_us, b.updated_us) * refill_per_us_);
  b.updated_us = now_us;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    if (shared_) ++admitted_[key];
    return 0;
  }
  return static_cast<int64_t>(std::ceil((1.0 - b.tokens) / refill_per_us_));
}

void RateLimiter::share() {
  std::lock_guard lock(mu_);
  shared_ = true;
}

std::vector<std::pair<std::string, int>> RateLimiter::take_admitted() {
  std::unordered_map<std::string, int> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(admitted_);
  }
  return {std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end())};
}

void RateLimiter::charge(const std::string& key, int count) {
  if (count <= 0) return;
  std::lock_guard lock(mu_);
  const int64_t now_us = latest_us_;  // meaningless before the first acquire(), which resets it
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now_us});
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + elapsed_us(now_us, b.updated_us) * refill_per_us_);
  b.updated_us = now_us;
  b.tokens = std::max(-burst_, b.tokens - count);
}

int64_t LocalRateLimiter::acquire(RateRule rule, int64_t now_us) {
  const double burst = rule.burst;
  const double refill_per_us = burst / static_cast<double>(rule.window_us);
  tokens_ = updated_us_ == kUnused
                ? burst
                : std::min(burst, tokens_ + elapsed_us(now_us, updated_us_) * refill_per_us);
  updated_us_ = now_us;
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  return static_cast<int64_t>(std::ceil((1.0 - tokens_) / refill_per_us));
}

}  // namespace rwd
