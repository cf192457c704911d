// The envelope between nodes: every event and every directory change comes back as it went,
// field by field (optional ones present and absent, unicode text, ids at the int64 limits),
// and what is not a valid envelope is refused with the kind of failure.
#include "cluster/envelope_codec.h"

#include <gtest/gtest.h>

#include <limits>

namespace rwd::cluster {
namespace {

using namespace domain;

constexpr int64_t kBig = std::numeric_limits<int64_t>::max();
constexpr uint64_t kBigConnection = std::numeric_limits<uint64_t>::max();
const std::string kUnicode = "안녕 👋🏽 \"quoted\" \\ back\nline \u00e9\u0301 \x01 end";

template <typename T>
T round_trip_event(const T& event, const std::string& origin = "7-node") {
  std::string payload = encode_envelope(origin, Event{event});
  DecodeResult r = decode_envelope(payload);
  EXPECT_TRUE(r.ok) << r.detail << " in " << payload;
  EXPECT_EQ(r.envelope.origin, origin);
  const Event* e = std::get_if<Event>(&r.envelope.body);
  EXPECT_TRUE(e && std::holds_alternative<T>(*e));
  return e && std::holds_alternative<T>(*e) ? std::get<T>(*e) : T{};
}

template <typename T>
T round_trip_change(const T& change) {
  std::string payload = encode_envelope("node-a", DirectoryChange{change});
  DecodeResult r = decode_envelope(payload);
  EXPECT_TRUE(r.ok) << r.detail << " in " << payload;
  const DirectoryChange* c = std::get_if<DirectoryChange>(&r.envelope.body);
  EXPECT_TRUE(c && std::holds_alternative<T>(*c));
  return c && std::holds_alternative<T>(*c) ? std::get<T>(*c) : T{};
}

void expect_user(const UserView& got, const UserView& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.profile, want.profile);
}

TEST(EnvelopeCodecTest, AChatEventComesBackWithEveryField) {
  for (bool edited : {false, true}) {
    ChatEvent e;
    e.action = edited ? ChatAction::kEdit : ChatAction::kSend;
    e.message = {kBig,
                 -kBig,
                 kBig - 1,
                 kUnicode,
                 1'700'000'000'000'000,
                 edited ? std::optional<int64_t>(kBig) : std::nullopt,
                 kBig - 3};
    e.chat_id = kBig - 4;
    e.recipients = {kBig, 1, 0};
    e.guild = edited;
    // A send's nonce travels with its origin; none is none.
    e.origin = {kBigConnection, "req-한", edited ? "" : "n-1 \"x\""};
    ChatEvent got = round_trip_event(e);
    EXPECT_EQ(got.action, e.action);
    EXPECT_EQ(got.message.id, e.message.id);
    EXPECT_EQ(got.message.wire_chat_id, e.message.wire_chat_id);
    EXPECT_EQ(got.message.author_id, e.message.author_id);
    EXPECT_EQ(got.message.content, kUnicode);
    EXPECT_EQ(got.message.created_us, e.message.created_us);
    EXPECT_EQ(got.message.edited_us, e.message.edited_us);
    EXPECT_EQ(got.message.seq, kBig - 3);  // what tells the receiver it missed a change
    EXPECT_EQ(got.chat_id, kBig - 4);
    EXPECT_EQ(got.recipients, e.recipients);
    EXPECT_EQ(got.guild, e.guild);
    EXPECT_EQ(got.origin.connection, kBigConnection);
    EXPECT_EQ(got.origin.request_id, "req-한");
    EXPECT_EQ(got.origin.nonce, e.origin.nonce);
  }
}

TEST(EnvelopeCodecTest, ADirectoryChangeCarriesItsPositionAndAnEventNone) {
  std::string numbered = encode_envelope("node-a", DirectoryChange{change::GuildErased{1}}, kBig);
  DecodeResult r = decode_envelope(numbered);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.envelope.position, static_cast<uint64_t>(kBig));
  r = decode_envelope(encode_envelope("node-a", DirectoryChange{change::GuildErased{1}}));
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.envelope.position, 0u);
  r = decode_envelope(
      "{\"origin\":\"x\",\"n\":-1,\"kind\":\"dir.guild_erased\",\"fields\":{\"id\":\"1\"}}");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failure, DecodeFailure::kBadField);
}

