// --redis-url / REWIND_REDIS_URL: unset by default (one process); a bad value stops start-up
// with a line naming the flag and the part at fault.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "config/config.h"
#include "config_args.h"

namespace rwd {
namespace {

using rwd::testing::parse_args;

TEST(ConfigRedisUrlTest, UnsetByDefault) {
  ConfigOutcome out = parse_args({});
  ASSERT_TRUE(out.config);
  EXPECT_EQ(out.config->redis_url, "");
}

TEST(ConfigRedisUrlTest, FlagAndEnvironmentSetItAndTheFlagWins) {
  ::setenv("REWIND_REDIS_URL", "redis://10.0.0.5:6379", 1);
  ConfigOutcome from_env = parse_args({});
  ConfigOutcome from_flag = parse_args({"--redis-url", "redis://127.0.0.1:7000/1"});
  ::unsetenv("REWIND_REDIS_URL");
  ASSERT_TRUE(from_env.config);
  EXPECT_EQ(from_env.config->redis_url, "redis://10.0.0.5:6379");
  ASSERT_TRUE(from_flag.config);
  EXPECT_EQ(from_flag.config->redis_url, "redis://127.0.0.1:7000/1");
}

TEST(ConfigRedisUrlTest, ABadUrlStopsStartUpNamingTheFlag) {
  ::testing::internal::CaptureStderr();
  ConfigOutcome out = parse_args({"--redis-url", "redis://127.0.0.1:99999"});
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(out.config);
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(err.find("--redis-url / REWIND_REDIS_URL"), std::string::npos) << err;
  EXPECT_NE(err.find("redis://host:port[/db]"), std::string::npos) << err;
  EXPECT_NE(err.find("port"), std::string::npos) << err;
}

}  // namespace
}  // namespace rwd
