#include "base/address_set.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

TEST(AddressSetTest, MatchesAddressesAndCidrRanges) {
  std::string bad;
  auto set = AddressSet::parse("127.0.0.1, 10.0.0.0/8,::1,2001:db8::/32", &bad);
  ASSERT_TRUE(set) << bad;
  EXPECT_TRUE(set->contains("127.0.0.1"));
  EXPECT_FALSE(set->contains("127.0.0.2"));
  EXPECT_TRUE(set->contains("10.200.3.4"));
  EXPECT_FALSE(set->contains("11.0.0.1"));
  EXPECT_TRUE(set->contains("::1"));
  EXPECT_TRUE(set->contains("2001:db8:1::5"));
  EXPECT_TRUE(set->contains("::ffff:10.1.2.3"));  // IPv4-mapped
  EXPECT_FALSE(set->contains("garbage"));
}

TEST(AddressSetTest, LimitsCountIpv6ByItsSlash64) {
  EXPECT_EQ(address_bucket("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(address_bucket("::ffff:203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(address_bucket("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(address_bucket("2001:db8:1:2:bbbb::9"), address_bucket("2001:db8:1:2::1"));
  EXPECT_NE(address_bucket("2001:db8:1:3::1"), address_bucket("2001:db8:1:2::1"));
}

TEST(AddressSetTest, OddPrefixLengths) {
  auto set = AddressSet::parse("192.168.1.128/25", nullptr);
  ASSERT_TRUE(set);
  EXPECT_TRUE(set->contains("192.168.1.200"));
  EXPECT_FALSE(set->contains("192.168.1.100"));
}

TEST(AddressSetTest, BadEntriesAreNamed) {
  std::string bad;
  EXPECT_FALSE(AddressSet::parse("127.0.0.1,300.1.1.1", &bad));
  EXPECT_EQ(bad, "300.1.1.1");
  EXPECT_FALSE(AddressSet::parse("10.0.0.0/33", &bad));
  EXPECT_FALSE(AddressSet::parse("10.0.0.0/x", &bad));
  EXPECT_TRUE(AddressSet::parse("", &bad)->empty());
}

}  // namespace
}  // namespace rwd
