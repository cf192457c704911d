// The gateway session driven in-process, in the published app's order of frames (SPEC §2,
// docs/PROTOCOL.md §2): real Sessions over the real services and a real SQLite store, a fake
// transport in place of the network. Each frame is compared whole, as parsed JSON.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gateway_harness.h"

namespace rwd::gateway::testing {
namespace {

using protocol::CloseCode;
using protocol::Version;

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc.HasParseError()) << "not JSON: " << text;
  return doc;
}

std::string compact(const rapidjson::Value& value) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  value.Accept(w);
  return sb.GetString();
}

// Equal as JSON (member order aside): the whole frame, every field.
::testing::AssertionResult same_json(const std::string& actual, const std::string& expected) {
  if (actual.empty())
    return ::testing::AssertionFailure() << "no frame came; expected " << expected;
  rapidjson::Document a = parse(actual), e = parse(expected);
  if (a.HasParseError() || e.HasParseError()) return ::testing::AssertionFailure();
  if (a == e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "frame    " << compact(a) << "\nexpected " << compact(e);
}

std::string id(int64_t value) { return "\"" + std::to_string(value) + "\""; }

std::string user_json(const TestUser& u) {
  return R"({"id":)" + id(u.id) + R"(,"name":")" + u.name + R"(","profile":null})";
}

std::string auth_frame(const std::string& token) {
  return R"({"type":"auth","payload":{"auth":")" + token + R"("}})";
}

// A string field of a frame's payload ("" when missing).
std::string payload_string(const std::string& frame, const char* key) {
  rapidjson::Document doc = parse(frame);
  if (!doc.IsObject() || !doc.HasMember("payload") || !doc["payload"].IsObject()) return {};
  const auto& payload = doc["payload"];
  if (!payload.HasMember(key) || !payload[key].IsString()) return {};
  return payload[key].GetString();
}

// The v1 auth answer: the friend lists are JSON text inside strings (the app decodes them so).
std::string v1_auth(const TestUser& self, const std::string& requests, const std::string& friends) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  rapidjson::Value payload(rapidjson::kObjectType);
  rapidjson::Document self_user = parse(user_json(self));
  payload.AddMember("self_user", rapidjson::Value(self_user, a), a);
  payload.AddMember("mutual_requests", rapidjson::Value(requests.c_str(), a), a);
  payload.AddMember("mutual_users", rapidjson::Value(friends.c_str(), a), a);
  doc.AddMember("type", "auth", a);
  doc.AddMember("payload", payload, a);
  return compact(doc);
}

// A v1 auth frame compared field by field, the string-held lists parsed as JSON too.
::testing::AssertionResult is_v1_auth(const std::string& frame, const TestUser& self,
                                      const std::string& requests, const std::string& friends) {
  rapidjson::Document doc = parse(frame);
  if (!doc.IsObject() || !doc.HasMember("payload") || !doc["payload"].IsObject())
    return ::testing::AssertionFailure() << "not an auth frame: " << frame;
  auto& payload = doc["payload"];
  const std::pair<const char*, const std::string&> lists[] = {{"mutual_requests", requests},
                                                              {"mutual_users", friends}};
  for (const auto& [key, expected] : lists) {
    if (!payload.HasMember(key) || !payload[key].IsString())
      return ::testing::AssertionFailure() << key << " is not a string in " << frame;
    // Compare the list as JSON, then put the expected text back so the frame compares whole.
    auto listed = same_json(payload[key].GetString(), expected);
    if (!listed) return listed << " (" << key << ")";
    payload[key].SetString(expected.c_str(), doc.GetAllocator());
  }
  return same_json(compact(doc), v1_auth(self, requests, friends));
}

const char* const kOk = R"({"type":"ok","payload":{}})";
const char* const kHeartbeat0 = R"({"type":"heartbeat","payload":{"count":0}})";
const char* const kLoadFriends = R"({"type":"load","payload":{"type":"mutual_users"}})";

class GatewaySessionTest : public ::testing::Test {
 protected:
  // The app's start: heartbeat, then auth (answered with the auth response).
  std::unique_ptr<Client> signed_in(const TestUser& user, Version version = Version::kV1) {
    auto client = harness_.connect(version);
    client->heartbeat();
    EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
    client->send(auth_frame(user.token));
    std::string answer = client->next();
    EXPECT_NE(answer.find(R"("type":"auth")"), std::string::npos) << answer;
    return client;
  }