TEST(EnvelopeCodecTest, AResyncNoticeComesBackWithItsOrigin) {
  DecodeResult r = decode_envelope(encode_resync("node-a"));
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.envelope.origin, "node-a");
  EXPECT_TRUE(std::holds_alternative<Resync>(r.envelope.body));
  EXPECT_EQ(r.envelope.position, 0u);
}

TEST(EnvelopeCodecTest, AChatEventKeepsAnEmptyContentAndNoRecipients) {
  ChatEvent e;
  e.message.content = "";
  ChatEvent got = round_trip_event(e);
  EXPECT_EQ(got.message.content, "");
  EXPECT_TRUE(got.recipients.empty());
  EXPECT_EQ(got.origin.connection, 0u);
  EXPECT_EQ(got.origin.request_id, "");
}

TEST(EnvelopeCodecTest, AFriendEventComesBackWithEveryAction) {
  for (auto action : {FriendAction::kRequest, FriendAction::kResponse, FriendAction::kRemove,
                      FriendAction::kDelete}) {
    FriendEvent e{action, {kBig, kUnicode, std::nullopt}, {2, "bob", kUnicode}, kBigConnection};
    FriendEvent got = round_trip_event(e);
    EXPECT_EQ(got.action, action);
    expect_user(got.target, e.target);
    expect_user(got.actor, e.actor);
    EXPECT_EQ(got.origin, kBigConnection);
  }
}

TEST(EnvelopeCodecTest, AGuildEventComesBackWithEveryAction) {
  for (auto action : {GuildAction::kCreated, GuildAction::kRenamed, GuildAction::kDeleted,
                      GuildAction::kJoined, GuildAction::kLeft}) {
    for (bool with_new_owner : {false, true}) {
      GuildEvent e;
      e.action = action;
      e.guild = {kBig, kUnicode, kBig - 5, 1000};
      e.user = {3, "carol", "profile"};
      e.actor = {4, "dave", std::nullopt};
      if (with_new_owner) e.new_owner = UserView{5, "eve", "x"};
      e.recipients = {3, 4, kBig};
      e.origin = {99, "r", {}};
      GuildEvent got = round_trip_event(e);
      EXPECT_EQ(got.action, action);
      EXPECT_EQ(got.guild.id, kBig);
      EXPECT_EQ(got.guild.name, kUnicode);
      EXPECT_EQ(got.guild.owner_id, kBig - 5);
      EXPECT_EQ(got.guild.member_count, 1000u);
      expect_user(got.user, e.user);
      expect_user(got.actor, e.actor);
      ASSERT_EQ(got.new_owner.has_value(), with_new_owner);
      if (with_new_owner) expect_user(*got.new_owner, *e.new_owner);
      EXPECT_EQ(got.recipients, e.recipients);
      EXPECT_EQ(got.origin.connection, 99u);
      EXPECT_EQ(got.origin.request_id, "r");
    }
  }
}

TEST(EnvelopeCodecTest, ATypingEventComesBack) {
  for (bool guild : {false, true}) {
    rwd::domain::TypingEvent e{-kBig, kBig - 1, {kBig, 2}, guild};
    auto got = round_trip_event(e);
    EXPECT_EQ(got.wire_chat_id, -kBig);
    EXPECT_EQ(got.user_id, kBig - 1);
    EXPECT_EQ(got.recipients, e.recipients);
    EXPECT_EQ(got.guild, guild);
  }
}

TEST(EnvelopeCodecTest, AReadEventComesBackWithoutItsConnection) {
  // The connection is this process's own: another process has no use for it.
  auto got = round_trip_event(rwd::domain::ReadEvent{kBig, -kBig, kBig - 2, 42});
  EXPECT_EQ(got.user_id, kBig);
  EXPECT_EQ(got.wire_chat_id, -kBig);
  EXPECT_EQ(got.message_id, kBig - 2);
  EXPECT_EQ(got.origin, 0u);
}

