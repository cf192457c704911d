#include "protocol/gateway_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/crypto.h"

namespace rwd::protocol {
namespace {

Result<Request> decode(std::string_view frame, Version v = Version::kV2) {
  return decode_request(frame, v);
}

TEST(GatewayCodecTest, HeartbeatPayloadIsKeptAsJson) {
  auto r = decode(R"({"type":"heartbeat","payload":{"count":0,"x":[1,"a",null]}})");
  ASSERT_TRUE(r.ok());
  auto& hb = std::get<HeartbeatRequest>(r.value());
  EXPECT_EQ(encode_heartbeat(hb.payload_json),
            R"({"type":"heartbeat","payload":{"count":0,"x":[1,"a",null]}})");
}

TEST(GatewayCodecTest, HeartbeatWithoutPayloadEchoesNull) {
  auto r = decode(R"({"type":"heartbeat"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<HeartbeatRequest>(r.value()).payload_json, "null");
}

TEST(GatewayCodecTest, DecodesTheAppsRequests) {
  auto chat =
      decode(R"({"type":"chat","payload":{"type":"send","chat_id":"12345","content":"hi"}})");
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(std::get<ChatRequest>(chat.value()).chat_id, 12345);
  auto edit =
      decode(R"({"type":"chat","payload":{"type":"edit","chat_id":"7","id":"99","content":""}})");
  ASSERT_TRUE(edit.ok());
  EXPECT_EQ(std::get<ChatRequest>(edit.value()).message_id, 99);
  auto load = decode(
      R"({"type":"load","payload":{"type":"chat","load_id":"5","datetime":"MjAyNi0zLTc=","count":50}})");
  ASSERT_TRUE(load.ok());
  EXPECT_EQ(std::get<LoadChatRequest>(load.value()).count, 50);
  auto friends = decode(R"({"type":"load","payload":{"type":"mutual_users"}})");
  ASSERT_TRUE(friends.ok());
  EXPECT_TRUE(std::holds_alternative<LoadFriendsRequest>(friends.value()));
  auto fr = decode(R"({"type":"mutual_users","payload":{"type":"delete","name":"bob"}})");
  ASSERT_TRUE(fr.ok());
  EXPECT_EQ(std::get<FriendRequest>(fr.value()).action, domain::FriendAction::kDelete);
}

// A frame is parsed in buffers the decoding thread reuses; one larger than them decodes whole,
// and so does the small frame after it. Here 3,000 keys the send does not know come before the
// fields it reads: the parsed values and the parser's stack both outgrow their buffers before
// chat_id and content are parsed.
TEST(GatewayCodecTest, AFrameLargerThanTheDecodeBuffersDecodesWhole) {
  std::string padding;
  for (int i = 0; i < 3000; ++i)
    padding += "\"pad" + std::to_string(i) + "\":\"" + std::string(20, 'a' + i % 26) + "\",";
  const std::string big = R"({"type":"chat","payload":{"type":"send",)" + padding +
                          R"("chat_id":"12345","content":"past the buffers"}})";
  auto r = decode(big);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(std::get<ChatRequest>(r.value()).chat_id, 12345);
  EXPECT_EQ(std::get<ChatRequest>(r.value()).content, "past the buffers");
  auto chat =
      decode(R"({"type":"chat","payload":{"type":"send","chat_id":"678","content":"after"}})");
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(std::get<ChatRequest>(chat.value()).chat_id, 678);
  EXPECT_EQ(std::get<ChatRequest>(chat.value()).content, "after");
}

// A repeated key is refused whether the object is small (compared pairwise) or large (sorted),
// in the frame and in its payload; keys that only share a prefix are no repeat.
TEST(GatewayCodecTest, ARepeatedKeyIsRefusedInSmallAndLargeObjects) {
  auto code = [](const std::string& f) -> std::optional<Errc> {
    auto r = decode(f);
    if (r.ok()) return std::nullopt;
    return r.error().code;
  };
  EXPECT_EQ(code(R"({"type":"chat","type":"heartbeat","payload":{}})"), Errc::kMalformedFrame);
  EXPECT_EQ(code(R"({"type":"chat","payload":{"type":"send","chat_id":"1","chat_id":"2",)"
                 R"("content":"x"}})"),
            Errc::kMalformedFrame);
  std::string many;
  for (int i = 0; i < 20; ++i) many += "\"k" + std::to_string(i) + "\":1,";
  EXPECT_EQ(code(R"({"type":"chat","payload":{"type":"send",)" + many +
                 R"("k7":2,"chat_id":"1","content":"x"}})"),
            Errc::kMalformedFrame);
  EXPECT_EQ(code(R"({"type":"chat","payload":{"type":"send",)" + many +
                 R"("chat_id":"1","content":"x"}})"),
            std::nullopt);
  EXPECT_EQ(code(R"({"type":"chat","payload":{"type":"send","chat_id":"1","chat_idx":"2",)"
                 R"("content":"x"}})"),
            std::nullopt);
}

TEST(GatewayCodecTest, MalformedFramesAreNamed) {
  for (const char* bad : {"", "nope", "[1,2]", "\"str\"", R"({"payload":1})", R"({"type":5})",
                          "{\"type\":\"heartbeat\",\"payload\":\"\xff\"}"})
    EXPECT_EQ(decode(bad).error().code, Errc::kMalformedFrame) << bad;
  EXPECT_EQ(decode(R"({"type":"dance"})").error().code, Errc::kUnknownType);
}

TEST(GatewayCodecTest, LoneSurrogateEscapesNeverReachAnEcho) {
  // Found by the fuzzer: RapidJSON 1.1.0 turns "\\ude0b" into bytes that are not UTF-8.
  auto hb = decode(R"({"type":"heartbeat","payload":"a\ude0Bb"})");
  EXPECT_EQ(hb.error().code, Errc::kMalformedFrame);
  auto unknown = decode(R"({"type":"x\ude0B"})");
  EXPECT_EQ(unknown.error().code, Errc::kUnknownType);
  EXPECT_EQ(unknown.error().detail, "unknown type.");
  EXPECT_TRUE(decode(R"({"type":"heartbeat","payload":"\ud83d\ude00"})").ok());
}

TEST(GatewayCodecTest, RepeatedKeysAreRefused) {
  EXPECT_EQ(decode(R"({"type":"heartbeat","type":"auth","payload":1})").error().code,
            Errc::kMalformedFrame);
  EXPECT_EQ(decode(R"({"type":"mutual_users","payload":{"type":"request","name":"a",)"
                   R"("name":"b"}})")
                .error()
                .code,
            Errc::kMalformedFrame);
  // Inside a heartbeat's free-form payload, deeper objects are echoed as sent.
  EXPECT_TRUE(decode(R"({"type":"heartbeat","payload":{"x":{"a":1,"a":2}}})").ok());
}

TEST(GatewayCodecTest, DeepNestingIsRefusedBeforeParsing) {
  std::string deep =
      R"({"type":"heartbeat","payload":)" + std::string(1000, '[') + std::string(1000, ']') + "}";
  EXPECT_EQ(decode(deep).error().code, Errc::kMalformedFrame);
  // Brackets inside strings do not count.
  std::string in_string = R"({"type":"heartbeat","payload":")" + std::string(100, '[') + "\"}";
  EXPECT_TRUE(decode(in_string).ok());
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
    EXPECT_EQ(decode(bad).error().code, Errc::kInvalidPayload) << bad;
}

TEST(GatewayCodecTest, DecodesGuildRequests) {
  auto create = decode(R"({"type":"guild","payload":{"type":"create","name":"café"}})");
  ASSERT_TRUE(create.ok());
  EXPECT_EQ(std::get<GuildRequest>(create.value()).op, GuildOp::kCreate);
  EXPECT_EQ(std::get<GuildRequest>(create.value()).name, "café");
  EXPECT_STREQ(request_type_name(create.value()), "guild");
  auto add = decode(R"({"type":"guild","payload":{"type":"add","guild_id":"77","name":"bob"}})");
  ASSERT_TRUE(add.ok());
  EXPECT_EQ(std::get<GuildRequest>(add.value()).op, GuildOp::kAdd);
  EXPECT_EQ(std::get<GuildRequest>(add.value()).guild_id, 77);
  auto leave = decode(R"({"type":"guild","payload":{"type":"leave","guild_id":8}})");
  ASSERT_TRUE(leave.ok());
  EXPECT_EQ(std::get<GuildRequest>(leave.value()).op, GuildOp::kLeave);
  auto del = decode(R"({"type":"guild","payload":{"type":"delete","guild_id":"9"}})");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(std::get<GuildRequest>(del.value()).op, GuildOp::kDelete);
  auto load = decode(R"({"type":"load","payload":{"type":"guilds"}})");
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
  AuthExtras with_guild;
  with_guild.guilds = {g};
  EXPECT_EQ(encode_auth(Version::kV1, a, st, with_guild), encode_auth(Version::kV1, a, st));
  EXPECT_NE(encode_auth(Version::kV2, a, st, with_guild)
                .find(R"("guilds":[{"id":"10","name":"crew","owner_id":"1","member_count":2}])"),
            std::string::npos);
  EXPECT_NE(encode_auth(Version::kV2, a, st).find(R"("guilds":[])"), std::string::npos);
}

TEST(GatewayCodecTest, DecodesLoadGuildMembers) {
  auto r = decode(R"({"type":"load","payload":{"type":"guild_members","guild_id":"77"}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<LoadGuildMembersRequest>(r.value()).guild_id, 77);
  EXPECT_STREQ(request_type_name(r.value()), "load");
  for (const char* bad : {R"({"type":"load","payload":{"type":"guild_members"}})",
                          R"({"type":"load","payload":{"type":"guild_members","guild_id":"x"}})",
                          R"({"type":"load","payload":{"type":"guild_members","guild_id":0}})"}) {
    auto e = decode(bad);
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

// ---- Field rules (docs/PROTOCOL.md, "Request fields"), generated from one table ----

// How the decoder reads a field. What an accepted "" means (ignore, delete, 4000, 4010,
// 4024, 4054) is decided after decoding and tested end to end.
enum class FieldKind {
  kChoice,  // the payload's `type`: one of a few strings
  kId,      // a snowflake: positive decimal string or positive JSON integer
  kText,    // any string, "" included
  kCount,   // an integer of at least 1, or a decimal string of one
};

struct FieldCase {
  std::string name;
  std::string valid;  // the field's value in a valid payload, as JSON text
  FieldKind kind;
};

// One row per request: its frame type, a valid payload (field by field, in order), and the
// request it must decode to. A new request type is one more row.
struct RequestCase {
  std::string label;
  std::string type;
  std::vector<FieldCase> fields;
  size_t alternative;  // index in Request of what the valid frame decodes to
  bool v2_only = false;
  // What v1 answers a v2-only request: a guild frame is an unknown type; a v2-only load type
  // is an invalid load payload, as before it existed.
  Errc v1_error = Errc::kUnknownType;
};

template <typename T>
size_t alternative_of() {
  return Request(T{}).index();
}

std::vector<RequestCase> request_cases() {
  const FieldKind kChoice = FieldKind::kChoice, kId = FieldKind::kId, kText = FieldKind::kText,
                  kCount = FieldKind::kCount;
  auto guild = alternative_of<GuildRequest>();
  auto friend_op = [](const char* op) {
    return RequestCase{std::string("mutual_users ") + op,
                       "mutual_users",
                       {{"type", std::string("\"") + op + "\"", FieldKind::kChoice},
                        {"name", R"("bob")", FieldKind::kText}},
                       alternative_of<FriendRequest>()};
  };
  return {
      {"auth", "auth", {{"auth", R"("tok")", kText}}, alternative_of<AuthRequest>()},
      {"chat send",
       "chat",
       {{"type", R"("send")", kChoice},
        {"chat_id", R"("108")", kId},
        {"content", R"("hi")", kText}},
       alternative_of<ChatRequest>()},
      {"chat edit",
       "chat",
       {{"type", R"("edit")", kChoice},
        {"chat_id", R"("108")", kId},
        {"id", R"("780860112233445566")", kId},
        {"content", R"("hi!")", kText}},
       alternative_of<ChatRequest>()},
      {"load chat",
       "load",
       {{"type", R"("chat")", kChoice},
        {"load_id", R"("108")", kId},
        {"datetime", R"("MjAyNi0zLTc=")", kText},
        {"count", "50", kCount}},
       alternative_of<LoadChatRequest>()},
      {"load mutual_users",
       "load",
       {{"type", R"("mutual_users")", kChoice}},
       alternative_of<LoadFriendsRequest>()},
      {"load guilds",
       "load",
       {{"type", R"("guilds")", kChoice}},
       alternative_of<LoadGuildsRequest>()},
      {"load guild_members",
       "load",
       {{"type", R"("guild_members")", kChoice}, {"guild_id", R"("77")", kId}},
       alternative_of<LoadGuildMembersRequest>(),
       true,
       Errc::kInvalidPayload},
      friend_op("request"),
      friend_op("response"),
      friend_op("remove"),
      friend_op("delete"),
      {"guild create",
       "guild",
       {{"type", R"("create")", kChoice}, {"name", R"("crew")", kText}},
       guild,
       true},
      {"guild rename",
       "guild",
       {{"type", R"("rename")", kChoice}, {"guild_id", R"("77")", kId}, {"name", R"("c")", kText}},
       guild,
       true},
      {"guild add",
       "guild",
       {{"type", R"("add")", kChoice}, {"guild_id", R"("77")", kId}, {"name", R"("bob")", kText}},
       guild,
       true},
      {"guild remove",
       "guild",
       {{"type", R"("remove")", kChoice},
        {"guild_id", R"("77")", kId},
        {"name", R"("bob")", kText}},
       guild,
       true},
      {"guild leave",
       "guild",
       {{"type", R"("leave")", kChoice}, {"guild_id", R"("77")", kId}},
       guild,
       true},
      {"guild delete",
       "guild",
       {{"type", R"("delete")", kChoice}, {"guild_id", "77", kId}},
       guild,
       true},
      {"block block",
       "block",
       {{"type", R"("block")", kChoice}, {"name", R"("bob")", kText}},
       alternative_of<BlockRequest>(),
       true},
      {"block unblock",
       "block",
       {{"type", R"("unblock")", kChoice}, {"name", R"("bob")", kText}},
       alternative_of<BlockRequest>(),
       true},
      {"load blocked_users",
       "load",
       {{"type", R"("blocked_users")", kChoice}},
       alternative_of<LoadBlockedRequest>(),
       true,
       Errc::kInvalidPayload},
  };
}

// A replacement for one field's value; `json` empty: the field is dropped.
struct Mutation {
  const char* label;
  std::optional<std::string> json;
};

const std::vector<Mutation>& mutations() {
  static const std::vector<Mutation> kAll = {
      {"missing", std::nullopt},
      {"null", "null"},
      {"integer", "7"},
      {"zero", "0"},
      {"negative", "-7"},
      {"fraction", "1.5"},
      {"beyond int64", "1e30"},
      {"beyond int64 integer", "18446744073709551615"},
      {"true", "true"},
      {"false", "false"},
      {"array", "[]"},
      {"array of a valid id", R"(["7"])"},
      {"object", "{}"},
      {"empty string", R"("")"},
      {"word", R"("abc")"},
      {"numeric string", R"("12")"},
      {"zero string", R"("0")"},
      {"negative string", R"("-3")"},
      {"padded number", R"(" 12")"},
      {"string beyond int64", R"("99999999999999999999")"},
  };
  return kAll;
}

// Whether a field of `kind` accepts the mutated value (and so the frame decodes).
bool accepts(FieldKind kind, const Mutation& m) {
  if (!m.json) return false;
  const std::string& j = *m.json;
  switch (kind) {
    case FieldKind::kChoice:
      return false;  // no mutation is one of the listed words
    case FieldKind::kText:
      return j.front() == '"';
    case FieldKind::kId:
    case FieldKind::kCount:
      return j == "7" || j == R"("12")";
  }
  return false;
}

std::string frame_of(const RequestCase& c, size_t changed, const std::optional<std::string>& json) {
  std::string p = "{";
  for (size_t i = 0; i < c.fields.size(); ++i) {
    std::optional<std::string> v = i == changed ? json : c.fields[i].valid;
    if (!v) continue;
    if (p.size() > 1) p += ",";
    p += "\"" + c.fields[i].name + "\":" + *v;
  }
  return R"({"type":")" + c.type + R"(","payload":)" + p + "}}";
}

TEST(GatewayCodecTest, EveryValidRequestOfTheFieldTableDecodes) {
  for (const auto& c : request_cases()) {
    std::string f = frame_of(c, SIZE_MAX, std::nullopt);
    auto r = decode(f);
    ASSERT_TRUE(r.ok()) << f << ": " << r.error().detail;
    EXPECT_EQ(r.value().index(), c.alternative) << f;
    auto v1 = decode(f, Version::kV1);
    if (c.v2_only) {
      ASSERT_FALSE(v1.ok()) << f;
      EXPECT_EQ(v1.error().code, c.v1_error) << f;
    } else {
      ASSERT_TRUE(v1.ok()) << f;
      EXPECT_EQ(v1.value().index(), c.alternative) << f;
    }
  }
}

TEST(GatewayCodecTest, EveryFieldMissingNullOrOfTheWrongTypeIsInvalidPayload) {
  int refused = 0, accepted = 0;
  for (const auto& c : request_cases()) {
    for (size_t i = 0; i < c.fields.size(); ++i) {
      const FieldCase& field = c.fields[i];
      for (const auto& m : mutations()) {
        std::string f = frame_of(c, i, m.json);
        SCOPED_TRACE(c.label + " '" + field.name + "' " + m.label + ": " + f);
        auto r = decode(f);
        if (accepts(field.kind, m)) {
          ASSERT_TRUE(r.ok()) << r.error().detail;
          EXPECT_EQ(r.value().index(), c.alternative);
          ++accepted;
        } else {
          ASSERT_FALSE(r.ok());
          EXPECT_EQ(r.error().code, Errc::kInvalidPayload);
          // The reason names the field.
          EXPECT_NE(r.error().detail.find("'" + field.name + "'"), std::string::npos)
              << r.error().detail;
          ++refused;
        }
        // v1 decodes alike, except that it knows no guilds and no guild_members load.
        auto v1 = decode(f, Version::kV1);
        EXPECT_EQ(v1.ok(), r.ok() && !c.v2_only);
        if (!v1.ok() && (c.v2_only || !r.ok())) {
          EXPECT_EQ(v1.error().code, c.v2_only ? c.v1_error : r.error().code);
        }
      }
    }
  }
  // The table is not empty and both outcomes happen.
  EXPECT_GT(refused, 500);
  EXPECT_GT(accepted, 50);
}

TEST(GatewayCodecTest, EveryRequestRefusesAMissingNullOrNonObjectPayload) {
  for (const auto& c : request_cases()) {
    for (const char* payload : {"", "null", "7", R"("x")", R"("")", "true", "[]", "[{}]", "{}"}) {
      std::string f = R"({"type":")" + c.type + "\"" +
                      (*payload ? std::string(R"(,"payload":)") + payload : std::string()) + "}";
      SCOPED_TRACE(c.label + ": " + f);
      auto r = decode(f);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code, Errc::kInvalidPayload);
      EXPECT_EQ(decode(f, Version::kV1).error().code,
                c.v2_only ? c.v1_error : Errc::kInvalidPayload);
    }
  }
}

TEST(GatewayCodecTest, HeartbeatAcceptsAnyPayload) {
  for (const char* payload :
       {"null", "7", R"("x")", R"("")", "true", "[]", "{}", R"({"count":0})"}) {
    auto r = decode(std::string(R"({"type":"heartbeat","payload":)") + payload + "}");
    ASSERT_TRUE(r.ok()) << payload;
    EXPECT_EQ(std::get<HeartbeatRequest>(r.value()).payload_json, payload);
  }
}

TEST(GatewayCodecTest, EditWithoutContentIsRefusedNotADeletion) {
  // Issue 11: a missing or null content was read as "", which deletes the message.
  for (const char* f :
       {R"({"type":"chat","payload":{"type":"edit","chat_id":"7","id":"99"}})",
        R"({"type":"chat","payload":{"type":"edit","chat_id":"7","id":"99","content":null}})"}) {
    auto r = decode(f, Version::kV1);
    ASSERT_FALSE(r.ok()) << f;
    EXPECT_EQ(r.error().code, Errc::kInvalidPayload);
    EXPECT_NE(r.error().detail.find("'content'"), std::string::npos) << r.error().detail;
  }
  // Only "" deletes.
  auto del =
      decode(R"({"type":"chat","payload":{"type":"edit","chat_id":"7","id":"99","content":""}})",
             Version::kV1);
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(std::get<ChatRequest>(del.value()).action, domain::ChatAction::kEdit);
  EXPECT_EQ(std::get<ChatRequest>(del.value()).content, "");
}

TEST(GatewayCodecTest, SendWithoutContentIsRefusedNotIgnored) {
  for (const char* f :
       {R"({"type":"chat","payload":{"type":"send","chat_id":"7"}})",
        R"({"type":"chat","payload":{"type":"send","chat_id":"7","content":null}})"}) {
    auto r = decode(f, Version::kV1);
    ASSERT_FALSE(r.ok()) << f;
    EXPECT_EQ(r.error().code, Errc::kInvalidPayload);
  }
}

TEST(GatewayCodecTest, IdsAndCountsKeepTheirValuesInEitherForm) {
  auto a = decode(
      R"({"type":"chat","payload":{"type":"edit","chat_id":108,"id":"0099","content":"x"}})");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(std::get<ChatRequest>(a.value()).chat_id, 108);
  EXPECT_EQ(std::get<ChatRequest>(a.value()).message_id, 99);
  auto big =
      decode(R"({"type":"guild","payload":{"type":"leave","guild_id":"9223372036854775807"}})");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(std::get<GuildRequest>(big.value()).guild_id, INT64_MAX);
  // A count beyond any cap is clamped, whichever form it came in.
  for (const char* count : {"5000000000", R"("5000000000")"}) {
    auto r = decode(std::string(R"({"type":"load","payload":{"type":"chat","load_id":"1",)") +
                    R"("datetime":"x","count":)" + count + "}}");
    ASSERT_TRUE(r.ok()) << count;
    EXPECT_EQ(std::get<LoadChatRequest>(r.value()).count, 1 << 30);
  }
  auto s = decode(
      R"({"type":"load","payload":{"type":"chat","load_id":"1","datetime":"","count":"3"}})");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(std::get<LoadChatRequest>(s.value()).count, 3);
  EXPECT_EQ(std::get<LoadChatRequest>(s.value()).datetime_b64, "");
}

TEST(GatewayCodecTest, GuildFramesAreUnknownOnV1WhateverTheirPayload) {
  for (const char* f : {R"({"type":"guild","payload":{"type":"create","name":"x"}})",
                        R"({"type":"guild","payload":{}})", R"({"type":"guild"})",
                        R"({"type":"guild","payload":7})"}) {
    auto r = decode(f, Version::kV1);
    ASSERT_FALSE(r.ok()) << f;
    EXPECT_EQ(r.error().code, Errc::kUnknownType) << f;
    EXPECT_EQ(r.error().detail, "unknown type 'guild'.");
  }
}

TEST(GatewayCodecTest, RequestIdIsReadOnV2AndComesBackWithTheAnswer) {
  auto sent =
      decode_frame(R"({"type":"chat","payload":{"type":"send","chat_id":"7","content":"hi"},)"
                   R"("request_id":"c-1 \"x\"~"})",
                   Version::kV2);
  ASSERT_TRUE(sent.request.ok());
  EXPECT_EQ(sent.request_id, "c-1 \"x\"~");
  EXPECT_EQ(with_request_id(encode_ok(), sent.request_id),
            R"({"type":"ok","payload":{},"request_id":"c-1 \"x\"~"})");
  // A heartbeat's payload is any value: the id sits beside it, never inside.
  auto beat =
      decode_frame(R"({"request_id":"hb","type":"heartbeat","payload":{"count":3}})", Version::kV2);
  ASSERT_TRUE(beat.request.ok());
  EXPECT_EQ(beat.request_id, "hb");
  EXPECT_EQ(with_request_id(
                encode_heartbeat(std::get<HeartbeatRequest>(beat.request.value()).payload_json),
                beat.request_id),
            R"({"type":"heartbeat","payload":{"count":3},"request_id":"hb"})");
  // No id: no id, and the frame is byte for byte what it was.
  auto plain = decode_frame(R"({"type":"load","payload":{"type":"guilds"}})", Version::kV2);
  ASSERT_TRUE(plain.request.ok());
  EXPECT_EQ(plain.request_id, "");
  EXPECT_EQ(with_request_id(encode_ok(), plain.request_id), encode_ok());
  EXPECT_EQ(decode_frame(std::string(R"({"type":"heartbeat","request_id":")") +
                             std::string(kMaxRequestIdLength, 'z') + "\"}",
                         Version::kV2)
                .request_id.size(),
            kMaxRequestIdLength);
}