  GatewayHarness harness_;
};

TEST_F(GatewaySessionTest, HeartbeatComesFirstAndIsEchoedUnchanged) {
  auto client = harness_.connect();
  client->send(R"({"type":"heartbeat","payload":{"count":0,"any":["value",1.5,null]}})");
  EXPECT_TRUE(same_json(client->next(),
                        R"({"type":"heartbeat","payload":{"count":0,"any":["value",1.5,null]}})"));
  client->send(R"({"type":"heartbeat","payload":7})");
  EXPECT_TRUE(same_json(client->next(), R"({"type":"heartbeat","payload":7})"));
  EXPECT_FALSE(client->close_code());
}

TEST_F(GatewaySessionTest, AuthBeforeAnyHeartbeatClosesWith4101) {
  TestUser alice = harness_.create_user("alice");
  auto client = harness_.connect();
  client->send(auth_frame(alice.token));
  ASSERT_TRUE(client->wait_for_close());
  EXPECT_EQ(client->close_code(), CloseCode::kAuthBeforeHeartbeat);
  EXPECT_TRUE(client->frames().empty());
}

TEST_F(GatewaySessionTest, LoadBeforeAuthIsHeldAndAnsweredAfterAuth) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  harness_.befriend(alice, bob);
  auto client = harness_.connect();
  // The app's order: heartbeat, load mutual_users (before auth, because of an await), auth.
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(kLoadFriends);
  EXPECT_EQ(client->unread(), 0u);  // held, not answered nor refused
  client->send(auth_frame(alice.token));
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[]", "[" + user_json(bob) + "]"));
  EXPECT_TRUE(
      same_json(client->next(), R"({"type":"mutual_users","payload":[)" + user_json(bob) + "]}"));
  harness_.settle();
  EXPECT_EQ(client->unread(), 0u);
}

TEST_F(GatewaySessionTest, HeldRequestsAreDroppedWhenAuthFails) {
  TestUser alice = harness_.create_user("alice");
  auto client = harness_.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(kLoadFriends);
  client->send(auth_frame("not-a-token"));
  EXPECT_TRUE(same_json(
      client->next(),
      R"({"type":"error","payload":{"code":"4000","reason":"the token is not valid."}})"));
  // The held load was dropped: a good auth now answers only itself.
  client->send(auth_frame(alice.token));
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[]", "[]"));
  harness_.settle();
  EXPECT_EQ(client->unread(), 0u);
  EXPECT_FALSE(client->close_code());
}

// A node among several: a token issued by another node's login moments ago is in the store
// but not yet in this node's cache. The auth asks the store, and the requests sent meanwhile
// wait for it and run after it, in order.
TEST(GatewayReadThroughTest, AuthWithATokenOnlyTheStoreKnowsSucceedsAndRunsTheHeldRequests) {
  GatewayHarness harness(HarnessOptions{.read_through = true, .session = {}});
  TestUser alice = harness.create_user("alice");
  std::string token = harness.token_only_in_store(alice);
  auto client = harness.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(token));
  client->send(kLoadFriends);  // held while the auth waits for the store
  client->heartbeat(1);        // never held (answered before or after the auth)
  std::vector<std::string> frames = {client->next(), client->next(), client->next()};
  const std::string heartbeat = R"({"type":"heartbeat","payload":{"count":1}})";
  auto beat = std::find_if(frames.begin(), frames.end(),
                           [&](const std::string& f) { return same_json(f, heartbeat); });
  ASSERT_NE(beat, frames.end()) << frames[0] << "\n" << frames[1] << "\n" << frames[2];
  frames.erase(beat);
  EXPECT_TRUE(is_v1_auth(frames[0], alice, "[]", "[]"));
  EXPECT_TRUE(same_json(frames[1], R"({"type":"mutual_users","payload":[]})"));
  // The token is in the cache now: the next auth needs no read.
  client->send(auth_frame(token));
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[]", "[]"));
  EXPECT_FALSE(client->close_code());
}

TEST(GatewayReadThroughTest, AnUnknownTokenIsStillRefusedAfterAskingTheStore) {
  GatewayHarness harness(HarnessOptions{.read_through = true, .session = {}});
  TestUser alice = harness.create_user("alice");
  auto client = harness.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(kLoadFriends);
  client->send(auth_frame("not-a-token-anyone-issued"));
  EXPECT_TRUE(same_json(
      client->next(),
      R"({"type":"error","payload":{"code":"4000","reason":"the token is not valid."}})"));
  client->send(auth_frame(alice.token));  // the held load was dropped with the refusal
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[]", "[]"));
  harness.settle();
  EXPECT_EQ(client->unread(), 0u);
}