TEST(EnvelopeCodecTest, APresenceEventAndSettingComeBack) {
  auto got = round_trip_event(rwd::domain::PresenceEvent{kBig, {kBig - 1, 2}});
  EXPECT_EQ(got.user_id, kBig);
  EXPECT_EQ(got.recipients, (std::vector<int64_t>{kBig - 1, 2}));
  for (bool hidden : {false, true}) {
    auto c = round_trip_change(change::PresenceHidden{kBig, hidden});
    EXPECT_EQ(c.user_id, kBig);
    EXPECT_EQ(c.hidden, hidden);
  }
}

TEST(EnvelopeCodecTest, ATokenRevocationComesBack) {
  TokenRevokedEvent got = round_trip_event(TokenRevokedEvent{kBig, std::string(64, 'f')});
  EXPECT_EQ(got.user_id, kBig);
  EXPECT_EQ(got.token_hash, std::string(64, 'f'));
  EXPECT_EQ(got.reason, RevokeReason::kToken);
}

TEST(EnvelopeCodecTest, AnAccountDisableComesBackAsSuch) {
  TokenRevokedEvent got =
      round_trip_event(TokenRevokedEvent{kBig, {}, RevokeReason::kAccountDisabled});
  EXPECT_EQ(got.user_id, kBig);
  EXPECT_EQ(got.token_hash, "");
  EXPECT_EQ(got.reason, RevokeReason::kAccountDisabled);
}

TEST(EnvelopeCodecTest, AnAccountDeletionComesBackAsSuch) {
  TokenRevokedEvent got =
      round_trip_event(TokenRevokedEvent{kBig, {}, RevokeReason::kAccountDeleted});
  EXPECT_EQ(got.user_id, kBig);
  EXPECT_EQ(got.reason, RevokeReason::kAccountDeleted);
  store::UserRecord tomb;
  tomb.id = kBig;
  tomb.created_us = 5;
  tomb.deleted = true;
  auto user = round_trip_change(change::UserAdded{tomb});
  EXPECT_EQ(user.user.id, kBig);
  EXPECT_TRUE(user.user.deleted);
}

TEST(EnvelopeCodecTest, EveryDirectoryChangeComesBack) {
  for (bool with_profile : {false, true}) {
    store::UserRecord u{kBig,
                        kUnicode,
                        "Ünï@example.test",
                        "$argon2id$v=19$m=65536$abc",
                        with_profile ? std::optional<std::string>(kUnicode) : std::nullopt,
                        kBig - 1};
    auto got = round_trip_change(change::UserAdded{u});
    EXPECT_EQ(got.user.id, u.id);
    EXPECT_EQ(got.user.name, u.name);
    EXPECT_EQ(got.user.email, u.email);
    EXPECT_EQ(got.user.password_hash, u.password_hash);
    EXPECT_EQ(got.user.profile, u.profile);
    EXPECT_EQ(got.user.created_us, u.created_us);
    EXPECT_FALSE(got.user.deleted);
  }
  {
    auto got = round_trip_change(change::TokenAdded{{"hash", kBig, 5, kBig}});
    EXPECT_EQ(got.token.token_hash, "hash");
    EXPECT_EQ(got.token.user_id, kBig);
    EXPECT_EQ(got.token.created_us, 5);
    EXPECT_EQ(got.token.expires_us, kBig);
  }
  EXPECT_EQ(round_trip_change(change::TokenRemoved{"h2"}).token_hash, "h2");
  {
    auto got = round_trip_change(change::FriendRequestAdded{kBig, 2});
    EXPECT_EQ(got.from_id, kBig);
    EXPECT_EQ(got.to_id, 2);
  }
  {
    auto got = round_trip_change(change::FriendRequestRemoved{3, kBig});
    EXPECT_EQ(got.from_id, 3);
    EXPECT_EQ(got.to_id, kBig);
  }
  {
    auto got = round_trip_change(change::FriendshipAdded{1, kBig, kBig - 2});
    EXPECT_EQ(got.a, 1);
    EXPECT_EQ(got.b, kBig);
    EXPECT_EQ(got.chat_id, kBig - 2);
  }
  {
    auto got = round_trip_change(change::FriendshipRemoved{kBig, 4});
    EXPECT_EQ(got.a, kBig);
    EXPECT_EQ(got.b, 4);
  }
  {
    store::GuildState s{{kBig, kUnicode, 7, 100}, {{kBig, 7, 100}, {kBig, kBig - 1, 200}}};
    auto got = round_trip_change(change::GuildPut{s});
    EXPECT_EQ(got.state.guild.id, kBig);
    EXPECT_EQ(got.state.guild.name, kUnicode);
    EXPECT_EQ(got.state.guild.owner_id, 7);
    EXPECT_EQ(got.state.guild.created_us, 100);
    ASSERT_EQ(got.state.members.size(), 2u);
    EXPECT_EQ(got.state.members[1].guild_id, kBig);
    EXPECT_EQ(got.state.members[1].user_id, kBig - 1);
    EXPECT_EQ(got.state.members[1].joined_us, 200);
  }
  EXPECT_EQ(round_trip_change(change::GuildErased{kBig}).guild_id, kBig);
}