TEST(GatewayCodecTest, ASendsNonceIsReadOnV2OnlyAndComesBackInThePayload) {
  auto sent = decode(R"({"type":"chat","payload":{"type":"send","chat_id":"7","content":"hi",)"
                     R"("nonce":"n-1 \"x\"~"}})",
                     Version::kV2);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(std::get<ChatRequest>(sent.value()).nonce, "n-1 \"x\"~");
  // v1 never reads it, whatever it holds; an edit names no nonce, so ignores it.
  for (const char* nonce : {R"("n-1")", "null", "7", R"("")"}) {
    std::string v1 = std::string(R"({"type":"chat","payload":{"type":"send","chat_id":"7",)") +
                     R"("content":"hi","nonce":)" + nonce + "}}";
    auto r = decode(v1, Version::kV1);
    ASSERT_TRUE(r.ok()) << v1;
    EXPECT_EQ(std::get<ChatRequest>(r.value()).nonce, "") << v1;
    std::string edit = std::string(R"({"type":"chat","payload":{"type":"edit","chat_id":"7",)") +
                       R"("id":"9","content":"hi","nonce":)" + nonce + "}}";
    auto e = decode(edit, Version::kV2);
    ASSERT_TRUE(e.ok()) << edit;
    EXPECT_EQ(std::get<ChatRequest>(e.value()).nonce, "") << edit;
  }
  auto plain = decode(R"({"type":"chat","payload":{"type":"send","chat_id":"7","content":"hi"}})",
                      Version::kV2);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(std::get<ChatRequest>(plain.value()).nonce, "");

  domain::ChatMessage m{11, 7, 5, "hi", 0, std::nullopt, 1};
  std::string frame = encode_chat(Version::kV2, domain::ChatAction::kSend, m, 0);
  EXPECT_EQ(with_nonce(frame, ""), frame);
  std::string with = with_request_id(with_nonce(frame, "n-1 \"x\""), "r1");
  EXPECT_EQ(with.substr(frame.size() - 2), R"(,"nonce":"n-1 \"x\""},"request_id":"r1"})");
  EXPECT_EQ(with.substr(0, frame.size() - 2), frame.substr(0, frame.size() - 2));
}

