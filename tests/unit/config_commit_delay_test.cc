// The embedded store's commit window is a setting: 1 ms by default, a flag or an environment
// variable to change it (0 turns it off), and a value out of range stops start-up.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "config/config.h"
#include "config_args.h"

namespace rwd {
namespace {

using rwd::testing::parse_args;

TEST(ConfigCommitDelayTest, DefaultIsOneMillisecond) {
  ConfigOutcome out = parse_args({});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->commit_delay_us, 1000);
}

TEST(ConfigCommitDelayTest, FlagAndEnvironmentSetItAndZeroTurnsItOff) {
  ConfigOutcome flag = parse_args({"--commit-delay-us", "0"});
  ASSERT_TRUE(flag.config);
  EXPECT_EQ(flag.config->commit_delay_us, 0);
  ::setenv("REWIND_COMMIT_DELAY_US", "250", 1);
  ConfigOutcome env = parse_args({});
  ::unsetenv("REWIND_COMMIT_DELAY_US");
  ASSERT_TRUE(env.config);
  EXPECT_EQ(env.config->commit_delay_us, 250);
}

TEST(ConfigCommitDelayTest, NegativeOrOverATenthOfASecondStopsStartUp) {
  for (const char* value : {"-1", "100001", "soon"}) {
    ConfigOutcome out = parse_args({"--commit-delay-us", value});
    EXPECT_FALSE(out.config) << value;
    EXPECT_EQ(out.exit_code, 2) << value;
  }
}

}  // namespace
}  // namespace rwd
