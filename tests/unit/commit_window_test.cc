// When a store's writer holds a batch open for more writes (CommitWindow), with time given by
// hand.
#include "store/commit_window.h"

#include <gtest/gtest.h>

#include <chrono>

namespace rwd::store {
namespace {

using std::chrono::microseconds;
using std::chrono::nanoseconds;
using TimePoint = CommitWindow::Clock::time_point;

class CommitWindowTest : public ::testing::Test {
 protected:
  // `n` writes, one every `every`, from now on; returns the time of the last.
  TimePoint queue_writes(CommitWindow& w, int n, microseconds every) {
    for (int i = 0; i < n; ++i) {
      now_ += every;
      w.write_queued(now_);
    }
    return now_;
  }

  TimePoint now_ = TimePoint{} + std::chrono::hours(1);
};

TEST_F(CommitWindowTest, ABoundOfZeroHoldsNothing) {
  CommitWindow w(0);
  EXPECT_FALSE(w.enabled());
  queue_writes(w, 100, microseconds(100));
  w.commit_ended(now_);
  EXPECT_EQ(w.hold_at(now_ + microseconds(10), 1), nanoseconds(0));
}

// The first writes after start (or after a quiet spell) go at once: their pace is unknown.
TEST_F(CommitWindowTest, AFirstWriteIsCommittedAtOnce) {
  CommitWindow w(1000);
  EXPECT_TRUE(w.enabled());
  w.write_queued(now_);
  w.commit_ended(now_);
  EXPECT_EQ(w.hold_at(now_ + microseconds(10), 1), nanoseconds(0));
}

// Writes that keep coming: a batch is held for about two more (twice the time between them).
TEST_F(CommitWindowTest, WritesThatKeepComingHoldABatchForTwiceTheirPace) {
  CommitWindow w(1000);
  queue_writes(w, 100, microseconds(100));
  w.commit_ended(now_);
  auto held = w.hold_at(now_ + microseconds(10), 1);
  EXPECT_GT(held, microseconds(190));
  EXPECT_LE(held, microseconds(210));
}

TEST_F(CommitWindowTest, TheWindowNeverExceedsItsBound) {
  CommitWindow w(1000);
  queue_writes(w, 100, microseconds(700));
  w.commit_ended(now_);
  EXPECT_EQ(w.hold_at(now_ + microseconds(10), 1), microseconds(1000));
}

// Writes rarer than one per bound: the next one would not come in time, so none waits.
TEST_F(CommitWindowTest, WritesRarerThanTheBoundAreNotHeld) {
  CommitWindow w(1000);
  queue_writes(w, 100, microseconds(1500));
  w.commit_ended(now_);
  EXPECT_EQ(w.hold_at(now_ + microseconds(10), 1), nanoseconds(0));
}

// A write that comes when the writer has been idle for longer than a window is the first of
// a new burst (or an occasional message): it pays nothing.
TEST_F(CommitWindowTest, AWriteLongAfterTheLastCommitIsNotHeld) {
  CommitWindow w(1000);
  queue_writes(w, 100, microseconds(100));
  w.commit_ended(now_);
  EXPECT_EQ(w.hold_at(now_ + microseconds(250), 1), nanoseconds(0));
}

// A quiet hour counts as a second: a few dozen writes at the new pace bring the window back.
TEST_F(CommitWindowTest, AQuietSpellIsForgottenAfterAFewDozenWrites) {
  CommitWindow w(1000);
  queue_writes(w, 100, microseconds(100));
  now_ += std::chrono::hours(1);
  w.write_queued(now_);
  w.commit_ended(now_);
  EXPECT_EQ(w.hold_at(now_ + microseconds(10), 1), nanoseconds(0)) << "held after a quiet hour";
  queue_writes(w, 40, microseconds(100));
  w.commit_ended(now_);
  EXPECT_GT(w.hold_at(now_ + microseconds(10), 1), nanoseconds(0));
}

// Writes coming faster than commits end group by themselves: a batch that already holds what
// a hold would wait for is committed at once, whatever the pace.
TEST_F(CommitWindowTest, ABatchThatHoldsSeveralWritesAlreadyIsNotHeld) {
  CommitWindow w(1000);
  queue_writes(w, 100, microseconds(100));
  w.commit_ended(now_);
  EXPECT_GT(w.hold_at(now_ + microseconds(10), CommitWindow::kGroupedAlready - 1), nanoseconds(0));
  EXPECT_EQ(w.hold_at(now_ + microseconds(10), CommitWindow::kGroupedAlready), nanoseconds(0));
  EXPECT_EQ(w.hold_at(now_ + microseconds(10), 50), nanoseconds(0));
}

}  // namespace
}  // namespace rwd::store
