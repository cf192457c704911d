// Who copies the WAL back and when (WalCheckpointPolicy), with WAL sizes given by hand; the
// SQLite store's tests run it against a real WAL.
#include "store/sqlite/wal_checkpoint_policy.h"

#include <gtest/gtest.h>

namespace rwd::store {
namespace {

using Step = WalCheckpointPolicy::Step;

TEST(WalCheckpointPolicyTest, BelowTheThresholdNobodyCopies) {
  WalCheckpointPolicy policy(4000);
  for (int pages = 1; pages < 4000; pages += 7) EXPECT_EQ(policy.after_commit(pages), Step::kNone);
}

TEST(WalCheckpointPolicyTest, PastTheThresholdTheThreadIsAskedUntilItHasRun) {
  WalCheckpointPolicy policy(4000);
  EXPECT_EQ(policy.after_commit(4000), Step::kAskThread);
  EXPECT_EQ(policy.after_commit(4010), Step::kAskThread);
}

TEST(WalCheckpointPolicyTest, TheWriterCopiesTheFewPagesCommittedDuringTheThreadsRun) {
  WalCheckpointPolicy policy(4000);
  policy.after_commit(4000);
  policy.thread_copied(policy.generation(), 4000);
  EXPECT_EQ(policy.after_commit(4000 + 500), Step::kCopyRestInCommit);  // 4000 / 8 left
}

TEST(WalCheckpointPolicyTest, MorePagesCommittedDuringTheRunAskTheThreadAgain) {
  WalCheckpointPolicy policy(4000);
  policy.after_commit(4000);
  policy.thread_copied(policy.generation(), 4000);
  EXPECT_EQ(policy.after_commit(4000 + 501), Step::kAskThread);
  policy.thread_copied(policy.generation(), 4501);  // the next run copies less, and catches up
  EXPECT_EQ(policy.after_commit(4600), Step::kCopyRestInCommit);
}

// Once the WAL started over, what the thread copied of the previous one is no reason for the
// writer to copy the new one inside a commit: that would be the whole WAL.
TEST(WalCheckpointPolicyTest, WhatTheThreadCopiedOfAnEarlierWalCountsForNothing) {
  WalCheckpointPolicy policy(4000);
  policy.after_commit(4100);
  policy.thread_copied(policy.generation(), 4100);  // all of it: the WAL starts over
  EXPECT_EQ(policy.after_commit(3), Step::kNone);
  for (int pages = 10; pages < 4000; pages += 10) policy.after_commit(pages);
  EXPECT_EQ(policy.after_commit(4000), Step::kAskThread);
  EXPECT_EQ(policy.after_commit(4100), Step::kAskThread);
}

// A run that began on the old WAL and reports after the writer saw the new one.
TEST(WalCheckpointPolicyTest, ARunReportedAfterTheWalStartedOverCountsForNothing) {
  WalCheckpointPolicy policy(4000);
  policy.after_commit(4100);
  uint32_t generation = policy.generation();
  EXPECT_EQ(policy.after_commit(2), Step::kNone);  // started over meanwhile
  policy.thread_copied(generation, 4100);
  for (int pages = 10; pages < 4000; pages += 10) policy.after_commit(pages);
  EXPECT_EQ(policy.after_commit(4050), Step::kAskThread);
}

TEST(WalCheckpointPolicyTest, AWalFourTimesTheThresholdIsCopiedByTheWriter) {
  WalCheckpointPolicy policy(4000);
  EXPECT_EQ(policy.after_commit(15'999), Step::kAskThread);
  EXPECT_EQ(policy.after_commit(16'000), Step::kCopyAllInCommit);
  policy.thread_copied(policy.generation(), 100);
  EXPECT_EQ(policy.after_commit(16'100), Step::kCopyAllInCommit);
}

TEST(WalCheckpointPolicyTest, ATinyThresholdStillLeavesTheWriterAPage) {
  WalCheckpointPolicy policy(5);
  policy.after_commit(5);
  policy.thread_copied(policy.generation(), 5);
  EXPECT_EQ(policy.after_commit(6), Step::kCopyRestInCommit);
  policy.thread_copied(policy.generation(), 5);
  EXPECT_EQ(policy.after_commit(7), Step::kAskThread);
}

}  // namespace
}  // namespace rwd::store