TEST(GatewayCodecTest, TypingIsAV2RequestNamingAChatAndAV2OnlyEvent) {
  auto r = decode(R"({"type":"typing","payload":{"chat_id":"108"}})", Version::kV2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<TypingRequest>(r.value()).chat_id, 108);
  for (const char* bad :
       {R"({"type":"typing","payload":{}})", R"({"type":"typing","payload":{"chat_id":null}})",
        R"({"type":"typing","payload":{"chat_id":"x"}})", R"({"type":"typing"})",
        R"({"type":"typing","payload":[]})"}) {
    auto e = decode(bad, Version::kV2);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().code, Errc::kInvalidPayload) << bad;
  }
  auto v1 = decode(R"({"type":"typing","payload":{"chat_id":"108"}})", Version::kV1);
  ASSERT_FALSE(v1.ok());
  EXPECT_EQ(v1.error().code, Errc::kUnknownType);
  EXPECT_EQ(encode_typing(108, 7, 8),
            R"({"type":"typing","payload":{"chat_id":"108","user_id":"7","expires_in":8}})");
}

TEST(GatewayCodecTest, ReadIsAV2RequestNamingAChatAndAMessage) {
  auto r = decode(R"({"type":"read","payload":{"chat_id":"108","message_id":77}})", Version::kV2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::get<ReadRequest>(r.value()).chat_id, 108);
  EXPECT_EQ(std::get<ReadRequest>(r.value()).message_id, 77);
  const std::pair<const char*, const char*> bad[] = {
      {R"({"type":"read","payload":{"message_id":"1"}})", "chat_id"},
      {R"({"type":"read","payload":{"chat_id":null,"message_id":"1"}})", "chat_id"},
      {R"({"type":"read","payload":{"chat_id":"","message_id":"1"}})", "chat_id"},
      {R"({"type":"read","payload":{"chat_id":"1"}})", "message_id"},
      {R"({"type":"read","payload":{"chat_id":"1","message_id":null}})", "message_id"},
      {R"({"type":"read","payload":{"chat_id":"1","message_id":true}})", "message_id"},
      {R"({"type":"read","payload":{"chat_id":"1","message_id":"x"}})", "message_id"},
      {R"({"type":"read","payload":[]})", "payload"},
      {R"({"type":"read"})", "payload"},
  };
  for (const auto& [frame, field] : bad) {
    auto e = decode(frame, Version::kV2);
    ASSERT_FALSE(e.ok()) << frame;
    EXPECT_EQ(e.error().code, Errc::kInvalidPayload) << frame;
    EXPECT_NE(e.error().detail.find(field), std::string::npos) << frame << ": " << e.error().detail;
  }
  EXPECT_EQ(encode_read(108, 77),
            R"({"type":"read","payload":{"chat_id":"108","message_id":"77"}})");
}

