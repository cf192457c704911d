#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rwd {

// Parses "+09:00", "-05:30", "+0900", "Z" or "UTC" into seconds east of UTC.
std::optional<int> parse_utc_offset(std::string_view text);

// Formats unix microseconds as "%Y-%m-%d %H:%M:%S.%f" (six fraction digits) in the given
// UTC offset: the created_at format of chat events.
std::string format_created_at(int64_t unix_us, int offset_seconds);

// Formats unix microseconds as RFC 3339 in UTC, to the microsecond:
// "2026-12-02T09:05:01.400000Z" (the times of the account and session APIs).
std::string format_utc_rfc3339(int64_t unix_us);

// Parses a local date-time leniently and returns unix microseconds, reading it in the
// given UTC offset. Accepts both the seed's "%Y-%m-%d %H:%M:%S.%f" and the app's
// "yyyy-M-d HH:mm:ss.S000" (month, day, hour, minute, second not zero padded; any number of
// fraction digits, read as a decimal fraction; the fraction is optional), with ' ' or 'T'
// between date and time, and surrounding white space.
std::optional<int64_t> parse_local_datetime(std::string_view text, int offset_seconds);

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);

}  // namespace rwd
