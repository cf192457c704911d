#include "protocol/gateway_codec.h"

#include <gtest/gtest.h>

#include "base/crypto.h"

namespace rwd::protocol {
namespace {

TEST(GatewayCodecTest, HeartbeatPayloadIsKeptAsJson) {
  auto r = decode_request(R"({"type":"heartbeat","payload":{"count":0,"x":[1,"a",null]}})");
  ASSERT_TRUE(r.ok());
  auto& hb = std::get<HeartbeatRequest>(r.value());
  EXPECT_EQ(encode_heartbeat(hb.payload_json),
            R"({"type":"heartbeat","payload":{"count":0,"x":[1,"a",null]}})");
}

TEST(GatewayCodecTest, HeartbeatWithoutPayloadEchoesNull) {
  auto r = decode_request(R"({"type":"heartbeat"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<HeartbeatRequest>(r.value()).payload_json, "null");
}

TEST(GatewayCodecTest, DecodesTheAppsRequests) {
  auto chat = decode_request(
      R"({"type":"chat","payload":{"type":"send","chat_id":"12345","content":"hi"}})");
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(std::get<ChatRequest>(chat.value()).chat_id, 12345);
  auto edit = decode_request(
      R"({"type":"chat","payload":{"type":"edit","chat_id":"7","id":"99","content":""}})");
  ASSERT_TRUE(edit.ok());
  EXPECT_EQ(std::get<ChatRequest>(edit.value()).message_id, 99);
  auto load = decode_request(
      R"({"type":"load","payload":{"type":"chat","load_id":"5","datetime":"MjAyNi0zLTc=","count":50}})");
  ASSERT_TRUE(load.ok());
  EXPECT_EQ(std::get<LoadChatRequest>(load.value()).count, 50);
  auto friends = decode_request(R"({"type":"load","payload":{"type":"mutual_users"}})");
  ASSERT_TRUE(friends.ok());
  EXPECT_TRUE(std::holds_alternative<LoadFriendsRequest>(friends.value()));
  auto fr = decode_request(R"({"type":"mutual_users","payload":{"type":"delete","name":"bob"}})");
  ASSERT_TRUE(fr.ok());
  EXPECT_EQ(std::get<FriendRequest>(fr.value()).action, domain::FriendAction::kDelete);
}

TEST(GatewayCodecTest, MalformedFramesAreNamed) {
  for (const char* bad : {"", "nope", "[1,2]", "\"str\"", R"({"payload":1})", R"({"type":5})",
                          "{\"type\":\"heartbeat\",\"payload\":\"\xff\"}"})
    EXPECT_EQ(decode_request(bad).error().code, Errc::kMalformedFrame) << bad;
  EXPECT_EQ(decode_request(R"({"type":"dance"})").error().code, Errc::kUnknownType);
}

TEST(GatewayCodecTest, LoneSurrogateEscapesNeverReachAnEcho) {
  // Found by the fuzzer: RapidJSON 1.1.0 turns "\\ude0b" into bytes that are not UTF-8.
  auto hb = decode_request(R"({"type":"heartbeat","payload":"a\ude0Bb"})");
  EXPECT_EQ(hb.error().code, Errc::kMalformedFrame);
  auto unknown = decode_request(R"({"type":"x\ude0B"})");
  EXPECT_EQ(unknown.error().code, Errc::kUnknownType);
  EXPECT_EQ(unknown.error().detail, "unknown type.");
  EXPECT_TRUE(decode_request(R"({"type":"heartbeat","payload":"\ud83d\ude00"})").ok());
}

TEST(GatewayCodecTest, RepeatedKeysAreRefused) {
  EXPECT_EQ(decode_request(R"({"type":"heartbeat","type":"auth","payload":1})").error().code,
            Errc::kMalformedFrame);
  EXPECT_EQ(decode_request(R"({"type":"mutual_users","payload":{"type":"request","name":"a",)"
                           R"("name":"b"}})")
                .error()
                .code,
            Errc::kMalformedFrame);
  // Inside a heartbeat's free-form payload, deeper objects are echoed as sent.
  EXPECT_TRUE(decode_request(R"({"type":"heartbeat","payload":{"x":{"a":1,"a":2}}})").ok());
}

TEST(GatewayCodecTest, DeepNestingIsRefusedBeforeParsing) {
  std::string deep =
      R"({"type":"heartbeat","payload":)" + std::string(1000, '[') + std::string(1000, ']') + "}";
  EXPECT_EQ(decode_request(deep).error().code, Errc::kMalformedFrame);
  // Brackets inside strings do not count.
  std::string in_string = R"({"type":"heartbeat","payload":")" + std::string(100, '[') + "\"}";
  EXPECT_TRUE(decode_request(in_string).ok());
}

TEST(GatewayCodecTest, WrongPayloadTypesAreInvalidPayload) {
  for (const char* bad :
       {R"({"type":"auth","payload":"token"})", R"({"type":"auth","payload":{"auth":1}})",
        R"({"type":"chat","payload":{"type":"send","chat_id":"abc","content":"x"}})",
        R"({"type":"chat","payload":{"type":"send","chat_id":"-5","content":"x"}})",
        R"({"type":"chat","payload":{"type":"shout","chat_id":"5","content":"x"}})",
        R"({"type":"chat","payload":{"type":"edit","chat_id":"5","content":"x"}})",
        R"({"type":"chat","payload":{"type":"send","chat_id":"5","content":7}})",
        R"({"type":"load","payload":{"type":"chat","load_id":"5","datetime":"x","count":"many"}})",
        R"({"type":"load","payload":{"type":"chat","load_id":"5","datetime":"x","count":0}})",
        R"({"type":"load","payload":{"type":"chat","load_id":"5","count":5}})",
        R"({"type":"load","payload":{"type":"planets"}})",
        R"({"type":"mutual_users","payload":{"type":"request"}})",
        R"({"type":"guild","payload":"create"})", R"({"type":"guild","payload":{"type":"create"}})",
        R"({"type":"guild","payload":{"type":"rename","name":"x"}})",
        R"({"type":"guild","payload":{"type":"add","guild_id":"5"}})",
        R"({"type":"guild","payload":{"type":"leave","guild_id":"abc"}})",
        R"({"type":"guild","payload":{"type":"dance","guild_id":"5"}})",
        R"({"type":"mutual_users","payload":{"type":"hug","name":"bob"}})"})
    EXPECT_EQ(decode_request(bad).error().code, Errc::kInvalidPayload) << bad;
}

TEST(GatewayCodecTest, DecodesGuildRequests) {
  auto create = decode_request(R"({"type":"guild","payload":{"type":"create","name":"café"}})");
  ASSERT_TRUE(create.ok());
  EXPECT_EQ(std::get<GuildRequest>(create.value()).op, GuildOp::kCreate);
  EXPECT_EQ(std::get<GuildRequest>(create.value()).name, "café");
  EXPECT_STREQ(request_type_name(create.value()), "guild");
  auto add =
      decode_request(R"({"type":"guild","payload":{"type":"add","guild_id":"77","name":"bob"}})");
  ASSERT_TRUE(add.ok());
  EXPECT_EQ(std::get<GuildRequest>(add.value()).op, GuildOp::kAdd);
  EXPECT_EQ(std::get<GuildRequest>(add.value()).guild_id, 77);
  auto leave = decode_request(R"({"type":"guild","payload":{"type":"leave","guild_id":8}})");
  ASSERT_TRUE(leave.ok());
  EXPECT_EQ(std::get<GuildRequest>(leave.value()).op, GuildOp::kLeave);
  auto del = decode_request(R"({"type":"guild","payload":{"type":"delete","guild_id":"9"}})");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(std::get<GuildRequest>(del.value()).op, GuildOp::kDelete);
  auto load = decode_request(R"({"type":"load","payload":{"type":"guilds"}})");
  ASSERT_TRUE(load.ok());
  EXPECT_TRUE(std::holds_alternative<LoadGuildsRequest>(load.value()));
}

TEST(GatewayCodecTest, GuildEventsCarryASummaryNotTheMembers) {
  domain::UserView a{1, "al", std::nullopt}, b{2, "bo", std::nullopt};
  domain::GuildSummary g{10, "crew", 1, 2};
  EXPECT_EQ(encode_guild_event(domain::GuildAction::kJoined, g, b, a),
            R"({"type":"guild","payload":{"type":"joined","guild":{"id":"10","name":"crew",)"
            R"("owner_id":"1","member_count":2},"user":{"id":"2","name":"bo","profile":null},)"
            R"("actor":{"id":"1","name":"al","profile":null}}})");
  // The same event in a guild of 1,000 members: only the count differs.
  domain::GuildSummary big{10, "crew", 1, 1000};
  EXPECT_EQ(encode_guild_event(domain::GuildAction::kJoined, big, b, a).size(),
            encode_guild_event(domain::GuildAction::kJoined, g, b, a).size() + 3);
  // The owner left: the guild passed to bo.
  domain::GuildSummary after{10, "crew", 2, 1};
  EXPECT_EQ(encode_guild_event(domain::GuildAction::kLeft, after, a, a, b),
            R"({"type":"guild","payload":{"type":"left","guild":{"id":"10","name":"crew",)"
            R"("owner_id":"2","member_count":1},"user":{"id":"1","name":"al","profile":null},)"
            R"("actor":{"id":"1","name":"al","profile":null},)"
            R"("new_owner":{"id":"2","name":"bo","profile":null}}})");
  // The creator's event lists its one member.
  domain::GuildSummary created{10, "crew", 1, 1};
  EXPECT_EQ(encode_guild_event(domain::GuildAction::kCreated, created, a, a),
            R"({"type":"guild","payload":{"type":"created","guild":{"id":"10","name":"crew",)"
            R"("owner_id":"1","member_count":1,"members":[{"id":"1","name":"al","profile":null}]},)"
            R"("user":{"id":"1","name":"al","profile":null},)"
            R"("actor":{"id":"1","name":"al","profile":null}}})");
}

TEST(GatewayCodecTest, GuildListsAreSummariesInV2AndMembersComeApart) {
  domain::UserView a{1, "al", std::nullopt}, b{2, "bo", std::nullopt};
  domain::GuildView full{10, "crew", 1, {a, b}};
  domain::GuildSummary g{10, "crew", 1, 2};
  // v1's answer to load guilds is as it always was: members included.
  EXPECT_EQ(encode_guild_list({}), R"({"type":"load","payload":{"type":"guilds","guilds":[]}})");
  EXPECT_EQ(encode_guild_list({full}),
            R"({"type":"load","payload":{"type":"guilds","guilds":[{"id":"10","name":"crew",)"
            R"("owner_id":"1","members":[{"id":"1","name":"al","profile":null},)"
            R"({"id":"2","name":"bo","profile":null}]}]}})");
  EXPECT_EQ(encode_guild_summaries({g}),
            R"({"type":"load","payload":{"type":"guilds","guilds":[{"id":"10","name":"crew",)"
            R"("owner_id":"1","member_count":2}]}})");
  EXPECT_EQ(encode_guild_members(full),
            R"({"type":"load","payload":{"type":"guild_members","guild_id":"10","owner_id":"1",)"
            R"("member_count":2,"members":[{"id":"1","name":"al","profile":null},)"
            R"({"id":"2","name":"bo","profile":null}]}})");
  // v2 auth lists guild summaries; v1's response is unchanged by them.
  domain::FriendState st;
  EXPECT_EQ(encode_auth(Version::kV1, a, st, {g}), encode_auth(Version::kV1, a, st));
  EXPECT_NE(encode_auth(Version::kV2, a, st, {g})
                .find(R"("guilds":[{"id":"10","name":"crew","owner_id":"1","member_count":2}])"),
            std::string::npos);
  EXPECT_NE(encode_auth(Version::kV2, a, st).find(R"("guilds":[])"), std::string::npos);
}

TEST(GatewayCodecTest, DecodesLoadGuildMembers) {
  auto r = decode_request(R"({"type":"load","payload":{"type":"guild_members","guild_id":"77"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<LoadGuildMembersRequest>(r.value()).guild_id, 77);
  EXPECT_STREQ(request_type_name(r.value()), "load");
  for (const char* bad : {R"({"type":"load","payload":{"type":"guild_members"}})",
                          R"({"type":"load","payload":{"type":"guild_members","guild_id":"x"}})",
                          R"({"type":"load","payload":{"type":"guild_members","guild_id":0}})"}) {
    auto e = decode_request(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().code, Errc::kInvalidPayload) << bad;
  }
}

TEST(GatewayCodecTest, AuthResponseIsStringsInV1AndArraysInV2) {
  domain::UserView me{1, "me", std::nullopt};
  domain::FriendState st;
  st.friends.push_back({2, "bob", std::string("http://x/p.png")});
  std::string v1 = encode_auth(Version::kV1, me, st);
  EXPECT_NE(
      v1.find(
          R"("mutual_users":"[{\"id\":\"2\",\"name\":\"bob\",\"profile\":\"http://x/p.png\"}]")"),
      std::string::npos)
      << v1;
  EXPECT_NE(v1.find(R"("mutual_requests":"[]")"), std::string::npos);
  std::string v2 = encode_auth(Version::kV2, me, st);
  EXPECT_NE(v2.find(R"("mutual_users":[{"id":"2","name":"bob","profile":"http://x/p.png"}])"),
            std::string::npos)
      << v2;
}

TEST(GatewayCodecTest, ChatEventHasTheAppsFields) {
  domain::ChatMessage m{10, 3, 1, "안녕 \"quoted\"", 1640186356000880, std::nullopt};
  EXPECT_EQ(encode_chat(Version::kV1, domain::ChatAction::kSend, m, 9 * 3600),
            R"({"type":"chat","payload":{"type":"send","id":"10","user_id":"1","chat_id":"3",)"
            R"("content":"안녕 \"quoted\"","created_at":"2021-12-23 00:19:16.000880"}})");
}

TEST(GatewayCodecTest, ChatEventCarriesEditedAtInV2Only) {
  domain::ChatMessage m{10, 3, 1, "hi", 1640186356000880, std::nullopt};
  EXPECT_EQ(encode_chat(Version::kV2, domain::ChatAction::kSend, m, 9 * 3600),
            R"({"type":"chat","payload":{"type":"send","id":"10","user_id":"1","chat_id":"3",)"
            R"("content":"hi","created_at":"2021-12-23 00:19:16.000880","edited_at":null}})");
  m.edited_us = 1640186416000001;  // a minute later
  EXPECT_EQ(encode_chat(Version::kV2, domain::ChatAction::kEdit, m, 9 * 3600),
            R"({"type":"chat","payload":{"type":"edit","id":"10","user_id":"1","chat_id":"3",)"
            R"("content":"hi","created_at":"2021-12-23 00:19:16.000880",)"
            R"("edited_at":"2021-12-23 00:20:16.000001"}})");
  // v1 is the published app's frame: an edit changes nothing in its shape.
  EXPECT_EQ(encode_chat(Version::kV1, domain::ChatAction::kEdit, m, 9 * 3600),
            R"({"type":"chat","payload":{"type":"edit","id":"10","user_id":"1","chat_id":"3",)"
            R"("content":"hi","created_at":"2021-12-23 00:19:16.000880"}})");
}

TEST(GatewayCodecTest, FriendEventMarksTheReadersOwnAction) {
  domain::UserView bob{2, "bob", std::nullopt};
  EXPECT_EQ(encode_friend_event(domain::FriendAction::kRequest, bob),
            R"({"type":"mutual_users","payload":{"type":"request",)"
            R"("user":{"id":"2","name":"bob","profile":null}}})");
  EXPECT_EQ(encode_friend_event(domain::FriendAction::kDelete, bob, /*self=*/true),
            R"({"type":"mutual_users","payload":{"type":"delete",)"
            R"("user":{"id":"2","name":"bob","profile":null},"self":true}})");
}

TEST(GatewayCodecTest, ErrorsCarryCodeReasonAndRetryAfter) {
  EXPECT_EQ(
      encode_error(Errc::kNotRequested),
      R"({"type":"error","payload":{"code":"4014","reason":"targeted name was not requested."}})");
  EXPECT_EQ(encode_error(Errc::kInvalidToken),
            R"({"type":"error","payload":{"code":"4000","reason":"the token is not valid."}})");
  std::string limited = encode_error(Errc::kRateLimited, "slow down", 1500);
  EXPECT_NE(limited.find(R"("retry_after":1.5)"), std::string::npos) << limited;
}

TEST(GatewayCodecTest, CursorDecodesBase64OfEitherFormat) {
  ASSERT_TRUE(crypto::init());
  auto a = decode_cursor(crypto::base64_encode("2026-3-7 09:05:01.4000"), 9 * 3600);
  auto b = decode_cursor(crypto::base64_encode("2026-03-07 09:05:01.400000"), 9 * 3600);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a.value(), b.value());
  EXPECT_EQ(decode_cursor("%%%", 0).error().code, Errc::kInvalidCursor);
  EXPECT_EQ(decode_cursor(crypto::base64_encode("not a date"), 0).error().code,
            Errc::kInvalidCursor);
}

}  // namespace
}  // namespace rwd::protocol