TEST(GatewayCodecTest, ChatSummariesGiveTheMarkTheCountAndTheNewestMessage) {
  domain::ChatSummary read{
      108, 70, 2, domain::ChatMessage{77, 108, 5, "hi", 1640186356000880, std::nullopt, 41}, 43};
  domain::ChatSummary empty{900, 0, 0, std::nullopt, 0};
  // The last message shows the message, not a change: no seq (the chat's is last_seq).
  const std::string expected =
      R"([{"chat_id":"108","last_read_id":"70","unread_count":2,"last_message":{"type":"send",)"
      R"("id":"77","user_id":"5","chat_id":"108","content":"hi",)"
      R"("created_at":"2021-12-23 00:19:16.000880","edited_at":null},"last_seq":43},)"
      R"({"chat_id":"900","last_read_id":null,"unread_count":0,"last_message":null,)"
      R"("last_seq":0}])";
  EXPECT_EQ(encode_chat_summaries({read, empty}, 9 * 3600),
            R"({"type":"load","payload":{"type":"chats","chats":)" + expected + "}}");
  // v2's auth answer carries them as `chats`, null when they could not be read; v1's never.
  domain::UserView me{1, "me", std::nullopt};
  domain::FriendState st;
  std::vector<domain::ChatSummary> chats{read, empty};
  AuthExtras extras;
  extras.chats = &chats;
  extras.utc_offset_s = 9 * 3600;
  std::string v2 = encode_auth(Version::kV2, me, st, extras);
  EXPECT_NE(v2.find(R"("chats":)" + expected + ","), std::string::npos) << v2;
  EXPECT_NE(encode_auth(Version::kV2, me, st).find(R"("chats":null,)"), std::string::npos);
  EXPECT_EQ(encode_auth(Version::kV1, me, st, extras), encode_auth(Version::kV1, me, st));
  auto load = decode(R"({"type":"load","payload":{"type":"chats"}})", Version::kV2);
  ASSERT_TRUE(load.ok());
  EXPECT_TRUE(std::holds_alternative<LoadChatsRequest>(load.value()));
}