// An authenticated session refreshing with a token nobody issued: the refusal is answered and
// the session keeps its user, so what it sent while the store was asked still runs.
TEST(GatewayReadThroughTest, ARefusedRefreshKeepsTheRequestsSentMeanwhile) {
  GatewayHarness harness(HarnessOptions{.read_through = true, .session = {}});
  TestUser alice = harness.create_user("alice");
  auto client = harness.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(alice.token));
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[]", "[]"));
  client->send(auth_frame("a-token-nobody-issued"));
  client->send(kLoadFriends);
  EXPECT_EQ(payload_string(client->next(), "code"), "4000");
  EXPECT_TRUE(same_json(client->next(), R"({"type":"mutual_users","payload":[]})"));
  EXPECT_FALSE(client->close_code());
}

// One process: the cache learns of every token as it commits, so the store is never asked.
// With several nodes, a session's auth answer waits until the broker confirmed the user's
// channels (EventBus::when_receiving). What the hub delivers meanwhile is kept and follows the
// answer; requests sent meanwhile are held and run after it.
TEST(GatewayBrokerWaitTest, AnAuthWaitingForTheBrokerIsAnsweredFirstThenWhatArrivedMeanwhile) {
  GatewayHarness harness;
  TestUser alice = harness.create_user("alice");
  TestUser bob = harness.create_user("bob");
  harness.befriend(alice, bob);
  auto bob_client = harness.connect();
  bob_client->heartbeat();
  EXPECT_TRUE(same_json(bob_client->next(), kHeartbeat0));
  bob_client->send(auth_frame(bob.token));
  EXPECT_TRUE(is_v1_auth(bob_client->next(), bob, "[]", "[" + user_json(alice) + "]"));

  harness.bus().hold_receiving(true);
  auto client = harness.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(alice.token));
  client->send(kLoadFriends);
  bob_client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" + id(alice.id ^ bob.id) +
                   R"(,"content":"while you wait"}})");
  EXPECT_EQ(payload_string(bob_client->next(), "content"), "while you wait");
  harness.settle();
  EXPECT_EQ(client->unread(), 0u) << "a frame came before the auth answer";

  EXPECT_EQ(harness.bus().release_receiving(), 1u);
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[]", "[" + user_json(bob) + "]"));
  EXPECT_EQ(payload_string(client->next(), "content"), "while you wait");
  EXPECT_TRUE(
      same_json(client->next(), R"({"type":"mutual_users","payload":[)" + user_json(bob) + "]}"));
  EXPECT_FALSE(client->close_code());
}

// A catch-up read after the session joined the hub covers the events kept meanwhile: those it
// replayed are not sent again, and what follows starts past its position.
TEST(GatewayBrokerWaitTest, ACatchUpDropsTheKeptEventsItReplayed) {
  GatewayHarness harness;
  TestUser alice = harness.create_user("alice");
  TestUser bob = harness.create_user("bob");
  harness.befriend(alice, bob);
  const std::string chat = id(alice.id ^ bob.id);
  auto bob_client = harness.connect(protocol::Version::kV2);
  bob_client->heartbeat();
  EXPECT_TRUE(same_json(bob_client->next(), kHeartbeat0));
  bob_client->send(auth_frame(bob.token));
  EXPECT_EQ(parse(bob_client->next())["type"].GetString(), std::string("auth"));
  auto say = [&](const std::string& text) {
    bob_client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" + chat +
                     R"(,"content":")" + text + R"("}})");
    EXPECT_EQ(payload_string(bob_client->next(), "content"), text);
  };
  say("before");

  harness.bus().hold_receiving(true);
  auto client = harness.connect(protocol::Version::kV2);
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(R"({"type":"auth","payload":{"auth":")" + alice.token + R"(","since":{)" + chat +
               R"(:0}}})");
  say("kept one");
  say("kept two");
  harness.settle();
  EXPECT_EQ(client->unread(), 0u) << "a frame came before the auth answer";

  EXPECT_EQ(harness.bus().release_receiving(), 1u);
  EXPECT_EQ(parse(client->next())["type"].GetString(), std::string("auth"));
  for (const char* text : {"before", "kept one", "kept two"})
    EXPECT_EQ(payload_string(client->next(), "content"), text);
  EXPECT_TRUE(same_json(client->next(), R"({"type":"catch_up","payload":{"chats":[{"chat_id":)" +
                                            chat + R"(,"seq":3,"reload":false}]}})"));
  say("live");
  auto live = parse(client->next());
  EXPECT_EQ(std::string(live["payload"]["content"].GetString()), "live");
  EXPECT_EQ(live["payload"]["seq"].GetInt64(), 4);
  harness.settle();
  EXPECT_EQ(client->unread(), 0u) << client->frames().back();
}

