#include "store/storage_health.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace rwd::store {
namespace {

class ManualClock final : public Clock {
 public:
  int64_t now_us() const override { return now_; }
  void advance_s(double s) { now_ += static_cast<int64_t>(s * 1e6); }

 private:
  int64_t now_ = 1'000'000'000;
};

class StorageHealthTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  std::vector<std::pair<bool, std::string>> lines_;
  StorageHealth health_{
      "write", "writable", clock_, 10'000'000,
      [this](bool is_error, const std::string& line) { lines_.emplace_back(is_error, line); }};
};

TEST_F(StorageHealthTest, TheFirstFailureIsLoggedAtOnceWithItsCause) {
  health_.failed(1, "storing a message: database or disk is full (SQLITE_FULL)");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_TRUE(lines_[0].first);
  EXPECT_NE(lines_[0].second.find("database or disk is full (SQLITE_FULL)"), std::string::npos);
  EXPECT_TRUE(health_.failing());
  EXPECT_EQ(health_.failures(), 1u);
}

TEST_F(StorageHealthTest, ManyFailuresMakeOneLinePerIntervalWithTheirCount) {
  health_.failed(1, "first");
  for (int i = 0; i < 99; ++i) {
    clock_.advance_s(0.1);  // 99 failures over 9.9 s: inside the interval
    health_.failed(1, "cause " + std::to_string(i));
  }
  EXPECT_EQ(lines_.size(), 1u);
  clock_.advance_s(0.2);
  health_.failed(2, "the latest cause");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_TRUE(lines_[1].first);
  // 99 + 2 since the first line, 102 in the whole outage.
  EXPECT_NE(lines_[1].second.find("101 refused in the last 10.1 s"), std::string::npos)
      << lines_[1].second;
  EXPECT_NE(lines_[1].second.find("102 since the outage began"), std::string::npos)
      << lines_[1].second;
  EXPECT_NE(lines_[1].second.find("the latest cause"), std::string::npos);
  clock_.advance_s(1);
  health_.failed(1, "again");
  EXPECT_EQ(lines_.size(), 2u);
  EXPECT_EQ(health_.failures(), 103u);
}

TEST_F(StorageHealthTest, RecoveryIsLoggedOnceWithTheOutagesCount) {
  health_.succeeded();
  EXPECT_TRUE(lines_.empty());  // nothing to recover from
  health_.failed(3, "full");
  clock_.advance_s(2);
  health_.failed(4, "full");
  clock_.advance_s(1.5);
  health_.succeeded();
  health_.succeeded();
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_FALSE(lines_[1].first);
  EXPECT_EQ(lines_[1].second, "storage writable again after 7 failed writes over 3.5 s");
  EXPECT_FALSE(health_.failing());
  // A new outage starts over and is logged at once; the counter keeps the total.
  health_.failed(1, "io");
  ASSERT_EQ(lines_.size(), 3u);
  EXPECT_TRUE(lines_[2].first);
  health_.succeeded();
  EXPECT_EQ(lines_.back().second, "storage writable again after 1 failed write over 0.0 s");
  EXPECT_EQ(health_.failures(), 8u);
}

}  // namespace
}  // namespace rwd::store