DecodeFailure failure_of(std::string_view payload) {
  DecodeResult r = decode_envelope(payload);
  EXPECT_FALSE(r.ok) << payload;
  return r.failure;
}

TEST(EnvelopeCodecTest, MalformedPayloadsAreRefusedWithTheirKindOfFailure) {
  EXPECT_EQ(failure_of(""), DecodeFailure::kBadJson);
  EXPECT_EQ(failure_of("{\"origin\":"), DecodeFailure::kBadJson);
  EXPECT_EQ(failure_of("{\"origin\":\"\xff\xfe\",\"kind\":\"x\",\"fields\":{}}"),
            DecodeFailure::kBadJson);
  EXPECT_EQ(failure_of("[1,2]"), DecodeFailure::kNotAnEnvelope);
  EXPECT_EQ(failure_of("{\"kind\":\"chat\",\"fields\":{}}"), DecodeFailure::kNotAnEnvelope);
  EXPECT_EQ(failure_of("{\"origin\":1,\"kind\":\"chat\",\"fields\":{}}"),
            DecodeFailure::kNotAnEnvelope);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"chat\",\"fields\":[]}"),
            DecodeFailure::kNotAnEnvelope);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"no_such_kind\",\"fields\":{}}"),
            DecodeFailure::kUnknownKind);
  // Missing fields.
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"chat\",\"fields\":{}}"),
            DecodeFailure::kBadField);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"token_revoked\",\"fields\":{\"user\":1}}"),
            DecodeFailure::kBadField);
  // Wrong types, out of range, an unknown action.
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"token_revoked\",\"fields\":"
                       "{\"user\":\"1\",\"token_hash\":\"h\"}}"),
            DecodeFailure::kBadField);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"token_revoked\",\"fields\":"
                       "{\"user\":18446744073709551615,\"token_hash\":\"h\"}}"),
            DecodeFailure::kBadField);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"dir.guild_erased\",\"fields\":{\"id\":1.5}}"),
            DecodeFailure::kBadField);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"dir.guild_put\",\"fields\":{\"id\":1,"
                       "\"name\":\"g\",\"owner\":1,\"created_us\":1,\"members\":[{\"user\":1}]}}"),
            DecodeFailure::kBadField);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"dir.guild_put\",\"fields\":{\"id\":1,"
                       "\"name\":\"g\",\"owner\":1,\"created_us\":1,\"members\":[7]}}"),
            DecodeFailure::kBadField);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"friend\",\"fields\":{\"action\":\"poke\","
                       "\"target\":{\"id\":1,\"name\":\"a\"},\"actor\":{\"id\":2,\"name\":\"b\"},"
                       "\"connection\":0}}"),
            DecodeFailure::kBadField);
  EXPECT_EQ(failure_of("{\"origin\":\"a\",\"kind\":\"friend\",\"fields\":{\"action\":\"request\","
                       "\"target\":{\"id\":1,\"name\":\"a\",\"profile\":3},"
                       "\"actor\":{\"id\":2,\"name\":\"b\"},\"connection\":0}}"),
            DecodeFailure::kBadField);
  // A chat event's recipients with a string among them.
  ChatEvent e;
  e.recipients = {1, 2};
  std::string payload = encode_envelope("a", Event{e});
  auto at = payload.find("[1,2]");
  ASSERT_NE(at, std::string::npos);
  payload.replace(at, 5, "[1,\"2\"]");
  EXPECT_EQ(failure_of(payload), DecodeFailure::kBadField);
}

}  // namespace
}  // namespace rwd::cluster
