// The access log's records (log/access_log.h) and the targets they show
// (http/loggable_target.h): structured fields in both formats, one line each, and no secret
// from a verification link or a query.
#include "log/access_log.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "http/loggable_target.h"

namespace rwd {
namespace {

using http::loggable_target;

TEST(LoggableTargetTest, TheVerificationKeyIsRedacted) {
  EXPECT_EQ(loggable_target("/api/v1/auth/email_verify/Zm9vYmFyLXNlY3JldC1rZXk"),
            "/api/v1/auth/email_verify/redacted");
  EXPECT_EQ(loggable_target("/api/v1/auth/email_verify/abc?lang=ja"),
            "/api/v1/auth/email_verify/redacted?lang=redacted");
}

TEST(LoggableTargetTest, PathsWithoutSecretsAreKept) {
  EXPECT_EQ(loggable_target("/api/v1/auth/login"), "/api/v1/auth/login");
  EXPECT_EQ(loggable_target("/"), "/");
  EXPECT_EQ(loggable_target("/assets/app.js"), "/assets/app.js");
}

TEST(LoggableTargetTest, QueryValuesAreRedactedButTheProtocolVersion) {
  EXPECT_EQ(loggable_target("/ws?v=2"), "/ws?v=2");
  EXPECT_EQ(loggable_target("/x?token=s3cr3t&v=1&key=k"), "/x?token=redacted&v=1&key=redacted");
  EXPECT_EQ(loggable_target("/x?v=a-long-secret-value"), "/x?v=redacted");
  EXPECT_EQ(loggable_target("/x?"), "/x?");
}

TEST(LoggableTargetTest, ParametersThatMayBeSecretsThemselvesAreRedactedWhole) {
  EXPECT_EQ(loggable_target("/x?abcdef0123456789"), "/x?redacted");
  EXPECT_EQ(loggable_target("/x?a%20b=1"), "/x?redacted");
  std::string long_name(40, 'a');
  EXPECT_EQ(loggable_target("/x?" + long_name + "=1"), "/x?redacted");
}

TEST(LoggableTargetTest, ALongTargetIsCut) {
  std::string path = "/" + std::string(5000, 'p');
  std::string query;
  for (int i = 0; i < 100; ++i) query += "a=1&";
  std::string out = loggable_target(path + "?" + query);
  EXPECT_LT(out.size(), 1800u);
  EXPECT_NE(out.find("...?"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 3), "...");
}

log::HttpAccess sample_http() {
  log::HttpAccess a;
  a.method = "GET";
  a.target = "/a \"quoted\"\npath";
  a.client = "203.0.113.7";
  a.status = 404;
  a.request_bytes = 120;
  a.response_bytes = 345;
  a.duration_us = 1'234;
  return a;
}

TEST(AccessLogTest, AnHttpRecordInJsonHasStructuredFields) {
  std::string fields = log::format_http_access(sample_http(), log::LogFormat::kJson);
  rapidjson::Document doc;
  std::string object = "{" + fields + "}";
  doc.Parse(object.c_str());
  ASSERT_FALSE(doc.HasParseError()) << object;
  EXPECT_STREQ(doc["msg"].GetString(), "http");
  EXPECT_STREQ(doc["method"].GetString(), "GET");
  EXPECT_STREQ(doc["path"].GetString(), "/a \"quoted\"\npath");
  EXPECT_EQ(doc["status"].GetInt(), 404);
  EXPECT_STREQ(doc["client"].GetString(), "203.0.113.7");
  EXPECT_DOUBLE_EQ(doc["duration_ms"].GetDouble(), 1.234);
  EXPECT_EQ(doc["request_bytes"].GetInt(), 120);
  EXPECT_EQ(doc["response_bytes"].GetInt(), 345);
}

TEST(AccessLogTest, AnHttpRecordInTextIsNamedPairsOnOneLine) {
  std::string text = log::format_http_access(sample_http(), log::LogFormat::kText);
  EXPECT_EQ(text,
            "access http method=\"GET\" path=\"/a \\\"quoted\\\"\\npath\" status=404 "
            "client=\"203.0.113.7\" duration_ms=1.234 request_bytes=120 response_bytes=345");
}

TEST(AccessLogTest, AWebSocketRecordHasTheCloseCodeBytesAndFrames) {
  log::WsAccess a;
  a.client = "::1";
  a.protocol_version = 2;
  a.close_code = 4004;
  a.close_by = "server";
  a.duration_us = 2'500'000;
  a.bytes_in = 10;
  a.bytes_out = 20;
  a.frames_in = 1;
  a.frames_out = 2;
  std::string object = "{" + log::format_ws_access(a, log::LogFormat::kJson) + "}";
  rapidjson::Document doc;
  doc.Parse(object.c_str());
  ASSERT_FALSE(doc.HasParseError()) << object;
  EXPECT_STREQ(doc["msg"].GetString(), "ws");
  EXPECT_EQ(doc["version"].GetInt(), 2);
  EXPECT_EQ(doc["close_code"].GetInt(), 4004);
  EXPECT_STREQ(doc["close_by"].GetString(), "server");
  EXPECT_FALSE(doc["cut"].GetBool());
  EXPECT_DOUBLE_EQ(doc["duration_ms"].GetDouble(), 2500.0);
  EXPECT_EQ(doc["bytes_in"].GetInt(), 10);
  EXPECT_EQ(doc["bytes_out"].GetInt(), 20);
  EXPECT_EQ(doc["frames_in"].GetInt(), 1);
  EXPECT_EQ(doc["frames_out"].GetInt(), 2);
  EXPECT_EQ(log::format_ws_access(a, log::LogFormat::kText),
            "access ws path=\"/ws\" version=2 close_code=4004 close_by=\"server\" cut=false "
            "client=\"::1\" duration_ms=2500.000 bytes_in=10 bytes_out=20 frames_in=1 "
            "frames_out=2");
  a.cut = true;
  EXPECT_NE(log::format_ws_access(a, log::LogFormat::kText).find(" cut=true "), std::string::npos);
}

TEST(AccessLogTest, WithoutTheLoggerNothingIsWritten) {
  // start_logging() was not called in this process: records are dropped, not crashed on.
  EXPECT_FALSE(log::access_log_enabled());
  log::log_http_access(sample_http());
}

}  // namespace
}  // namespace rwd
