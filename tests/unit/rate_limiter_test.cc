#include "base/rate_limiter.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

TEST(RateLimiterTest, AllowsTheBurstThenAsksToWait) {
  RateLimiter limiter(3, 60'000'000);
  int64_t t = 1'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.acquire("a", t), 0);
  int64_t wait = limiter.acquire("a", t);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 20'000'000);            // one token comes back every 20 s
  EXPECT_EQ(limiter.acquire("b", t), 0);  // keys are independent
}

TEST(RateLimiterTest, TokensRefillOverTime) {
  RateLimiter limiter(2, 10'000'000);
  int64_t t = 5'000'000;
  EXPECT_EQ(limiter.acquire("a", t), 0);
  EXPECT_EQ(limiter.acquire("a", t), 0);
  EXPECT_GT(limiter.acquire("a", t), 0);
  EXPECT_EQ(limiter.acquire("a", t + 5'000'000), 0);
}

TEST(RateLimiterTest, LocalLimiterCountsTheSameWay) {
  LocalRateLimiter limiter(120, 60'000'000);
  int64_t t = 1;
  int allowed = 0;
  for (int i = 0; i < 200; ++i) allowed += limiter.acquire(t) == 0;
  EXPECT_EQ(allowed, 120);
}

TEST(RateLimiterTest, TimeGoingBackNeverTakesTokensAway) {
  // Fed wall time that steps back an hour, a bucket must not be emptied for that hour.
  RateLimiter limiter(2, 10'000'000);
  int64_t t = 3'600'000'000'000;
  EXPECT_EQ(limiter.acquire("a", t), 0);
  int64_t back = t - 3'600'000'000;
  EXPECT_EQ(limiter.acquire("a", back), 0);  // the second token of the burst is still there
  EXPECT_GT(limiter.acquire("a", back), 0);
  EXPECT_EQ(limiter.acquire("a", back + 5'000'000), 0);  // and refills from the step on
}

TEST(RateLimiterTest, LocalLimiterIgnoresTimeGoingBack) {
  LocalRateLimiter limiter(2, 10'000'000);
  int64_t t = 3'600'000'000'000;
  EXPECT_EQ(limiter.acquire(t), 0);
  EXPECT_EQ(limiter.acquire(t - 3'600'000'000), 0);
  EXPECT_GT(limiter.acquire(t - 3'600'000'000), 0);
  EXPECT_EQ(limiter.acquire(t - 3'600'000'000 + 5'000'000), 0);
}

TEST(RateLimiterTest, LocalLimiterStartsFullAtTimeZero) {
  // A monotonic clock may read 0; that is a time like any other, not "never used".
  LocalRateLimiter limiter(1, 10'000'000);
  EXPECT_EQ(limiter.acquire(0), 0);
  EXPECT_GT(limiter.acquire(1), 0);
}

}  // namespace
}  // namespace rwd
