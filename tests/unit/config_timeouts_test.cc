// The network's timeouts are settings: today's values by default, a flag or an environment
// variable to change them, and a value out of range stops start-up.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config_args.h"

namespace rwd {
namespace {

using rwd::testing::parse_args;

TEST(ConfigTimeoutsTest, DefaultsAreTheFormerFixedValues) {
  ConfigOutcome out = parse_args({});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->ws_handshake_timeout_s, 5);
  EXPECT_EQ(out.config->ws_close_grace_s, 5);
  EXPECT_EQ(out.config->http_write_timeout_s, 30);
  EXPECT_EQ(out.config->shutdown_timeout_s, 8);
}

TEST(ConfigTimeoutsTest, FlagsSetThem) {
  ConfigOutcome out = parse_args({"--ws-handshake-timeout", "7", "--ws-close-grace", "2",
                                  "--http-write-timeout", "60", "--shutdown-timeout", "20"});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->ws_handshake_timeout_s, 7);
  EXPECT_EQ(out.config->ws_close_grace_s, 2);
  EXPECT_EQ(out.config->http_write_timeout_s, 60);
  EXPECT_EQ(out.config->shutdown_timeout_s, 20);
}

TEST(ConfigTimeoutsTest, EnvironmentSetsThemAndTheFlagWins) {
  ::setenv("REWIND_WS_CLOSE_GRACE_S", "3", 1);
  ::setenv("REWIND_SHUTDOWN_TIMEOUT_S", "12", 1);
  ConfigOutcome out = parse_args({"--shutdown-timeout", "4"});
  ::unsetenv("REWIND_WS_CLOSE_GRACE_S");
  ::unsetenv("REWIND_SHUTDOWN_TIMEOUT_S");
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->ws_close_grace_s, 3);
  EXPECT_EQ(out.config->shutdown_timeout_s, 4);
}

TEST(ConfigTimeoutsTest, ZeroOrNegativeStopsStartUp) {
  for (const char* flag : {"--ws-handshake-timeout", "--ws-close-grace", "--http-write-timeout",
                           "--shutdown-timeout"}) {
    for (const char* value : {"0", "-1", "3601"}) {
      ConfigOutcome out = parse_args({flag, value});
      EXPECT_FALSE(out.config) << flag << " " << value;
      EXPECT_EQ(out.exit_code, 2) << flag << " " << value;
    }
  }
}

}  // namespace
}  // namespace rwd
