#include "net/deadline_wheel.h"

#include <gtest/gtest.h>

namespace rwd::net {
namespace {

constexpr int64_t kSlot = DeadlineWheel::kSlotUs;
constexpr int64_t kStart = 1'000'000'000'000;  // any clock origin

TEST(DeadlineWheel, FiresOnlyOnceDueAndAtMostTwoSlotsLate) {
  DeadlineWheel wheel;
  DeadlineHook hook;
  EXPECT_TRUE(wheel.take_due(kStart).empty());
  int64_t due = kStart + 3 * kSlot + kSlot / 2;
  wheel.schedule(hook, due);
  for (int64_t now = kStart + kSlot; now < due; now += kSlot / 4)
    EXPECT_TRUE(wheel.take_due(now).empty()) << now - kStart;
  std::vector<DeadlineHook*> fired;
  int64_t now = due;
  while (fired.empty() && now <= due + 2 * kSlot) fired = wheel.take_due(now += kSlot / 4);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], &hook);
  EXPECT_FALSE(hook.linked());
  EXPECT_TRUE(wheel.take_due(now + 10 * kSlot).empty());
}

TEST(DeadlineWheel, CancelledAndRescheduledDeadlines) {
  DeadlineWheel wheel;
  DeadlineHook a, b;
  wheel.take_due(kStart);
  wheel.schedule(a, kStart + kSlot);
  wheel.schedule(b, kStart + kSlot);
  wheel.cancel(a);
  wheel.cancel(a);                         // twice is harmless
  wheel.schedule(b, kStart + 10 * kSlot);  // moved later
  EXPECT_TRUE(wheel.take_due(kStart + 5 * kSlot).empty());
  auto fired = wheel.take_due(kStart + 12 * kSlot);
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0], &b);
}

TEST(DeadlineWheel, DeadlineBeyondOneTurnWaitsForItsTime) {
  DeadlineWheel wheel;
  DeadlineHook hook;
  wheel.take_due(kStart);
  int64_t turn = static_cast<int64_t>(DeadlineWheel::kSlots) * kSlot;
  int64_t due = kStart + turn + 5 * kSlot;  // shares a slot with kStart + 5 slots
  wheel.schedule(hook, due);
  int64_t now = kStart;
  for (; now < due; now += kSlot) ASSERT_TRUE(wheel.take_due(now).empty()) << now - kStart;
  auto fired = wheel.take_due(now + 2 * kSlot);
  ASSERT_EQ(fired.size(), 1u);
}

TEST(DeadlineWheel, PastDeadlineAndLongStallStillFire) {
  DeadlineWheel wheel;
  DeadlineHook past, soon;
  wheel.take_due(kStart);
  wheel.take_due(kStart + 10 * kSlot);
  wheel.schedule(past, kStart);  // already passed: the next sweep takes it
  wheel.schedule(soon, kStart + 11 * kSlot);
  // The loop stalled for several turns: one sweep still finds both.
  auto fired = wheel.take_due(kStart + 3 * static_cast<int64_t>(DeadlineWheel::kSlots) * kSlot);
  EXPECT_EQ(fired.size(), 2u);
}

}  // namespace
}  // namespace rwd::net
