#include "base/time_format.h"

#include <cctype>
#include <cstdio>

namespace rwd {

namespace {

struct Civil {
  int64_t y;
  unsigned m, d;
};

Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Reads 1..max_digits digits; returns false when there is none.
bool read_number(std::string_view s, size_t& pos, int max_digits, int64_t& out) {
  size_t start = pos;
  out = 0;
  while (pos < s.size() && pos - start < static_cast<size_t>(max_digits) &&
         std::isdigit(static_cast<unsigned char>(s[pos]))) {
    out = out * 10 + (s[pos] - '0');
    ++pos;
  }
  return pos > start;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos < s.size() && s[pos] == c) {
    ++pos;
    return true;
  }
  return false;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::optional<int> parse_utc_offset(std::string_view t) {
  if (t == "Z" || t == "UTC" || t == "utc") return 0;
  if (t.size() < 3 || (t[0] != '+' && t[0] != '-')) return std::nullopt;
  int sign = t[0] == '-' ? -1 : 1;
  size_t pos = 1;
  int64_t h = 0, m = 0;
  if (!read_number(t, pos, 2, h) || pos != 3) return std::nullopt;
  if (pos < t.size()) {
    expect(t, pos, ':');
    if (!read_number(t, pos, 2, m) || pos != t.size()) return std::nullopt;
  }
  if (h > 14 || m > 59) return std::nullopt;
  return sign * static_cast<int>(h * 3600 + m * 60);
}

std::string format_created_at(int64_t unix_us, int offset_seconds) {
  int64_t local_us = unix_us + static_cast<int64_t>(offset_seconds) * 1000000;
  int64_t secs = floor_div(local_us, 1000000);
  int64_t frac = local_us - secs * 1000000;
  int64_t days = floor_div(secs, 86400);
  int64_t sod = secs - days * 86400;
  Civil c = civil_from_days(days);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld.%06lld",
                static_cast<long long>(c.y), c.m, c.d, static_cast<long long>(sod / 3600),
                static_cast<long long>(sod / 60 % 60), static_cast<long long>(sod % 60),
                static_cast<long long>(frac));
  return buf;
}

std::string format_utc_rfc3339(int64_t unix_us) {
  std::string t = format_created_at(unix_us, 0);
  if (auto space = t.find(' '); space != std::string::npos) t[space] = 'T';
  return t + "Z";
}

std::optional<int64_t> parse_local_datetime(std::string_view s, int offset_seconds) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '\0'))
    s.remove_suffix(1);
  size_t pos = 0;
  int64_t y, mo, d, h = 0, mi = 0, sec = 0;
  if (!read_number(s, pos, 4, y) || !expect(s, pos, '-') || !read_number(s, pos, 2, mo) ||
      !expect(s, pos, '-') || !read_number(s, pos, 2, d))
    return std::nullopt;
  if (pos < s.size()) {
    if (!expect(s, pos, ' ') && !expect(s, pos, 'T')) return std::nullopt;
    if (!read_number(s, pos, 2, h) || !expect(s, pos, ':') || !read_number(s, pos, 2, mi))
      return std::nullopt;
    if (expect(s, pos, ':') && !read_number(s, pos, 2, sec)) return std::nullopt;
  }
  int64_t frac_us = 0;
  if (expect(s, pos, '.')) {
    int digits = 0;
    size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (digits < 6) frac_us = frac_us * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (pos == start) return std::nullopt;
    for (int i = digits; i < 6; ++i) frac_us *= 10;
  }
  if (pos != s.size()) return std::nullopt;
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
      d > days_in_month(y, static_cast<unsigned>(mo)) || h > 23 || mi > 59 || sec > 60)
    return std::nullopt;
  int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  int64_t local_s = days * 86400 + h * 3600 + mi * 60 + sec;
  return (local_s - offset_seconds) * 1000000 + frac_us;
}

}  // namespace rwd