TEST(GatewayCodecTest, AV2ChangeEndsWithItsSeqAndHistoryNever) {
  domain::ChatMessage m{10, 3, 1, "hi", 1640186356000880, std::nullopt, 42};
  EXPECT_EQ(encode_chat_change(domain::ChatAction::kSend, m, 9 * 3600),
            R"({"type":"chat","payload":{"type":"send","id":"10","user_id":"1","chat_id":"3",)"
            R"("content":"hi","created_at":"2021-12-23 00:19:16.000880","edited_at":null,)"
            R"("seq":42}})");
  // An echo's nonce comes last, after seq.
  EXPECT_EQ(with_nonce(encode_chat_change(domain::ChatAction::kSend, m, 9 * 3600), "n"),
            R"({"type":"chat","payload":{"type":"send","id":"10","user_id":"1","chat_id":"3",)"
            R"("content":"hi","created_at":"2021-12-23 00:19:16.000880","edited_at":null,)"
            R"("seq":42,"nonce":"n"}})");
  EXPECT_EQ(encode_chat(Version::kV2, domain::ChatAction::kSend, m, 9 * 3600).find("seq"),
            std::string::npos);
  EXPECT_EQ(encode_chat(Version::kV1, domain::ChatAction::kSend, m, 9 * 3600).find("seq"),
            std::string::npos);
}

