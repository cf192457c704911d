#include "base/client_address.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

AddressSet set(const char* list) {
  auto s = AddressSet::parse(list, nullptr);
  EXPECT_TRUE(s) << list;
  return s ? *s : AddressSet{};
}

TEST(ClientAddressTest, CanonicalFormsAreOneAddressEach) {
  EXPECT_EQ(canonical_address("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(canonical_address("::ffff:10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(canonical_address("2001:DB8:0:0::1"), "2001:db8::1");
  EXPECT_FALSE(canonical_address(""));
  EXPECT_FALSE(canonical_address("unknown"));
  EXPECT_FALSE(canonical_address("10.0.0.1:8080"));
  EXPECT_FALSE(canonical_address("[::1]"));
  EXPECT_FALSE(canonical_address("example.com"));
}

TEST(ClientAddressTest, AnUntrustedPeersHeaderIsIgnored) {
  EXPECT_EQ(client_address("203.0.113.9", "198.51.100.1", set("127.0.0.1")).address, "203.0.113.9");
  // With no proxy trusted, nobody's header counts.
  EXPECT_EQ(client_address("127.0.0.1", "198.51.100.1", AddressSet{}).address, "127.0.0.1");
}

TEST(ClientAddressTest, ATrustedProxyNamesTheClient) {
  auto r = client_address("127.0.0.1", "198.51.100.1", set("127.0.0.1"));
  EXPECT_EQ(r.address, "198.51.100.1");
  EXPECT_FALSE(r.malformed_forwarded_for);
}

TEST(ClientAddressTest, TheRightmostUntrustedEntryIsTheClientNotWhatTheClientWrote) {
  // "evil" and 192.0.2.66 are what the client sent itself; haproxy appended 198.51.100.1.
  EXPECT_EQ(client_address("127.0.0.1", "192.0.2.66, 198.51.100.1", set("127.0.0.1")).address,
            "198.51.100.1");
  EXPECT_EQ(client_address("127.0.0.1", "evil, 198.51.100.1", set("127.0.0.1")).address,
            "198.51.100.1");
  // Two proxies in a row, both trusted: the one in front of the client wrote the client.
  EXPECT_EQ(
      client_address("127.0.0.1", "192.0.2.66, 198.51.100.1, 10.0.0.5", set("127.0.0.1,10.0.0.0/8"))
          .address,
      "198.51.100.1");
}

TEST(ClientAddressTest, SeveralHeadersJoinedInOrderReadAsOneList) {
  EXPECT_EQ(client_address("127.0.0.1", "192.0.2.66,198.51.100.1", set("127.0.0.1")).address,
            "198.51.100.1");
}

TEST(ClientAddressTest, OnlyTrustedEntriesGiveTheLeftmost) {
  EXPECT_EQ(client_address("127.0.0.1", "10.0.0.7, 10.0.0.5", set("127.0.0.1,10.0.0.0/8")).address,
            "10.0.0.7");
}

TEST(ClientAddressTest, NoHeaderOrAnEmptyOneIsThePeer) {
  auto none = client_address("127.0.0.1", "", set("127.0.0.1"));
  EXPECT_EQ(none.address, "127.0.0.1");
  EXPECT_FALSE(none.malformed_forwarded_for);
  EXPECT_EQ(client_address("127.0.0.1", "  ", set("127.0.0.1")).address, "127.0.0.1");
}

TEST(ClientAddressTest, AMalformedEntryWhereTheClientWouldBeIsThePeerFlagged) {
  for (const char* header : {"garbage", "198.51.100.1:4000", "198.51.100.1,", ",", "unknown"}) {
    auto r = client_address("127.0.0.1", header, set("127.0.0.1"));
    EXPECT_EQ(r.address, "127.0.0.1") << header;
    EXPECT_TRUE(r.malformed_forwarded_for) << header;
  }
}

TEST(ClientAddressTest, TheClientIsWrittenCanonically) {
  EXPECT_EQ(client_address("::1", "::ffff:198.51.100.1", set("::1")).address, "198.51.100.1");
  EXPECT_EQ(client_address("127.0.0.1", "2001:DB8::0:1", set("127.0.0.1")).address, "2001:db8::1");
}

}  // namespace
}  // namespace rwd
