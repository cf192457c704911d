#include "base/time_format.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

constexpr int kKst = 9 * 3600;

TEST(TimeFormatTest, CreatedAtHasSixFractionDigitsInTheOffset) {
  // 2021-12-22T15:19:16.000880Z is 2021-12-23 00:19:16.000880 in UTC+9 (the seed's example).
  int64_t us = days_from_civil(2021, 12, 22) * 86400 * 1000000LL +
               (15 * 3600 + 19 * 60 + 16) * 1000000LL + 880;
  EXPECT_EQ(format_created_at(us, kKst), "2021-12-23 00:19:16.000880");
  EXPECT_EQ(format_created_at(us, 0), "2021-12-22 15:19:16.000880");
}

TEST(TimeFormatTest, Rfc3339IsUtcToTheMicrosecond) {
  int64_t us = days_from_civil(2021, 12, 22) * 86400 * 1000000LL +
               (15 * 3600 + 19 * 60 + 16) * 1000000LL + 880;
  EXPECT_EQ(format_utc_rfc3339(us), "2021-12-22T15:19:16.000880Z");
}

TEST(TimeFormatTest, ParsesTheAppsUnpaddedFormat) {
  auto us = parse_local_datetime("2026-3-7 09:05:01.4000", kKst);
  ASSERT_TRUE(us);
  EXPECT_EQ(format_created_at(*us, kKst), "2026-03-07 09:05:01.400000");
}

TEST(TimeFormatTest, ParsesTheSeedsFormatAndRoundTrips) {
  auto us = parse_local_datetime("2021-12-23 00:19:16.000880", kKst);
  ASSERT_TRUE(us);
  EXPECT_EQ(format_created_at(*us, kKst), "2021-12-23 00:19:16.000880");
}

TEST(TimeFormatTest, AcceptsMissingFractionAndTSeparator) {
  auto a = parse_local_datetime("2026-01-02T03:04:05", 0);
  auto b = parse_local_datetime(" 2026-1-2 3:4:5 ", 0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
}

TEST(TimeFormatTest, RejectsGarbageAndImpossibleDates) {
  for (const char* bad :
       {"", "yesterday", "2026-13-01 00:00:00", "2026-02-30 00:00:00", "2026-1-1 24:00:00",
        "2026-1-1 10:00:00.", "2026-1-1 10:00:00.5x", "99999-1-1 00:00:00"})
    EXPECT_FALSE(parse_local_datetime(bad, 0)) << bad;
}

TEST(TimeFormatTest, LeapDayIsAccepted) {
  EXPECT_TRUE(parse_local_datetime("2024-2-29 12:00:00", 0));
}

TEST(TimeFormatTest, UtcOffsetsParse) {
  EXPECT_EQ(parse_utc_offset("+09:00"), 9 * 3600);
  EXPECT_EQ(parse_utc_offset("-05:30"), -(5 * 3600 + 30 * 60));
  EXPECT_EQ(parse_utc_offset("+0900"), 9 * 3600);
  EXPECT_EQ(parse_utc_offset("Z"), 0);
  EXPECT_FALSE(parse_utc_offset("9"));
  EXPECT_FALSE(parse_utc_offset("+25:00"));
  EXPECT_FALSE(parse_utc_offset("+09:00junk"));
}

}  // namespace
}  // namespace rwd
