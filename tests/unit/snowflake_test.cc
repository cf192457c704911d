#include "base/snowflake.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace rwd {
namespace {

TEST(SnowflakeTest, IdsArePositiveAndCarryTimeAndWorker) {
  SnowflakeGenerator gen(37);
  int64_t ms = 1764000000000;  // 2025-11
  int64_t id = gen.next_at_ms(ms);
  EXPECT_GT(id, 0);
  EXPECT_EQ(SnowflakeGenerator::unix_ms_of(id), ms);
  EXPECT_EQ(SnowflakeGenerator::worker_of(id), 37);
}

TEST(SnowflakeTest, IdsIncreaseWithinOneMillisecond) {
  SnowflakeGenerator gen(0);
  int64_t prev = gen.next_at_ms(1764000000000);
  for (int i = 0; i < 10000; ++i) {
    int64_t id = gen.next_at_ms(1764000000000);
    ASSERT_GT(id, prev);
    prev = id;
  }
}

TEST(SnowflakeTest, ClockGoingBackwardsNeverRepeatsAnId) {
  SnowflakeGenerator gen(1);
  int64_t a = gen.next_at_ms(1764000001000);
  int64_t b = gen.next_at_ms(1764000000000);  // one second earlier
  EXPECT_GT(b, a);
}

TEST(SnowflakeTest, DifferentWorkersNeverCollide) {
  SnowflakeGenerator g1(1), g2(2);
  std::set<int64_t> ids;
  for (int i = 0; i < 1000; ++i) {
    ids.insert(g1.next_at_ms(1764000000000));
    ids.insert(g2.next_at_ms(1764000000000));
  }
  EXPECT_EQ(ids.size(), 2000u);
}

TEST(SnowflakeTest, ConcurrentCallersGetUniqueIds) {
  SnowflakeGenerator gen(5);
  std::vector<std::vector<int64_t>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& v : per_thread)
    threads.emplace_back([&gen, &v] {
      for (int i = 0; i < 20000; ++i) v.push_back(gen.next());
    });
  for (auto& t : threads) t.join();
  std::set<int64_t> all;
  for (auto& v : per_thread) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), 80000u);
}

}  // namespace
}  // namespace rwd
