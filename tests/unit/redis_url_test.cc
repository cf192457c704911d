// --redis-url's form: redis://host[:port][/db], refused with the reason and never echoed.
#include "base/redis_url.h"

#include <gtest/gtest.h>

#include <string>

namespace rwd {
namespace {

TEST(RedisUrlTest, HostPortAndDbAreRead) {
  auto url = parse_redis_url("redis://cache.example.net:6380/2");
  ASSERT_TRUE(url.ok()) << url.error().detail;
  EXPECT_EQ(url->host, "cache.example.net");
  EXPECT_EQ(url->port, 6380);
  EXPECT_EQ(url->db, 2);
  EXPECT_EQ(url->to_string(), "redis://cache.example.net:6380/2");
}

TEST(RedisUrlTest, PortAndDbHaveDefaults) {
  auto url = parse_redis_url("redis://127.0.0.1");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->port, 6379);
  EXPECT_EQ(url->db, 0);
  auto slash = parse_redis_url("redis://127.0.0.1:7000/");
  ASSERT_TRUE(slash.ok());
  EXPECT_EQ(slash->port, 7000);
  EXPECT_EQ(slash->db, 0);
}

TEST(RedisUrlTest, AnIpv6HostIsWrittenInBrackets) {
  auto url = parse_redis_url("redis://[::1]:6379/1");
  ASSERT_TRUE(url.ok()) << url.error().detail;
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->to_string(), "redis://[::1]:6379/1");
  EXPECT_FALSE(parse_redis_url("redis://[::1:6379").ok());
}

TEST(RedisUrlTest, BadUrlsAreRefusedNamingTheRuleAndThePart) {
  struct Case {
    const char* url;
    const char* reason;
  };
  for (const Case& c :
       {Case{"", "must start with redis://"}, Case{"127.0.0.1:6379", "must start with redis://"},
        Case{"rediss://h:6379", "TLS (rediss://) is not supported"},
        Case{"redis://", "the host is empty"}, Case{"redis://:6379", "the host is empty"},
        Case{"redis://h:", "the port after ':' is empty"},
        Case{"redis://h:0", "the port is not a number from 1 to 65535"},
        Case{"redis://h:65536", "the port is not a number from 1 to 65535"},
        Case{"redis://h:+1", "the port is not a number from 1 to 65535"},
        Case{"redis://h:6379/-1", "the db after '/' is not a number"},
        Case{"redis://h:6379/2147483648", "the db after '/' is not a number"},
        Case{"redis://h:6379/1/2", "the db after '/' is not a number"},
        Case{"redis://h:6379?db=1", "a query or fragment"},
        Case{"redis://h w:6379", "the host has a character"},
        Case{"redis://:pw@h:6379", "a user or password"}}) {
    auto url = parse_redis_url(c.url);
    ASSERT_FALSE(url.ok()) << c.url;
    EXPECT_EQ(url.error().code, Errc::kBadRequest);
    EXPECT_NE(url.error().detail.find("redis://host:port[/db]"), std::string::npos)
        << url.error().detail;
    EXPECT_NE(url.error().detail.find(c.reason), std::string::npos)
        << c.url << ": " << url.error().detail;
  }
}

TEST(RedisUrlTest, ARefusalNeverRepeatsThePassword) {
  auto url = parse_redis_url("redis://user:s3cret@h:6379");
  ASSERT_FALSE(url.ok());
  EXPECT_EQ(url.error().detail.find("s3cret"), std::string::npos);
}

}  // namespace
}  // namespace rwd
