#include "protocol/request_types.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <variant>

namespace rwd::protocol {
namespace {

// The wire name of a row: its type, and for types that share one (`load`) the payload's kind.
std::string wire_name(const RequestType& t) {
  return t.kind.empty() ? std::string(t.name) : std::string(t.name) + " " + std::string(t.kind);
}

TEST(RequestTypesTest, EveryAlternativeHasExactlyOneRow) {
  auto types = request_types();
  ASSERT_EQ(types.size(), std::variant_size_v<Request>);
  std::set<size_t> seen;
  for (size_t i = 0; i < types.size(); ++i) {
    EXPECT_EQ(types[i].alternative, i) << wire_name(types[i]);
    EXPECT_TRUE(seen.insert(types[i].alternative).second) << wire_name(types[i]);
    EXPECT_NE(types[i].decode, nullptr) << wire_name(types[i]);
  }
}

TEST(RequestTypesTest, ARequestFindsTheRowOfItsType) {
  EXPECT_EQ(wire_name(request_type(Request(HeartbeatRequest{}))), "heartbeat");
  EXPECT_EQ(wire_name(request_type(Request(LoadGuildMembersRequest{7}))), "load guild_members");
  EXPECT_EQ(wire_name(request_type(Request(GuildRequest{}))), "guild");
  EXPECT_STREQ(request_type_name(Request(LoadFriendsRequest{})), "load");
}

TEST(RequestTypesTest, WireNamesAreUnique) {
  std::set<std::string> names;
  for (const auto& t : request_types())
    EXPECT_TRUE(names.insert(wire_name(t)).second) << wire_name(t) << " has two rows";
}

TEST(RequestTypesTest, ANameIsOneTypeOrSeveralKinds) {
  for (const auto& a : request_types()) {
    for (const auto& b : request_types()) {
      if (&a != &b && a.name == b.name) {
        EXPECT_TRUE(!a.kind.empty() && !b.kind.empty()) << wire_name(a) << ", " << wire_name(b);
      }
    }
  }
}

std::set<std::string> accepted_by(Version v) {
  std::set<std::string> out;
  for (const auto& t : request_types())
    if (t.versions.allows(v)) out.insert(wire_name(t));
  return out;
}

// v1 is what the published app speaks: its set of requests never changes.
TEST(RequestTypesTest, V1AcceptsThePublishedAppsRequests) {
  EXPECT_EQ(accepted_by(Version::kV1),
            (std::set<std::string>{"heartbeat", "auth", "chat", "mutual_users", "load chat",
                                   "load mutual_users", "load guilds"}));
}

TEST(RequestTypesTest, V2AcceptsEveryRequest) {
  EXPECT_EQ(accepted_by(Version::kV2).size(), request_types().size());
}

TEST(RequestTypesTest, OnlyHeartbeatAndAuthAnswerBeforeAuth) {
  std::set<std::string> open;
  for (const auto& t : request_types())
    if (!t.needs_auth) open.insert(wire_name(t));
  EXPECT_EQ(open, (std::set<std::string>{"heartbeat", "auth"}));
}

// A frame of a type its version does not accept is refused as if the type did not exist.
TEST(RequestTypesTest, AVersionRefusesTheTypesItDoesNotAccept) {
  auto guild =
      decode_request(R"({"type":"guild","payload":{"type":"create","name":"g"}})", Version::kV1);
  ASSERT_FALSE(guild.ok());
  EXPECT_EQ(guild.error().code, Errc::kUnknownType);
  EXPECT_EQ(guild.error().detail, "unknown type 'guild'.");
  auto members = decode_request(
      R"({"type":"load","payload":{"type":"guild_members","guild_id":"1"}})", Version::kV1);
  ASSERT_FALSE(members.ok());
  EXPECT_EQ(members.error().code, Errc::kInvalidPayload);
  EXPECT_EQ(members.error().detail, "load 'type' must be chat, mutual_users or guilds.");
  auto v2 = decode_request(R"({"type":"load","payload":{"type":"nope"}})", Version::kV2);
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(
      v2.error().detail,
      "load 'type' must be chat, mutual_users, guilds, guild_members, blocked_users or chats.");
  auto read =
      decode_request(R"({"type":"read","payload":{"chat_id":"1","message_id":"2"}})", Version::kV1);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().detail, "unknown type 'read'.");
  auto chats = decode_request(R"({"type":"load","payload":{"type":"chats"}})", Version::kV1);
  ASSERT_FALSE(chats.ok());
  EXPECT_EQ(chats.error().code, Errc::kInvalidPayload);
  auto block =
      decode_request(R"({"type":"block","payload":{"type":"block","name":"b"}})", Version::kV1);
  ASSERT_FALSE(block.ok());
  EXPECT_EQ(block.error().detail, "unknown type 'block'.");
}

// Every row's decoder gives its own alternative, on every version that accepts it.
TEST(RequestTypesTest, EachRowDecodesToItsAlternative) {
  const std::pair<const char*, size_t> frames[] = {
      {R"({"type":"heartbeat","payload":{}})", 0},
      {R"({"type":"auth","payload":{"auth":"t"}})", 1},
      {R"({"type":"chat","payload":{"type":"send","chat_id":"1","content":"x"}})", 2},
      {R"({"type":"load","payload":{"type":"chat","load_id":"1","datetime":"","count":1}})", 3},
      {R"({"type":"load","payload":{"type":"mutual_users"}})", 4},
      {R"({"type":"mutual_users","payload":{"type":"request","name":"a"}})", 5},
      {R"({"type":"guild","payload":{"type":"create","name":"g"}})", 6},
      {R"({"type":"load","payload":{"type":"guilds"}})", 7},
      {R"({"type":"load","payload":{"type":"guild_members","guild_id":"1"}})", 8},
      {R"({"type":"block","payload":{"type":"block","name":"a"}})", 9},
      {R"({"type":"load","payload":{"type":"blocked_users"}})", 10},
      {R"({"type":"typing","payload":{"chat_id":"1"}})", 11},
      {R"({"type":"read","payload":{"chat_id":"1","message_id":"2"}})", 12},
      {R"({"type":"load","payload":{"type":"chats"}})", 13},
      {R"({"type":"presence","payload":{"visible":true}})", 14},
      {R"({"type":"search","payload":{"query":"pizza"}})", 15},
  };
  ASSERT_EQ(std::size(frames), request_types().size());
  for (const auto& [frame, index] : frames) {
    for (Version v : {Version::kV1, Version::kV2}) {
      auto r = decode_request(frame, v);
      if (!request_types()[index].versions.allows(v)) {
        EXPECT_FALSE(r.ok()) << frame;
        continue;
      }
      ASSERT_TRUE(r.ok()) << frame << ": " << r.error().detail;
      EXPECT_EQ(r.value().index(), index) << frame;
    }
  }
}

}  // namespace
}  // namespace rwd::protocol