// What is kept for a waiting auth is bounded like a send queue (--send-queue-bytes): past it
// that session closes as a slow consumer (4105), and nobody else is touched.
TEST(GatewayBrokerWaitTest, FramesPastTheSendQueueCapWhileAnAuthWaitsCloseThatSessionWith4105) {
  HarnessOptions options;
  options.session.early_bytes_limit = 1000;
  GatewayHarness harness(options);
  TestUser alice = harness.create_user("alice");
  TestUser bob = harness.create_user("bob");
  harness.befriend(alice, bob);
  auto bob_client = harness.connect();
  bob_client->heartbeat();
  EXPECT_TRUE(same_json(bob_client->next(), kHeartbeat0));
  bob_client->send(auth_frame(bob.token));
  EXPECT_TRUE(is_v1_auth(bob_client->next(), bob, "[]", "[" + user_json(alice) + "]"));

  harness.bus().hold_receiving(true);
  auto client = harness.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(alice.token));
  const std::string content(300, 'x');
  for (int i = 0; i < 2; ++i) {  // two frames fit
    bob_client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" +
                     id(alice.id ^ bob.id) + R"(,"content":")" + content + R"("}})");
    EXPECT_EQ(payload_string(bob_client->next(), "content"), content);
  }
  harness.settle();
  EXPECT_FALSE(client->close_code());
  for (int i = 0; i < 3; ++i) {
    bob_client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" +
                     id(alice.id ^ bob.id) + R"(,"content":")" + content + R"("}})");
    EXPECT_EQ(payload_string(bob_client->next(), "content"), content);
  }
  ASSERT_TRUE(client->wait_for_close());
  EXPECT_EQ(client->close_code(), CloseCode::kSlowConsumer);
  harness.bus().release_receiving();  // late: the session is gone
  harness.settle();
  EXPECT_EQ(client->unread(), 0u) << client->frames().back();
  EXPECT_FALSE(bob_client->close_code());

  harness.bus().hold_receiving(false);
  auto again = harness.connect();
  again->heartbeat();
  EXPECT_TRUE(same_json(again->next(), kHeartbeat0));
  again->send(auth_frame(alice.token));
  EXPECT_TRUE(is_v1_auth(again->next(), alice, "[]", "[" + user_json(bob) + "]"));
}

// The frames kept while an auth waited go out after its answer; when they overflow the
// connection's send queue the session closes as a slow consumer while it still queues them,
// and leaves the hub once it has (not only when the connection's end is reported later).
TEST(GatewayBrokerWaitTest, ASessionWhoseKeptFramesOverflowItsSendQueueLeavesTheHub) {
  GatewayHarness harness;
  TestUser alice = harness.create_user("alice");
  TestUser bob = harness.create_user("bob");
  harness.befriend(alice, bob);
  auto bob_client = harness.connect();
  bob_client->heartbeat();
  EXPECT_TRUE(same_json(bob_client->next(), kHeartbeat0));
  bob_client->send(auth_frame(bob.token));
  EXPECT_TRUE(is_v1_auth(bob_client->next(), bob, "[]", "[" + user_json(alice) + "]"));

  harness.bus().hold_receiving(true);
  // Room for the heartbeat's answer, the auth answer and one kept chat frame, not two.
  auto client = harness.connect(protocol::Version::kV1, 1000);
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(alice.token));
  const std::string content(300, 'x');
  for (int i = 0; i < 2; ++i) {
    bob_client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" +
                     id(alice.id ^ bob.id) + R"(,"content":")" + content + R"("}})");
    EXPECT_EQ(payload_string(bob_client->next(), "content"), content);
  }
  harness.settle();
  EXPECT_FALSE(client->close_code());
  EXPECT_EQ(harness.hub().session_count(), 2u);  // alice's is in the hub while it waits

  harness.bus().release_receiving();
  ASSERT_TRUE(client->wait_for_close());
  EXPECT_EQ(client->close_code(), CloseCode::kSlowConsumer);
  harness.settle();
  EXPECT_EQ(harness.hub().session_count(), 1u);  // bob's
  EXPECT_FALSE(bob_client->close_code());
}

