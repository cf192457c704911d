#include "base/rate_limiter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "base/shared_gauge.h"

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
  LocalRateLimiter limiter;
  const RateRule rule{120, 60'000'000};
  int64_t t = 1;
  int allowed = 0;
  for (int i = 0; i < 200; ++i) allowed += limiter.acquire(rule, t) == 0;
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
  LocalRateLimiter limiter;
  const RateRule rule{2, 10'000'000};
  int64_t t = 3'600'000'000'000;
  EXPECT_EQ(limiter.acquire(rule, t), 0);
  EXPECT_EQ(limiter.acquire(rule, t - 3'600'000'000), 0);
  EXPECT_GT(limiter.acquire(rule, t - 3'600'000'000), 0);
  EXPECT_EQ(limiter.acquire(rule, t - 3'600'000'000 + 5'000'000), 0);
}

TEST(RateLimiterTest, LocalLimiterStartsFullAtTimeZero) {
  // A monotonic clock may read 0; that is a time like any other, not "never used".
  LocalRateLimiter limiter;
  const RateRule rule{1, 10'000'000};
  EXPECT_EQ(limiter.acquire(rule, 0), 0);
  EXPECT_GT(limiter.acquire(rule, 1), 0);
}

TEST(RateLimiterTest, ASharedLimiterHandsOverWhatItAdmittedOnce) {
  RateLimiter limiter(5, 10'000'000);
  EXPECT_EQ(limiter.acquire("a", 0), 0);
  EXPECT_TRUE(limiter.take_admitted().empty());  // not shared: nothing is counted
  limiter.share();
  EXPECT_EQ(limiter.acquire("a", 0), 0);
  EXPECT_EQ(limiter.acquire("a", 0), 0);
  EXPECT_EQ(limiter.acquire("b", 0), 0);
  auto taken = limiter.take_admitted();
  std::sort(taken.begin(), taken.end());
  EXPECT_EQ(taken, (std::vector<std::pair<std::string, int>>{{"a", 2}, {"b", 1}}));
  EXPECT_TRUE(limiter.take_admitted().empty());
}

TEST(RateLimiterTest, ChargesFromOtherNodesTakeTokensDownToMinusOneBurst) {
  RateLimiter limiter(2, 10'000'000);  // one token every 5 s
  limiter.charge("a", 1);
  EXPECT_EQ(limiter.acquire("a", 0), 0);
  EXPECT_GT(limiter.acquire("a", 0), 0);
  // Far more than a burst charged: the key waits one window more at most, not for ever.
  limiter.charge("b", 1000);
  // From -2 tokens, one token is there after 15 s (3 tokens' refill), not before.
  EXPECT_GT(limiter.acquire("b", 14'990'000), 0);
  EXPECT_EQ(limiter.acquire("b", 15'000'100), 0);
  EXPECT_TRUE(limiter.take_admitted().empty());  // charges are not admissions
}

// Some limiters are fed wall time (microseconds since 1970), and the node that charges them
// has only its own clock: a charge must not put a bucket on another clock, where the next
// acquire would see decades pass and refill it, wiping the charge out.
TEST(RateLimiterTest, AChargeStaysInTheClockOfTheLimitersCallers) {
  RateLimiter limiter(2, 10'000'000);  // one token every 5 s
  const int64_t wall = 1'796'000'000'000'000;
  EXPECT_EQ(limiter.acquire("u", wall), 0);
  limiter.charge("u", 5);
  EXPECT_GT(limiter.acquire("u", wall + 1'000), 0);
  limiter.charge("fresh", 2);
  EXPECT_GT(limiter.acquire("fresh", wall + 2'000), 0);
  // Charged before the limiter was ever asked: the charge holds from the first ask on.
  RateLimiter idle(2, 10'000'000);
  idle.charge("u", 2);
  EXPECT_GT(idle.acquire("u", wall), 0);
}

TEST(SharedGaugeTest, CountsLocallyAndSumsWhatEachOtherNodeLastSaid) {
  SharedGauge gauge;
  gauge.add("u");
  gauge.add("u");
  gauge.remove("u");
  gauge.remove("v");  // never added: nothing happens
  EXPECT_EQ(gauge.local("u"), 1);
  auto changed = gauge.take_changed();
  EXPECT_EQ(changed, (std::vector<std::pair<std::string, int>>{{"u", 1}}));
  EXPECT_TRUE(gauge.take_changed().empty());
  gauge.set_remote("n1", "u", 3);
  gauge.set_remote("n2", "u", 2);
  gauge.set_remote("n1", "u", 1);  // a newer count replaces the older
  EXPECT_EQ(gauge.others("u"), 3);
  gauge.forget_node("n2");
  EXPECT_EQ(gauge.others("u"), 1);
  gauge.replace_node("n2", {{"u", 4}, {"w", 1}});  // a full report
  EXPECT_EQ(gauge.others("u"), 5);
  gauge.replace_node("n2", {{"w", 2}});
  EXPECT_EQ(gauge.others("u"), 1);
  EXPECT_EQ(gauge.others("w"), 2);
  gauge.forget_node("n2");
  gauge.set_remote("n1", "u", 0);
  EXPECT_EQ(gauge.others("u"), 0);
  EXPECT_EQ(gauge.others("w"), 0);
  EXPECT_EQ(gauge.local("u"), 1);
  gauge.remove("u");
  EXPECT_EQ(gauge.take_changed(), (std::vector<std::pair<std::string, int>>{{"u", 0}}));
  EXPECT_TRUE(gauge.snapshot().empty());
}

// Presence follows it: a key whose whole count (here and elsewhere) leaves or reaches zero by
// what the other nodes report is told once per crossing; reports that change nothing across
// zero, and this node's own changes, are not.
TEST(SharedGaugeTest, TellsWhenOtherNodesReportsTakeAKeyAcrossZero) {
  SharedGauge gauge;
  std::vector<std::pair<std::string, bool>> crossed;
  gauge.on_crossed_zero(
      [&](const std::string& key, bool above) { crossed.emplace_back(key, above); });
  using Seen = std::vector<std::pair<std::string, bool>>;
  gauge.add("mine");  // local: the caller's to notice
  gauge.set_remote("n1", "u", 1);
  EXPECT_EQ(crossed, (Seen{{"u", true}}));
  gauge.set_remote("n2", "u", 2);     // more of what was there
  gauge.set_remote("n1", "mine", 1);  // above zero already, here
  EXPECT_EQ(crossed, (Seen{{"u", true}}));
  gauge.set_remote("n1", "u", 0);
  gauge.forget_node("n2");  // the last of u goes with n2
  EXPECT_EQ(crossed, (Seen{{"u", true}, {"u", false}}));
  gauge.replace_node("n2", {{"w", 1}, {"x", 2}});
  gauge.replace_node("n2", {{"x", 1}});  // w gone, x still there
  EXPECT_EQ(crossed, (Seen{{"u", true}, {"u", false}, {"w", true}, {"x", true}, {"w", false}}));
  gauge.forget_node("n1");  // "mine" still has its local count
  EXPECT_EQ(crossed.size(), 5u);
}

}  // namespace
}  // namespace rwd
