// --log-format / REWIND_LOG_FORMAT and --access-log / REWIND_ACCESS_LOG: text and the access
// log by default; any format but text or json stops start-up with a line naming the flag.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config_args.h"
#include "log/logging.h"

namespace rwd {
namespace {

using rwd::testing::parse_args;

TEST(ConfigLogFormatTest, TextAndTheAccessLogByDefault) {
  ConfigOutcome out = parse_args({});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->log_format, "text");
  EXPECT_TRUE(out.config->access_log);
}

TEST(ConfigLogFormatTest, FlagAndEnvironmentChooseJsonAndTurnTheAccessLogOff) {
  ::setenv("REWIND_LOG_FORMAT", "json", 1);
  ::setenv("REWIND_ACCESS_LOG", "false", 1);
  ConfigOutcome from_env = parse_args({});
  ConfigOutcome from_flag = parse_args({"--log-format", "text", "--access-log", "true"});
  ::unsetenv("REWIND_LOG_FORMAT");
  ::unsetenv("REWIND_ACCESS_LOG");
  ASSERT_TRUE(from_env.config);
  EXPECT_EQ(from_env.config->log_format, "json");
  EXPECT_FALSE(from_env.config->access_log);
  ASSERT_TRUE(from_flag.config);
  EXPECT_EQ(from_flag.config->log_format, "text");
  EXPECT_TRUE(from_flag.config->access_log);
  log::LogFormat format = log::LogFormat::kText;
  EXPECT_TRUE(log::parse_log_format(from_env.config->log_format, format));
  EXPECT_EQ(format, log::LogFormat::kJson);
}

TEST(ConfigLogFormatTest, AnotherFormatStopsStartUpNamingTheFlag) {
  ::testing::internal::CaptureStderr();
  ConfigOutcome out = parse_args({"--log-format", "logfmt"});
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(out.config);
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(err.find("--log-format / REWIND_LOG_FORMAT"), std::string::npos) << err;
  log::LogFormat format;
  EXPECT_FALSE(log::parse_log_format("JSON", format));
}

}  // namespace
}  // namespace rwd