// A revocation whose event this node missed while the auth answer waited (published before
// the user's channels were confirmed) is found in the cache once the wait ends, and the
// session closes with the revocation's own code: here an operator's disable, 4110.
TEST(GatewayBrokerWaitTest, AnAccountDisabledWhileTheAuthWaitedClosesWith4110) {
  GatewayHarness harness;
  TestUser alice = harness.create_user("alice");
  harness.bus().hold_receiving(true);
  auto client = harness.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(alice.token));
  client->send(kLoadFriends);
  harness.settle();
  harness.disable_missing_the_event(alice);
  EXPECT_FALSE(client->close_code());
  EXPECT_EQ(harness.bus().release_receiving(), 1u);
  ASSERT_TRUE(client->wait_for_close());
  EXPECT_EQ(client->close_code(), CloseCode::kAccountDisabled);
  harness.settle();
  EXPECT_EQ(client->unread(), 0u) << client->frames().back();
}

// The same with a logout of that token: 4108.
TEST(GatewayBrokerWaitTest, ATokenRevokedWhileTheAuthWaitedClosesWith4108) {
  GatewayHarness harness;
  TestUser alice = harness.create_user("alice");
  harness.bus().hold_receiving(true);
  auto client = harness.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(alice.token));
  harness.settle();
  harness.bus().hold_receiving(false);
  harness.logout(alice.token);  // its event reaches the hub: the session closes at once
  ASSERT_TRUE(client->wait_for_close());
  EXPECT_EQ(client->close_code(), CloseCode::kTokenRevoked);
  harness.bus().release_receiving();
  harness.settle();
  EXPECT_EQ(client->unread(), 0u) << client->frames().back();
}

TEST_F(GatewaySessionTest, ATokenOnlyTheStoreKnowsIsRefusedOnOneNode) {
  TestUser alice = harness_.create_user("alice");
  std::string token = harness_.token_only_in_store(alice);
  auto client = harness_.connect();
  client->heartbeat();
  EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
  client->send(auth_frame(token));
  EXPECT_EQ(payload_string(client->next(), "code"), "4000");
}

TEST_F(GatewaySessionTest, AuthAgainWithTheSameUserAnswersTheFullAuthAgain) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  auto client = signed_in(alice);
  // Bob asks meanwhile; the app sends auth again to refresh its friend requests.
  auto bob_client = signed_in(bob);
  bob_client->send(R"({"type":"mutual_users","payload":{"type":"request","name":"alice"}})");
  EXPECT_TRUE(same_json(bob_client->next(), kOk));
  EXPECT_TRUE(same_json(
      client->next(),
      R"({"type":"mutual_users","payload":{"type":"request","user":)" + user_json(bob) + "}}"));
  client->send(auth_frame(alice.token));
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[" + user_json(bob) + "]", "[]"));
  // A newer token of the same user is fine as well.
  client->send(auth_frame(harness_.login("alice")));
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[" + user_json(bob) + "]", "[]"));
  EXPECT_FALSE(client->close_code());
}

TEST_F(GatewaySessionTest, AuthWithAnotherUsersTokenAnswers4006AndKeepsTheSession) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  auto client = signed_in(alice);
  client->send(auth_frame(bob.token));
  std::string refused = client->next();
  EXPECT_EQ(payload_string(refused, "code"), "4006") << refused;
  EXPECT_NE(refused.find(R"("type":"error")"), std::string::npos) << refused;
  // Still alice's session.
  client->send(kLoadFriends);
  EXPECT_TRUE(same_json(client->next(), R"({"type":"mutual_users","payload":[]})"));
  client->send(auth_frame(alice.token));
  EXPECT_TRUE(is_v1_auth(client->next(), alice, "[]", "[]"));
  EXPECT_FALSE(client->close_code());
}

