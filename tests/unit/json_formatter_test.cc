// The JSON log format (log/json_formatter.h): one object per line whatever the message holds,
// with the time in RFC 3339 UTC, the level, the logger and the message or the access fields.
#include "log/json_formatter.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <string>

namespace rwd::log {
namespace {

// Logs `message` through a logger named `name` with the JSON formatter; returns the output.
std::string log_one(std::string_view message, JsonPayload payload = JsonPayload::kMessage,
                    const std::string& name = "rewind") {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out);
  spdlog::logger logger(name, sink);
  logger.set_formatter(std::make_unique<JsonFormatter>(payload));
  logger.warn(message);
  logger.flush();
  return out.str();
}

rapidjson::Document parse_line(const std::string& line) {
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  EXPECT_FALSE(doc.HasParseError()) << line;
  return doc;
}

std::string escaped(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

TEST(JsonFormatterTest, ARecordIsOneObjectOnOneLineWithTimeLevelLoggerAndMessage) {
  std::string line = log_one("listening on http://127.0.0.1:8080");
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  auto doc = parse_line(line);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_STREQ(doc["level"].GetString(), "warning");
  EXPECT_STREQ(doc["logger"].GetString(), "rewind");
  EXPECT_STREQ(doc["msg"].GetString(), "listening on http://127.0.0.1:8080");
  EXPECT_TRUE(doc["thread"].IsUint64());
  std::string time = doc["time"].GetString();
  // 2026-01-02T03:04:05.123456Z
  ASSERT_EQ(time.size(), 27u) << time;
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time[19], '.');
  EXPECT_EQ(time.back(), 'Z');
}

TEST(JsonFormatterTest, NewlinesQuotesAndControlCharactersInAMessageStayInsideTheLine) {
  std::string message = "a\nb\r\"c\"\\d\te\x01\x1f\x7f{}";
  std::string line = log_one(message);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  auto doc = parse_line(line);
  EXPECT_EQ(std::string(doc["msg"].GetString(), doc["msg"].GetStringLength()), message);
}

TEST(JsonFormatterTest, InvalidUtf8BecomesTheReplacementCharacter) {
  EXPECT_EQ(escaped("a\xff"
                    "b"),
            "a\\ufffdb");
  EXPECT_EQ(escaped("\xc3"), "\\ufffd");                                   // cut short
  EXPECT_EQ(escaped("\xc0\xaf"), "\\ufffd\\ufffd");                        // overlong '/'
  EXPECT_EQ(escaped("\xed\xa0\x80"), "\\ufffd\\ufffd\\ufffd");             // a surrogate
  EXPECT_EQ(escaped("\xf4\x90\x80\x80"), "\\ufffd\\ufffd\\ufffd\\ufffd");  // past U+10FFFF
  std::string line = log_one("name \xfe\xff end");
  auto doc = parse_line(line);
  EXPECT_STREQ(doc["msg"].GetString(), "name \xef\xbf\xbd\xef\xbf\xbd end");
}

TEST(JsonFormatterTest, ValidUtf8IsKeptAndLineSeparatorsAreEscaped) {
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
  EXPECT_EQ(escaped("a\xe2\x80\xa8"
                    "b\xe2\x80\xa9"),
            "a\\u2028b\\u2029");
}

TEST(JsonFormatterTest, AFieldsPayloadBecomesMembersOfTheObject) {
  std::string line = log_one("\"msg\":\"http\",\"status\":200", JsonPayload::kFields, "access");
  auto doc = parse_line(line);
  EXPECT_STREQ(doc["logger"].GetString(), "access");
  EXPECT_STREQ(doc["msg"].GetString(), "http");
  EXPECT_EQ(doc["status"].GetInt(), 200);
}

TEST(JsonFormatterTest, TimeIsUtcWithMicroseconds) {
  using namespace std::chrono;
  system_clock::time_point t{seconds(1'700'000'000) + microseconds(42)};
  EXPECT_EQ(rfc3339_utc(t), "2023-11-14T22:13:20.000042Z");
}

}  // namespace
}  // namespace rwd::log