TEST(GatewayCodecTest, CatchUpListsEachChatsPositionOrNullWhenNotRead) {
  std::vector<domain::ChatCatchUp> chats{{108, 43, false, {}}, {900, 1893, true, {}}};
  EXPECT_EQ(encode_catch_up(&chats),
            R"({"type":"catch_up","payload":{"chats":[{"chat_id":"108","seq":43,"reload":false},)"
            R"({"chat_id":"900","seq":1893,"reload":true}]}})");
  std::vector<domain::ChatCatchUp> none;
  EXPECT_EQ(encode_catch_up(&none), R"({"type":"catch_up","payload":{"chats":[]}})");
  EXPECT_EQ(encode_catch_up(nullptr), R"({"type":"catch_up","payload":{"chats":null}})");
}

TEST(GatewayCodecTest, AV2AuthMayGiveThePositionsToCatchUpFrom) {
  auto with = decode(R"({"type":"auth","payload":{"auth":"t","since":{"108":41,"900":"7"}}})",
                     Version::kV2);
  ASSERT_TRUE(with.ok());
  const auto& since = std::get<AuthRequest>(with.value()).since;
  ASSERT_TRUE(since);
  ASSERT_EQ(since->size(), 2u);
  EXPECT_EQ((*since)[0].wire_chat_id, 108);
  EXPECT_EQ((*since)[0].seq, 41);
  EXPECT_EQ((*since)[1].wire_chat_id, 900);
  EXPECT_EQ((*since)[1].seq, 7);
  auto empty = decode(R"({"type":"auth","payload":{"auth":"t","since":{}}})", Version::kV2);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(std::get<AuthRequest>(empty.value()).since->empty());
  auto without = decode(R"({"type":"auth","payload":{"auth":"t"}})", Version::kV2);
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(std::get<AuthRequest>(without.value()).since);
  // v1 never reads it, whatever it holds.
  auto v1 = decode(R"({"type":"auth","payload":{"auth":"t","since":null}})", Version::kV1);
  ASSERT_TRUE(v1.ok());
  EXPECT_FALSE(std::get<AuthRequest>(v1.value()).since);
  const char* bad[] = {
      R"({"type":"auth","payload":{"auth":"t","since":null}})",
      R"({"type":"auth","payload":{"auth":"t","since":[]}})",
      R"({"type":"auth","payload":{"auth":"t","since":"108"}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"x":1}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"0":1}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"+5":1}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"":1}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"108":-1}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"108":"-1"}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"108":2.5}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"108":null}}})",
      R"({"type":"auth","payload":{"auth":"t","since":{"108":{}}}})",
  };
  for (const char* frame : bad) {
    auto e = decode(frame, Version::kV2);
    ASSERT_FALSE(e.ok()) << frame;
    EXPECT_EQ(e.error().code, Errc::kInvalidPayload) << frame;
    EXPECT_NE(e.error().detail.find("'since'"), std::string::npos) << e.error().detail;
  }
  std::string many = R"({"type":"auth","payload":{"auth":"t","since":{)";
  for (int i = 1; i <= 1001; ++i) many += (i > 1 ? ",\"" : "\"") + std::to_string(i) + "\":0";
  auto too_many = decode(many + "}}}", Version::kV2);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().code, Errc::kInvalidPayload);
  for (const char* frame :
       {R"({"type":"auth","payload":{"auth":"t","since":{"1":1,"1":2}}})",
        R"({"type":"auth","payload":{"auth":"t","since":{"108":1,"0108":2}}})"}) {
    auto twice = decode(frame, Version::kV2);
    ASSERT_FALSE(twice.ok()) << frame;
    EXPECT_EQ(twice.error().code, Errc::kMalformedFrame) << frame;
  }
}