TEST_F(GatewaySessionTest, BothSessionsOfAUserReceiveADirectMessage) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  harness_.befriend(alice, bob);
  auto phone = signed_in(alice);
  auto laptop = signed_in(alice);
  auto bob_client = signed_in(bob);
  int64_t chat_id = alice.id ^ bob.id;
  bob_client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" + id(chat_id) +
                   R"(,"content":"안녕!"}})");
  // The sender's own connection receives the event too: the app shows a message only then.
  std::string at_bob = bob_client->next();
  std::string message_id = payload_string(at_bob, "id");
  std::string created_at = payload_string(at_bob, "created_at");
  ASSERT_FALSE(message_id.empty()) << at_bob;
  std::string expected = R"({"type":"chat","payload":{"type":"send","id":")" + message_id +
                         R"(","user_id":)" + id(bob.id) + R"(,"chat_id":)" + id(chat_id) +
                         R"(,"content":"안녕!","created_at":")" + created_at + R"("}})";
  EXPECT_TRUE(same_json(at_bob, expected));
  EXPECT_TRUE(same_json(phone->next(), expected));
  EXPECT_TRUE(same_json(laptop->next(), expected));
  harness_.settle();
  EXPECT_EQ(phone->unread(), 0u);
  EXPECT_EQ(laptop->unread(), 0u);
  EXPECT_EQ(bob_client->unread(), 0u);
}

// Each chat event carries the stored chat and the seq its change took (for processes that
// replay what they missed); clients get neither (the frames above are exact).
TEST_F(GatewaySessionTest, ChatEventsCarryTheStoredChatAndTheSeqOfTheirChange) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  harness_.befriend(alice, bob);
  auto client = signed_in(alice);
  int64_t wire_chat = alice.id ^ bob.id;
  for (const char* text : {"one", "two"}) {
    client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" + id(wire_chat) +
                 R"(,"content":")" + text + R"("}})");
    ASSERT_FALSE(client->next().empty());
  }
  harness_.settle();  // every event published (the hub hears of each before the recorder)
  ASSERT_EQ(harness_.chat_events().size(), 2u);
  std::string first = std::to_string(harness_.chat_events().at(0).message.id);
  client->send(R"({"type":"chat","payload":{"type":"edit","chat_id":)" + id(wire_chat) +
               R"(,"id":")" + first + R"(","content":"uno"}})");
  std::string edited = client->next();
  EXPECT_EQ(edited.find("seq"), std::string::npos) << edited;
  harness_.settle();
  std::vector<domain::ChatEvent> events = harness_.chat_events();
  ASSERT_EQ(events.size(), 3u);
  std::optional<int64_t> stored = harness_.dm_chat(alice, bob);
  ASSERT_TRUE(stored);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].chat_id, *stored);
    EXPECT_EQ(events[i].message.wire_chat_id, wire_chat);
    EXPECT_EQ(events[i].message.seq, static_cast<int64_t>(i + 1));
  }
  EXPECT_EQ(events[2].action, domain::ChatAction::kEdit);
  EXPECT_EQ(events[2].message.content, "uno");
}

TEST_F(GatewaySessionTest, FriendRequestAndResponseReachBothSides) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  auto a = signed_in(alice);
  auto b = signed_in(bob);
  a->send(R"({"type":"mutual_users","payload":{"type":"request","name":"bob"}})");
  EXPECT_TRUE(same_json(a->next(), kOk));
  EXPECT_TRUE(same_json(b->next(), R"({"type":"mutual_users","payload":{"type":"request","user":)" +
                                       user_json(alice) + "}}"));
  b->send(R"({"type":"mutual_users","payload":{"type":"response","name":"alice"}})");
  EXPECT_TRUE(same_json(b->next(), kOk));
  EXPECT_TRUE(same_json(
      a->next(),
      R"({"type":"mutual_users","payload":{"type":"response","user":)" + user_json(bob) + "}}"));
  // Both sides now list each other; answering again says so with the app's exact text.
  a->send(kLoadFriends);
  EXPECT_TRUE(
      same_json(a->next(), R"({"type":"mutual_users","payload":[)" + user_json(bob) + "]}"));
  b->send(kLoadFriends);
  EXPECT_TRUE(
      same_json(b->next(), R"({"type":"mutual_users","payload":[)" + user_json(alice) + "]}"));
  b->send(R"({"type":"mutual_users","payload":{"type":"response","name":"alice"}})");
  EXPECT_TRUE(same_json(
      b->next(),
      R"({"type":"error","payload":{"code":"4014","reason":"targeted name was not requested."}})"));
  harness_.settle();
  EXPECT_EQ(a->unread(), 0u);
  EXPECT_EQ(b->unread(), 0u);
}

TEST_F(GatewaySessionTest, GuildMessageFansOutToTheMembersV2ConnectionsOnly) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  TestUser carol = harness_.create_user("carol");
  harness_.befriend(alice, bob);
  harness_.befriend(alice, carol);
  auto a = signed_in(alice, Version::kV2);
  auto b = signed_in(bob, Version::kV2);
  auto b_app = signed_in(bob, Version::kV1);  // the published app never sees guilds
  auto c = signed_in(carol, Version::kV2);    // a friend, not a member
  a->send(R"({"type":"guild","payload":{"type":"create","name":"crew"}})");
  std::string created = a->next();
  std::string guild_id;
  {
    rapidjson::Document doc = parse(created);
    ASSERT_TRUE(doc.IsObject() && doc["payload"].IsObject() && doc["payload"].HasMember("guild") &&
                doc["payload"]["guild"].IsObject())
        << created;
    guild_id = doc["payload"]["guild"]["id"].GetString();
  }
  EXPECT_TRUE(same_json(created, R"({"type":"guild","payload":{"type":"created","guild":{"id":")" +
                                     guild_id + R"(","name":"crew","owner_id":)" + id(alice.id) +
                                     R"(,"member_count":1,"members":[)" + user_json(alice) +
                                     R"(]},"user":)" + user_json(alice) + R"(,"actor":)" +
                                     user_json(alice) + "}}"));
  a->send(R"({"type":"guild","payload":{"type":"add","guild_id":")" + guild_id +
          R"(","name":"bob"}})");
  std::string joined = R"({"type":"guild","payload":{"type":"joined","guild":{"id":")" + guild_id +
                       R"(","name":"crew","owner_id":)" + id(alice.id) +
                       R"(,"member_count":2},"user":)" + user_json(bob) + R"(,"actor":)" +
                       user_json(alice) + "}}";
  EXPECT_TRUE(same_json(a->next(), joined));
  EXPECT_TRUE(same_json(b->next(), joined));

  a->send(R"({"type":"chat","payload":{"type":"send","chat_id":")" + guild_id +
          R"(","content":"hello crew"}})");
  std::string at_alice = a->next();
  std::string message_id = payload_string(at_alice, "id");
  std::string created_at = payload_string(at_alice, "created_at");
  std::string expected = R"({"type":"chat","payload":{"type":"send","id":")" + message_id +
                         R"(","user_id":)" + id(alice.id) + R"(,"chat_id":")" + guild_id +
                         R"(","content":"hello crew","created_at":")" + created_at +
                         R"(","edited_at":null,"seq":1}})";
  EXPECT_TRUE(same_json(at_alice, expected));
  EXPECT_TRUE(same_json(b->next(), expected));
  // The guild's request is unknown on v1, as before guilds existed.
  b_app->send(R"({"type":"guild","payload":{"type":"leave","guild_id":")" + guild_id + "\"}}");
  EXPECT_EQ(payload_string(b_app->next(), "code"), "4002");
  harness_.settle();
  EXPECT_EQ(b_app->unread(), 0u) << "a v1 connection received a guild frame";
  EXPECT_EQ(c->unread(), 0u) << "a non-member received the guild's frames";
  EXPECT_EQ(a->unread(), 0u);
  EXPECT_EQ(b->unread(), 0u);
}

TEST_F(GatewaySessionTest, LogoutClosesTheSessionsOfThatTokenWith4108) {
  TestUser alice = harness_.create_user("alice");
  auto first = signed_in(alice);
  auto second = signed_in(alice);
  TestUser alice_elsewhere = alice;
  alice_elsewhere.token = harness_.login("alice");
  auto other_device = signed_in(alice_elsewhere);
  harness_.logout(alice.token);
  ASSERT_TRUE(first->wait_for_close());
  ASSERT_TRUE(second->wait_for_close());
  EXPECT_EQ(first->close_code(), CloseCode::kTokenRevoked);
  EXPECT_EQ(second->close_code(), CloseCode::kTokenRevoked);
  // Another token of the same user is not affected.
  other_device->heartbeat(1);
  EXPECT_TRUE(same_json(other_device->next(), R"({"type":"heartbeat","payload":{"count":1}})"));
  EXPECT_FALSE(other_device->close_code());
  // The revoked token no longer opens a session.
  auto again = harness_.connect();
  again->heartbeat();
  EXPECT_TRUE(same_json(again->next(), kHeartbeat0));
  again->send(auth_frame(alice.token));
  EXPECT_EQ(payload_string(again->next(), "code"), "4000");
}