TEST(GatewayCodecTest, SearchIsAV2RequestWithAQueryAndOptionalChatAndOffset) {
  auto full = decode(R"({"type":"search","payload":{"query":"pizza","chat_id":"108","offset":20}})",
                     Version::kV2);
  ASSERT_TRUE(full.ok());
  const auto& r = std::get<SearchRequest>(full.value());
  EXPECT_EQ(r.query, "pizza");
  EXPECT_EQ(r.chat_id, 108);
  EXPECT_EQ(r.offset, 20);
  auto bare = decode(R"({"type":"search","payload":{"query":""}})", Version::kV2);
  ASSERT_TRUE(bare.ok());  // "" is the domain's to refuse (no word)
  EXPECT_FALSE(std::get<SearchRequest>(bare.value()).chat_id);
  EXPECT_EQ(std::get<SearchRequest>(bare.value()).offset, 0);
  const std::pair<const char*, const char*> bad[] = {
      {R"({"type":"search","payload":{}})", "query"},
      {R"({"type":"search","payload":{"query":null}})", "query"},
      {R"({"type":"search","payload":{"query":7}})", "query"},
      {R"({"type":"search","payload":{"query":"a","chat_id":null}})", "chat_id"},
      {R"({"type":"search","payload":{"query":"a","chat_id":"0"}})", "chat_id"},
      {R"({"type":"search","payload":{"query":"a","offset":null}})", "offset"},
      {R"({"type":"search","payload":{"query":"a","offset":-1}})", "offset"},
      {R"({"type":"search","payload":{"query":"a","offset":1.5}})", "offset"},
      {R"({"type":"search","payload":{"query":"a","offset":"x"}})", "offset"},
      {R"({"type":"search"})", "payload"},
  };
  for (const auto& [frame, field] : bad) {
    auto e = decode(frame, Version::kV2);
    ASSERT_FALSE(e.ok()) << frame;
    EXPECT_EQ(e.error().code, Errc::kInvalidPayload) << frame;
    EXPECT_NE(e.error().detail.find(field), std::string::npos) << frame << ": " << e.error().detail;
  }
  auto v1 = decode(R"({"type":"search","payload":{"query":"a"}})", Version::kV1);
  ASSERT_FALSE(v1.ok());
  EXPECT_EQ(v1.error().code, Errc::kUnknownType);

  domain::SearchPage page;
  page.results.push_back(domain::ChatMessage{77, 108, 5, "pizza", 1640186356000880, std::nullopt});
  page.more = true;
  EXPECT_EQ(encode_search_results(page, 20, 9 * 3600),
            R"({"type":"search","payload":{"offset":20,"more":true,"results":[{"type":"send",)"
            R"("id":"77","user_id":"5","chat_id":"108","content":"pizza",)"
            R"("created_at":"2021-12-23 00:19:16.000880","edited_at":null}]}})");
  EXPECT_EQ(encode_search_results({}, 0, 0),
            R"({"type":"search","payload":{"offset":0,"more":false,"results":[]}})");
}

TEST(GatewayCodecTest, PresenceIsAV2RequestWithABooleanAndAV2OnlyEvent) {
  auto r = decode(R"({"type":"presence","payload":{"visible":false}})", Version::kV2);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(std::get<PresenceRequest>(r.value()).visible);
  for (const char* bad :
       {R"({"type":"presence","payload":{}})", R"({"type":"presence","payload":{"visible":null}})",
        R"({"type":"presence","payload":{"visible":1}})",
        R"({"type":"presence","payload":{"visible":"true"}})",
        R"({"type":"presence","payload":{"visible":""}})", R"({"type":"presence","payload":[]})"}) {
    auto e = decode(bad, Version::kV2);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().code, Errc::kInvalidPayload) << bad;
  }
  auto v1 = decode(R"({"type":"presence","payload":{"visible":true}})", Version::kV1);
  ASSERT_FALSE(v1.ok());
  EXPECT_EQ(v1.error().code, Errc::kUnknownType);
  EXPECT_EQ(encode_presence(7, true),
            R"({"type":"presence","payload":{"user_id":"7","online":true}})");
  // v2's auth answer names the friends shown online, and my own setting.
  domain::UserView me{1, "me", std::nullopt};
  domain::FriendState st;
  AuthExtras extras;
  extras.online = {2, 3};
  extras.show_presence = false;
  std::string v2 = encode_auth(Version::kV2, me, st, extras);
  EXPECT_NE(v2.find(R"("online":["2","3"],"show_presence":false}})"), std::string::npos) << v2;
  EXPECT_EQ(encode_auth(Version::kV1, me, st, extras), encode_auth(Version::kV1, me, st));
}