TEST_F(GatewaySessionTest, V1AndV2SessionsSideBySide) {
  TestUser alice = harness_.create_user("alice");
  TestUser bob = harness_.create_user("bob");
  TestUser carol = harness_.create_user("carol");
  harness_.befriend(alice, bob);
  auto app = harness_.connect(Version::kV1);
  auto web = harness_.connect(Version::kV2);
  auto tab = harness_.connect(Version::kV2);
  for (auto* client : {app.get(), web.get(), tab.get()}) {
    client->heartbeat();
    EXPECT_TRUE(same_json(client->next(), kHeartbeat0));
    client->send(auth_frame(alice.token));
  }
  EXPECT_TRUE(is_v1_auth(app->next(), alice, "[]", "[" + user_json(bob) + "]"));
  std::string v2_auth = R"({"type":"auth","payload":{"self_user":)" + user_json(alice) +
                        R"(,"mutual_requests":[],"mutual_users":[)" + user_json(bob) +
                        R"(],"outgoing_requests":[],"guilds":[],"chats":[{"chat_id":")" +
                        std::to_string(alice.id ^ bob.id) +
                        R"(","last_read_id":null,"unread_count":0,"last_message":null,)"
                        R"("last_seq":0}],)"
                        R"("online":[],"show_presence":true}})";
  EXPECT_TRUE(same_json(web->next(), v2_auth));
  EXPECT_TRUE(same_json(tab->next(), v2_auth));

  // My own operation: `ok` where I asked, a "self" event on my other v2 connection, and
  // nothing on v1 (the app would read it as carol's doing).
  web->send(R"({"type":"mutual_users","payload":{"type":"request","name":"carol"}})");
  EXPECT_TRUE(same_json(web->next(), kOk));
  EXPECT_TRUE(
      same_json(tab->next(), R"({"type":"mutual_users","payload":{"type":"request","user":)" +
                                 user_json(carol) + R"(,"self":true}})"));

  // A direct message reaches both versions, v2 with edited_at and its change's seq.
  auto bob_client = signed_in(bob, Version::kV1);
  bob_client->send(R"({"type":"chat","payload":{"type":"send","chat_id":)" + id(alice.id ^ bob.id) +
                   R"(,"content":"hi"}})");
  std::string at_app = app->next();
  std::string v1_chat =
      R"({"type":"chat","payload":{"type":"send","id":")" + payload_string(at_app, "id") +
      R"(","user_id":)" + id(bob.id) + R"(,"chat_id":)" + id(alice.id ^ bob.id) +
      R"(,"content":"hi","created_at":")" + payload_string(at_app, "created_at") + R"("}})";
  EXPECT_TRUE(same_json(at_app, v1_chat));
  std::string v2_chat = v1_chat.substr(0, v1_chat.size() - 2) + R"(,"edited_at":null,"seq":1}})";
  EXPECT_TRUE(same_json(web->next(), v2_chat));
  EXPECT_TRUE(same_json(tab->next(), v2_chat));
  EXPECT_TRUE(same_json(bob_client->next(), v1_chat));
  harness_.settle();
  EXPECT_EQ(app->unread(), 0u) << "a v1 connection received a v2 event";
  EXPECT_EQ(web->unread(), 0u);
  EXPECT_EQ(tab->unread(), 0u);
}

// The bus follows the users that have sessions here: told at a user's first session and
// after the last one closed, not for the sessions in between.
TEST_F(GatewaySessionTest, TheBusIsToldOfAUsersFirstAndLastSessionOnly) {
  TestUser alice = harness_.create_user("alice");
  EXPECT_EQ(harness_.bus().watches(alice.id), 0);
  auto first = signed_in(alice);
  EXPECT_EQ(harness_.bus().watches(alice.id), 1);
  auto second = signed_in(alice, Version::kV2);
  EXPECT_EQ(harness_.bus().watches(alice.id), 1);
  first.reset();
  EXPECT_EQ(harness_.bus().unwatches(alice.id), 0);
  second.reset();
  EXPECT_EQ(harness_.bus().unwatches(alice.id), 1);
  auto again = signed_in(alice);
  EXPECT_EQ(harness_.bus().watches(alice.id), 2);
}

}  // namespace
}  // namespace rwd::gateway::testing