TEST(GatewayCodecTest, ANonceThatBreaksItsRuleIsInvalidPayloadOnV2) {
  const std::string too_long(kMaxRequestIdLength + 1, 'a');
  for (const std::string& nonce :
       {std::string("null"), std::string("7"), std::string("true"), std::string("[\"a\"]"),
        std::string("{}"), std::string("\"\""), "\"" + too_long + "\"", std::string("\"a\\tb\""),
        std::string("\"caf\\u00e9\""), std::string("\"\xea\xb0\x80\"")}) {
    std::string frame =
        std::string(R"({"type":"chat","payload":{"type":"send","chat_id":"7","content":"hi",)") +
        R"("nonce":)" + nonce + R"(},"request_id":"r9"})";
    auto r = decode_frame(frame, Version::kV2);
    ASSERT_FALSE(r.request.ok()) << frame;
    EXPECT_EQ(r.request.error().code, Errc::kInvalidPayload) << frame;
    EXPECT_EQ(r.request.error().detail,
              "chat send 'nonce' must be a string of 1 to 64 printable ASCII characters.");
    EXPECT_EQ(r.request_id, "r9") << frame;
  }
  std::string longest = std::string(R"({"type":"chat","payload":{"type":"send","chat_id":"7",)") +
                        R"("content":"hi","nonce":")" + std::string(kMaxRequestIdLength, 'z') +
                        "\"}}";
  auto ok = decode(longest, Version::kV2);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(std::get<ChatRequest>(ok.value()).nonce.size(), kMaxRequestIdLength);
}

TEST(GatewayCodecTest, AnErrorAnswersWithTheRequestIdOfTheFrameItRefuses) {
  // A bad field, an unknown type: the frame's id is known, so the error carries it.
  auto bad_field = decode_frame(R"({"type":"chat","payload":{"type":"send","chat_id":"7"},)"
                                R"("request_id":"r1"})",
                                Version::kV2);
  ASSERT_FALSE(bad_field.request.ok());
  EXPECT_EQ(bad_field.request.error().code, Errc::kInvalidPayload);
  EXPECT_EQ(bad_field.request_id, "r1");
  auto unknown = decode_frame(R"({"type":"dance","request_id":"r2"})", Version::kV2);
  EXPECT_EQ(unknown.request.error().code, Errc::kUnknownType);
  EXPECT_EQ(unknown.request_id, "r2");
  EXPECT_EQ(with_request_id(encode_error(Errc::kContentTooLong, "too long"), "r1"),
            R"({"type":"error","payload":{"code":"4022","reason":"too long"},"request_id":"r1"})");
  // Malformed frames have no id to trust.
  for (const char* f : {R"({"payload":{},"request_id":"r3"})",
                        R"({"type":"heartbeat","request_id":"r3","request_id":"r4"})"}) {
    auto r = decode_frame(f, Version::kV2);
    EXPECT_EQ(r.request.error().code, Errc::kMalformedFrame) << f;
    EXPECT_EQ(r.request_id, "") << f;
  }
}

TEST(GatewayCodecTest, ARequestIdThatBreaksItsRuleIsInvalidPayloadOnV2) {
  const std::string too_long(kMaxRequestIdLength + 1, 'a');
  for (const std::string& id :
       {std::string("null"), std::string("7"), std::string("true"), std::string("[\"a\"]"),
        std::string("{}"), std::string("\"\""), "\"" + too_long + "\"", std::string("\"a\\tb\""),
        std::string("\"\\u007f\""), std::string("\"caf\\u00e9\""),
        std::string("\"\xea\xb0\x80\"")}) {
    for (const char* body :
         {R"("type":"heartbeat","payload":{"count":0})",
          R"("type":"chat","payload":{"type":"send","chat_id":"7","content":"hi"})"}) {
      std::string frame = std::string("{") + body + R"(,"request_id":)" + id + "}";
      auto r = decode_frame(frame, Version::kV2);
      ASSERT_FALSE(r.request.ok()) << frame;
      EXPECT_EQ(r.request.error().code, Errc::kInvalidPayload) << frame;
      EXPECT_EQ(r.request.error().detail,
                "'request_id' must be a string of 1 to 64 printable ASCII characters.");
      EXPECT_EQ(r.request_id, "") << frame;
    }
  }
}

TEST(GatewayCodecTest, V1NeverReadsARequestId) {
  // Whatever its value, v1 treats request_id as any field it does not know: ignored.
  for (const char* id : {R"("ok")", "null", "7", R"("")", R"(["x"])"}) {
    std::string frame =
        std::string(R"({"type":"chat","payload":{"type":"send","chat_id":"7","content":"hi"},)") +
        R"("request_id":)" + id + "}";
    auto r = decode_frame(frame, Version::kV1);
    ASSERT_TRUE(r.request.ok()) << frame;
    EXPECT_EQ(r.request_id, "") << frame;
    auto bad = decode_frame(std::string(R"({"type":"chat","payload":{},"request_id":)") + id + "}",
                            Version::kV1);
    EXPECT_EQ(bad.request.error().code, Errc::kInvalidPayload);
    EXPECT_EQ(bad.request.error().detail, "chat needs 'type' (send or edit).");
    EXPECT_EQ(bad.request_id, "");
  }
}

}  // namespace
}  // namespace rwd::protocol
