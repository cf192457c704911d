// The contract of store/store.h, clause by clause, for every implementation (see
// store_contract.h). Each decision's rules (its Errc) and outcomes are checked through the
// interface alone.
#include "store_contract.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "base/crypto.h"

namespace rwd::store {

namespace fs = std::filesystem;

void StoreContract::SetUp() {
  // A parameterized test's name holds a '/': one directory per test, not nested ones.
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace(test.begin(), test.end(), '/', '-');
  dir_ = fs::temp_directory_path() /
         ("rewind-contract-" + std::to_string(::getpid()) + "-" + GetParam().name + "-" + test);
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  store_ = GetParam().make(dir_.string());
  ASSERT_TRUE(store_) << "the " << GetParam().name << " store did not open";
}

void StoreContract::TearDown() {
  store_.reset();
  fs::remove_all(dir_);
}

int64_t StoreContract::make_user(const std::string& name, int64_t id) {
  PendingRegistration reg{
      name + "@example.test", name, "hash", crypto::sha256_hex("key-" + name), 1000,
      int64_t{1} << 60};
  EXPECT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->put_registration(reg, OutboxMail{0, reg.email, "s", "b", 0, 0}, cb);
               }).ok()));
  auto u = wait<UserRecord>([&](Callback<UserRecord> cb) {
    store_->verify_registration(crypto::sha256_hex("key-" + name), 2000, id, cb);
  });
  EXPECT_TRUE(u.ok());
  return id;
}

int64_t StoreContract::befriend(int64_t a, int64_t b, int64_t new_chat_id) {
  auto asked = wait<FriendRequestOutcome>([&](Callback<FriendRequestOutcome> cb) {
    store_->request_friend(a, b, new_chat_id, 3000, cb);
  });
  EXPECT_TRUE(asked.ok());
  auto chat = wait<int64_t>(
      [&](Callback<int64_t> cb) { store_->accept_friend(b, a, new_chat_id, 3000, cb); });
  EXPECT_TRUE(chat.ok());
  return chat.ok() ? chat.value() : 0;
}

Result<GuildState> StoreContract::create_guild(int64_t guild_id, int64_t owner_id,
                                               int64_t created_us) {
  return wait<GuildState>([&](Callback<GuildState> cb) {
    store_->create_guild({guild_id, "crew", owner_id, created_us}, cb);
  });
}

Result<GuildState> StoreContract::add_member(int64_t guild_id, int64_t actor_id, int64_t user_id,
                                             int64_t now_us, int64_t max_members) {
  return wait<GuildState>([&](Callback<GuildState> cb) {
    store_->add_guild_member(guild_id, actor_id, user_id, now_us, max_members, cb);
  });
}

namespace {

// The rule a write broke; none when it succeeded.
std::optional<Errc> code(const Status& s) {
  return s.ok() ? std::nullopt : std::optional<Errc>(s.error().code);
}
template <typename T>
std::optional<Errc> code(const Result<T>& r) {
  return r.ok() ? std::nullopt : std::optional<Errc>(r.error().code);
}
constexpr std::nullopt_t kDone = std::nullopt;

std::vector<int64_t> ids_of(const GuildState& g) {
  std::vector<int64_t> out;
  for (const auto& m : g.members) out.push_back(m.user_id);
  return out;
}

TEST_P(StoreContract, AFriendRequestIsPendingUntilAcceptedAndIsRefusedTwice) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  auto request = [&](int64_t from, int64_t to) {
    return wait<FriendRequestOutcome>(
        [&](Callback<FriendRequestOutcome> cb) { store_->request_friend(from, to, 500, 10, cb); });
  };
  auto accept = [&](int64_t user, int64_t requester) {
    return wait<int64_t>(
        [&](Callback<int64_t> cb) { store_->accept_friend(user, requester, 500, 11, cb); });
  };
  auto first = request(a, b);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->befriended);
  EXPECT_EQ(code(request(a, b)), Errc::kAlreadyRequested);
  EXPECT_EQ(code(accept(a, b)), Errc::kNotRequested);  // b asked nothing
  auto snap = store_->load_directory(0);
  ASSERT_EQ(snap->friend_requests.size(), 1u);
  EXPECT_EQ(snap->friend_requests[0].from_id, a);
  EXPECT_EQ(snap->friend_requests[0].to_id, b);

  auto chat = accept(b, a);
  ASSERT_TRUE(chat.ok());
  EXPECT_EQ(chat.value(), 500);
  EXPECT_EQ(code(request(a, b)), Errc::kAlreadyFriends);
  EXPECT_EQ(code(request(b, a)), Errc::kAlreadyFriends);
  EXPECT_EQ(code(accept(b, a)), Errc::kNotRequested);  // even between friends
  snap = store_->load_directory(0);
  EXPECT_TRUE(snap->friend_requests.empty());
  ASSERT_EQ(snap->friendships.size(), 1u);
  ASSERT_EQ(snap->dm_chats.size(), 1u);
  EXPECT_EQ(snap->dm_chats[0].chat_id, 500);
}

TEST_P(StoreContract, CrossedRequestsBefriend) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  ASSERT_TRUE((wait<FriendRequestOutcome>([&](Callback<FriendRequestOutcome> cb) {
                 store_->request_friend(a, b, 500, 10, cb);
               }).ok()));
  auto crossed = wait<FriendRequestOutcome>(
      [&](Callback<FriendRequestOutcome> cb) { store_->request_friend(b, a, 501, 11, cb); });
  ASSERT_TRUE(crossed.ok());
  EXPECT_TRUE(crossed->befriended);
  EXPECT_EQ(crossed->chat_id, 501);
  auto snap = store_->load_directory(0);
  EXPECT_TRUE(snap->friend_requests.empty());
  EXPECT_EQ(snap->friendships.size(), 1u);
}

TEST_P(StoreContract, APairRefriendedKeepsItsChat) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  ASSERT_EQ(befriend(a, b, 500), 500);
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) { store_->unfriend(b, a, cb); }).ok()));
  EXPECT_EQ(code(wait<void>([&](Callback<void> cb) { store_->unfriend(a, b, cb); })),
            Errc::kNotFriends);
  EXPECT_TRUE(store_->load_directory(0)->friendships.empty());
  EXPECT_EQ(befriend(b, a, 600), 500);  // the new id is not used
  auto snap = store_->load_directory(0);
  EXPECT_EQ(snap->friendships.size(), 1u);
  ASSERT_EQ(snap->dm_chats.size(), 1u);
  EXPECT_EQ(snap->dm_chats[0].chat_id, 500);
}

TEST_P(StoreContract, CancellingWithdrawsMyRequestOrDeclinesTheirs) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  auto request = [&](int64_t from, int64_t to) {
    return wait<FriendRequestOutcome>(
        [&](Callback<FriendRequestOutcome> cb) { store_->request_friend(from, to, 500, 10, cb); });
  };
  auto cancel = [&](int64_t user, int64_t other) {
    return wait<FriendRequestRecord>(
        [&](Callback<FriendRequestRecord> cb) { store_->cancel_friend_request(user, other, cb); });
  };
  ASSERT_TRUE(request(a, b).ok());
  auto withdrawn = cancel(a, b);
  ASSERT_TRUE(withdrawn.ok());
  EXPECT_EQ(withdrawn->from_id, a);
  EXPECT_EQ(withdrawn->to_id, b);
  EXPECT_EQ(code(cancel(a, b)), Errc::kNotRequested);
  ASSERT_TRUE(request(c, a).ok());
  auto declined = cancel(a, c);
  ASSERT_TRUE(declined.ok());
  EXPECT_EQ(declined->from_id, c);
  EXPECT_EQ(declined->to_id, a);
  EXPECT_TRUE(store_->load_directory(0)->friend_requests.empty());
  befriend(a, b, 500);
  EXPECT_EQ(code(cancel(a, b)), Errc::kNotRequested);  // friends have no request
}

TEST_P(StoreContract, ALiveTokenIsRevokedOnceAndReturnsItsUser) {
  int64_t a = make_user("alice", 101);
  for (auto [hash, expires] : {std::pair<const char*, int64_t>{"live", 5000}, {"old", 1500}})
    ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                   store_->put_token({hash, a, 1000, expires}, cb);
                 }).ok()));
  auto revoke = [&](const std::string& hash, int64_t now) {
    return wait<int64_t>([&](Callback<int64_t> cb) { store_->revoke_token(hash, now, cb); });
  };
  auto user = revoke("live", 2000);
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user.value(), a);
  EXPECT_EQ(code(revoke("live", 2000)), Errc::kUnauthorized);      // twice
  EXPECT_EQ(code(revoke("old", 2000)), Errc::kUnauthorized);       // expired
  EXPECT_EQ(code(revoke("unknown", 2000)), Errc::kUnauthorized);   // never issued
  EXPECT_TRUE(store_->load_directory(1000)->tokens.size() == 1u);  // "old", still live at 1000
}

TEST_P(StoreContract, DisablingRevokesEveryLiveTokenAndRefusesNewOnesUntilEnabled) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  auto put = [&](const std::string& hash, int64_t user, int64_t expires) {
    return wait<void>([&](Callback<void> cb) {
      store_->put_token({hash, user, 1000, expires}, cb);
    });
  };
  auto set = [&](int64_t user, bool disabled) {
    return wait<AccountStateOutcome>([&](Callback<AccountStateOutcome> cb) {
      store_->set_user_disabled(user, disabled, 2000, cb);
    });
  };
  ASSERT_TRUE(put("a1", a, 5000).ok());
  ASSERT_TRUE(put("a2", a, 5000).ok());
  ASSERT_TRUE(put("a-old", a, 1500).ok());  // expired at 2000: not revoked, not answered
  ASSERT_TRUE(put("b1", b, 5000).ok());
  ASSERT_TRUE(
      (wait<int64_t>([&](Callback<int64_t> cb) { store_->revoke_token("a2", 1200, cb); }).ok()));

  auto disabled = set(a, true);
  ASSERT_TRUE(disabled.ok());
  EXPECT_TRUE(disabled->changed);
  EXPECT_EQ(disabled->revoked_token_hashes, std::vector<std::string>{"a1"});
  EXPECT_TRUE(store_->find_user(a).value()->disabled);
  EXPECT_FALSE(store_->find_user(b).value()->disabled);
  EXPECT_EQ(store_->live_tokens_of(a, 1000).value().size(), 1u);  // only "a-old", at 1000
  EXPECT_TRUE(store_->live_tokens_of(a, 2000).value().empty());
  EXPECT_EQ(store_->live_tokens_of(b, 2000).value().size(), 1u);  // others keep theirs
  EXPECT_EQ(code(put("a3", a, 5000)), Errc::kAccountDisabled);
  EXPECT_TRUE(put("b2", b, 5000).ok());

  auto again = set(a, true);  // a repeat: no change, nothing revoked
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  EXPECT_TRUE(again->revoked_token_hashes.empty());

  auto enabled = set(a, false);
  ASSERT_TRUE(enabled.ok());
  EXPECT_TRUE(enabled->changed);
  EXPECT_FALSE(store_->find_user(a).value()->disabled);
  EXPECT_TRUE(store_->live_tokens_of(a, 2000).value().empty());  // revoked tokens stay revoked
  EXPECT_TRUE(put("a4", a, 5000).ok());
  EXPECT_FALSE(set(a, false)->changed);
  EXPECT_EQ(code(set(999, true)), Errc::kUserNotFound);
}

TEST_P(StoreContract, LiveTokensOfAUserAreTheUnrevokedUnexpiredOnesOldestFirst) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  auto put = [&](const std::string& hash, int64_t user, int64_t created, int64_t expires) {
    return wait<void>([&](Callback<void> cb) {
      store_->put_token({hash, user, created, expires}, cb);
    });
  };
  ASSERT_TRUE(put("second", a, 1100, 5000).ok());
  ASSERT_TRUE(put("first", a, 1000, 6000).ok());
  ASSERT_TRUE(put("expired", a, 900, 1500).ok());
  ASSERT_TRUE(put("revoked", a, 1200, 5000).ok());
  ASSERT_TRUE(put("bobs", b, 1000, 5000).ok());
  ASSERT_TRUE((wait<int64_t>([&](Callback<int64_t> cb) {
                 store_->revoke_token("revoked", 1300, cb);
               }).ok()));
  auto live = store_->live_tokens_of(a, 2000);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 2u);
  EXPECT_EQ(live.value()[0].token_hash, "first");
  EXPECT_EQ(live.value()[0].created_us, 1000);
  EXPECT_EQ(live.value()[0].expires_us, 6000);
  EXPECT_EQ(live.value()[0].user_id, a);
  EXPECT_EQ(live.value()[1].token_hash, "second");
  EXPECT_TRUE(store_->live_tokens_of(12345, 2000).value().empty());
}

TEST_P(StoreContract, ATokenKeepsItsClientAndIsLastSeenWhenTouchedButNeverBackwards) {
  int64_t a = make_user("alice", 101);
  TokenRecord phone{"phone", a, 1000, 9000};
  phone.client = "RewindPhone/1.0";
  auto put = [&](TokenRecord t) {
    return wait<void>([&](Callback<void> cb) { store_->put_token(std::move(t), cb); });
  };
  auto touch = [&](const std::string& hash, int64_t now) {
    return wait<void>([&](Callback<void> cb) { store_->touch_token(hash, now, cb); });
  };
  auto seen = [&](size_t i) { return store_->live_tokens_of(a, 2000).value().at(i).last_seen_us; };
  ASSERT_TRUE(put(phone).ok());
  ASSERT_TRUE(put({"laptop", a, 1100, 9000}).ok());
  auto live = store_->live_tokens_of(a, 2000);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 2u);
  EXPECT_EQ(live.value()[0].client, "RewindPhone/1.0");
  EXPECT_EQ(live.value()[0].last_seen_us, 1000);  // its login
  EXPECT_EQ(live.value()[1].client, "");
  EXPECT_EQ(live.value()[1].last_seen_us, 1100);

  EXPECT_TRUE(touch("phone", 3000).ok());
  EXPECT_EQ(seen(0), 3000);
  EXPECT_EQ(seen(1), 1100);                // the other token is untouched
  EXPECT_TRUE(touch("phone", 2500).ok());  // an older use, committed late: no going back
  EXPECT_EQ(seen(0), 3000);
  EXPECT_TRUE(touch("unknown", 3000).ok());  // nothing to touch is not an error
  ASSERT_TRUE((
      wait<int64_t>([&](Callback<int64_t> cb) { store_->revoke_token("laptop", 3000, cb); }).ok()));
  EXPECT_TRUE(touch("laptop", 4000).ok());  // revoked: stays revoked, unseen
  EXPECT_EQ(store_->live_tokens_of(a, 2000).value().size(), 1u);
}

TEST_P(StoreContract, OnlyTheAuthorEditsOrDeletesALiveMessage) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  ASSERT_TRUE((wait<StoredMessage>([&](Callback<StoredMessage> cb) {
                 store_->put_message({1, chat, a, "hello", 10, false, std::nullopt}, cb);
               }).ok()));
  auto edit = [&](int64_t author, std::string content, int64_t now) {
    return wait<MessageRecord>([&](Callback<MessageRecord> cb) {
      store_->edit_message(chat, 1, author, content, now, cb);
    });
  };
  EXPECT_EQ(code(edit(b, "mine now", 20)), Errc::kMessageNotFound);  // someone else's
  auto edited = edit(a, "hello!", 21);
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->content, "hello!");
  EXPECT_EQ(edited->created_us, 10);
  EXPECT_EQ(edited->edited_us, std::optional<int64_t>(21));
  EXPECT_EQ(code(wait<MessageRecord>([&](Callback<MessageRecord> cb) {
              store_->edit_message(chat + 1, 1, a, "elsewhere", 22, cb);
            })),
            Errc::kMessageNotFound);  // not in that chat
  auto deleted = edit(a, "", 23);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->deleted);
  EXPECT_EQ(code(edit(a, "back", 24)), Errc::kMessageNotFound);  // no longer live
  EXPECT_TRUE(store_->load_messages(chat, 100, 10)->empty());
}

TEST_P(StoreContract, ASendWithANonceIsStoredOnceWhileTheFirstIsRecent) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  int64_t other_chat = befriend(a, make_user("carol", 103), 501);
  auto send = [&](int64_t id, int64_t in_chat, int64_t author, std::string content,
                  int64_t created_us, std::string nonce, int64_t reuse_before_us) {
    return wait<SentMessage>([&](Callback<SentMessage> cb) {
      store_->put_message_once({id, in_chat, author, content, created_us, false, std::nullopt},
                               nonce, reuse_before_us, cb);
    });
  };
  auto first = send(1, chat, a, "hello", 1000, "n-1", 0);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->duplicate);
  EXPECT_EQ(first->message.id, 1);
  EXPECT_EQ(first->message.seq, 1);

  // A retry (a new id, a later time) answers the first message and stores nothing.
  auto retry = send(2, chat, a, "hello", 2000, "n-1", 500);
  ASSERT_TRUE(retry.ok());
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->message.id, 1);
  EXPECT_EQ(retry->message.content, "hello");
  EXPECT_EQ(retry->message.created_us, 1000);
  EXPECT_EQ(retry->message.seq, 1);
  EXPECT_EQ(store_->load_messages(chat, 10000, 10)->size(), 1u);

  // The message itself put again is no duplicate of itself.
  auto again = send(1, chat, a, "hello", 1000, "n-1", 500);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->duplicate);
  EXPECT_EQ(again->message.seq, 1);

  // The same nonce from another author, or in another chat, is another send.
  auto bobs = send(3, chat, b, "hi", 2100, "n-1", 500);
  ASSERT_TRUE(bobs.ok());
  EXPECT_FALSE(bobs->duplicate);
  EXPECT_EQ(bobs->message.seq, 2);
  auto elsewhere = send(4, other_chat, a, "hey", 2200, "n-1", 500);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_FALSE(elsewhere->duplicate);

  // A retry answers the message as it is now: edited, then deleted.
  ASSERT_TRUE((wait<MessageRecord>([&](Callback<MessageRecord> cb) {
                 store_->edit_message(chat, 1, a, "hello!", 2300, cb);
               }).ok()));
  auto edited = send(5, chat, a, "hello", 2400, "n-1", 500);
  ASSERT_TRUE(edited.ok());
  EXPECT_TRUE(edited->duplicate);
  EXPECT_EQ(edited->message.content, "hello!");
  EXPECT_EQ(edited->message.edited_us, std::optional<int64_t>(2300));
  EXPECT_EQ(edited->message.seq, 1);
  ASSERT_TRUE((wait<MessageRecord>([&](Callback<MessageRecord> cb) {
                 store_->edit_message(chat, 1, a, "", 2500, cb);
               }).ok()));
  auto deleted = send(6, chat, a, "hello", 2600, "n-1", 500);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->duplicate);
  EXPECT_TRUE(deleted->message.deleted);
  EXPECT_EQ(deleted->message.content, "");

  // Once the first is older than the window, the nonce is free: a new message takes it, and
  // a retry of that one answers it.
  auto later = send(7, chat, a, "hello again", 9000, "n-1", 1001);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(later->duplicate);
  EXPECT_EQ(later->message.id, 7);
  EXPECT_EQ(later->message.seq, 5);  // sends 1 and 3, the edit and the deletion came first
  auto later_retry = send(8, chat, a, "hello again", 9100, "n-1", 1001);
  ASSERT_TRUE(later_retry.ok());
  EXPECT_TRUE(later_retry->duplicate);
  EXPECT_EQ(later_retry->message.id, 7);
  auto history = store_->load_messages(chat, 10000, 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);  // bob's and the later one: the first was deleted
  EXPECT_EQ((*history)[0].id, 3);
  EXPECT_EQ((*history)[1].id, 7);
}

TEST_P(StoreContract, ACreatedGuildHasItsOwnerAsOnlyMember) {
  int64_t a = make_user("alice", 101);
  auto g = create_guild(700, a, 10);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->guild.id, 700);
  EXPECT_EQ(g->guild.owner_id, a);
  ASSERT_EQ(g->members.size(), 1u);
  EXPECT_EQ(g->members[0].user_id, a);
  EXPECT_EQ(g->members[0].joined_us, 10);
  // Its chat exists under the same id.
  EXPECT_TRUE((wait<StoredMessage>([&](Callback<StoredMessage> cb) {
                 store_->put_message({1, 700, a, "hi", 11, false, std::nullopt}, cb);
               }).ok()));
}

TEST_P(StoreContract, OnlyTheOwnerRenamesAndOutsidersSeeNoGuild) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  befriend(a, b, 500);
  ASSERT_TRUE(create_guild(700, a, 10).ok());
  ASSERT_TRUE(add_member(700, a, b, 20).ok());
  auto rename = [&](int64_t guild, int64_t actor) {
    return wait<GuildState>(
        [&](Callback<GuildState> cb) { store_->rename_guild(guild, actor, "renamed", cb); });
  };
  EXPECT_EQ(code(rename(700, c)), Errc::kGuildNotFound);  // not a member
  EXPECT_EQ(code(rename(701, a)), Errc::kGuildNotFound);  // no such guild
  EXPECT_EQ(code(rename(700, b)), Errc::kNotGuildOwner);
  auto renamed = rename(700, a);
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->guild.name, "renamed");
  EXPECT_EQ(ids_of(*renamed), (std::vector<int64_t>{a, b}));
  EXPECT_EQ(store_->load_directory(0)->guilds[0].name, "renamed");
}

TEST_P(StoreContract, AMemberAddsOnlyTheirOwnFriendsToAGuildWithRoom) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103),
          d = make_user("dave", 104);
  befriend(a, b, 500);
  befriend(b, c, 501);
  befriend(a, d, 502);
  ASSERT_TRUE(create_guild(700, a, 10).ok());
  EXPECT_EQ(code(add_member(700, c, b, 15)), Errc::kGuildNotFound);  // c is not a member
  EXPECT_EQ(code(add_member(700, a, c, 15)), Errc::kNotFriends);     // a's friend? no
  ASSERT_TRUE(add_member(700, a, b, 20).ok());
  EXPECT_EQ(code(add_member(700, a, b, 21)), Errc::kAlreadyMember);
  EXPECT_EQ(code(add_member(700, a, a, 21)), Errc::kAlreadyMember);
  // Any member adds their own friend; a clock behind the last joiner never reorders them.
  auto added = add_member(700, b, c, 5);
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(ids_of(*added), (std::vector<int64_t>{a, b, c}));
  EXPECT_EQ(added->members[2].joined_us, 20);
  // Full at max_members, whatever else holds.
  EXPECT_EQ(code(add_member(700, a, d, 30, 3)), Errc::kGuildFull);
  EXPECT_TRUE(add_member(700, a, d, 30, 4).ok());
  EXPECT_EQ(store_->load_directory(0)->guild_members.size(), 4u);
}

TEST_P(StoreContract, OnlyTheOwnerRemovesAMemberAndNeverThemselves) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103),
          d = make_user("dave", 104);
  befriend(a, b, 500);
  befriend(a, c, 501);
  ASSERT_TRUE(create_guild(700, a, 10).ok());
  ASSERT_TRUE(add_member(700, a, b, 20).ok());
  ASSERT_TRUE(add_member(700, a, c, 30).ok());
  auto remove = [&](int64_t actor, int64_t user) {
    return wait<GuildState>(
        [&](Callback<GuildState> cb) { store_->remove_guild_member(700, actor, user, cb); });
  };
  EXPECT_EQ(code(remove(d, b)), Errc::kGuildNotFound);
  EXPECT_EQ(code(remove(b, c)), Errc::kNotGuildOwner);
  EXPECT_EQ(code(remove(a, a)), Errc::kSelfTarget);
  EXPECT_EQ(code(remove(a, d)), Errc::kUserNotFound);  // not a member
  auto after = remove(a, b);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(ids_of(*after), (std::vector<int64_t>{a, c}));
  EXPECT_EQ(code(remove(a, b)), Errc::kUserNotFound);
  EXPECT_EQ(store_->load_directory(0)->guild_members.size(), 2u);
}

TEST_P(StoreContract, TheOwnerLeavingPassesTheGuildToTheFirstMemberInJoiningOrder) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103),
          d = make_user("dave", 104);
  befriend(a, b, 500);
  befriend(a, c, 501);
  befriend(a, d, 502);
  ASSERT_TRUE(create_guild(700, a, 10).ok());
  ASSERT_TRUE(add_member(700, a, c, 20).ok());
  ASSERT_TRUE(add_member(700, a, b, 20).ok());  // the same time as c: the lower id comes first
  ASSERT_TRUE(add_member(700, a, d, 15).ok());  // joins at 20 too, after both
  auto leave = [&](int64_t guild, int64_t user) {
    return wait<GuildLeaveOutcome>(
        [&](Callback<GuildLeaveOutcome> cb) { store_->leave_guild(guild, user, cb); });
  };
  EXPECT_EQ(code(leave(701, a)), Errc::kGuildNotFound);
  auto left = leave(700, a);
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->new_owner, std::optional<int64_t>(b));
  ASSERT_TRUE(left->after);
  EXPECT_EQ(left->after->guild.owner_id, b);
  EXPECT_EQ(ids_of(*left->after), (std::vector<int64_t>{b, c, d}));
  EXPECT_EQ(code(leave(700, a)), Errc::kGuildNotFound);  // no longer a member
  // A member who does not own it leaves: no new owner.
  left = leave(700, d);
  ASSERT_TRUE(left.ok());
  EXPECT_FALSE(left->new_owner);
  EXPECT_EQ(left->after->guild.owner_id, b);
  auto snap = store_->load_directory(0);
  EXPECT_EQ(snap->guilds[0].owner_id, b);
  EXPECT_EQ(snap->guild_members.size(), 2u);
}

TEST_P(StoreContract, TheLastLeaverDeletesTheGuild) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  befriend(a, b, 500);
  ASSERT_TRUE(create_guild(700, a, 10).ok());
  ASSERT_TRUE(add_member(700, a, b, 20).ok());
  auto leave = [&](int64_t user) {
    return wait<GuildLeaveOutcome>(
        [&](Callback<GuildLeaveOutcome> cb) { store_->leave_guild(700, user, cb); });
  };
  ASSERT_TRUE(leave(a).ok());
  auto last = leave(b);
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->after);
  EXPECT_FALSE(last->new_owner);
  auto snap = store_->load_directory(0);
  EXPECT_TRUE(snap->guilds.empty());
  EXPECT_TRUE(snap->guild_members.empty());
  EXPECT_EQ(code(add_member(700, b, a, 30)), Errc::kGuildNotFound);
}

TEST_P(StoreContract, DeletingAnAccountLeavesATombstoneAndRemovesEveryRelation) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103),
          d = make_user("dave", 104), e = make_user("erin", 105);
  befriend(a, b, 500);
  befriend(a, c, 501);
  befriend(b, c, 502);
  auto ask = [&](int64_t from, int64_t to) {
    return wait<FriendRequestOutcome>([&](Callback<FriendRequestOutcome> cb) {
      store_->request_friend(from, to, 600 + from, 3000, cb);
    });
  };
  ASSERT_TRUE(ask(a, d).ok());                 // alice asked dave
  ASSERT_TRUE(ask(e, a).ok());                 // erin asked alice
  ASSERT_TRUE(ask(d, e).ok());                 // not alice's: stays
  ASSERT_TRUE(create_guild(700, a, 10).ok());  // alice owns it; carol, then bob join
  ASSERT_TRUE(add_member(700, a, c, 20).ok());
  ASSERT_TRUE(add_member(700, a, b, 30).ok());
  ASSERT_TRUE(create_guild(701, b, 10).ok());  // bob owns it; alice joins
  ASSERT_TRUE(add_member(701, b, a, 20).ok());
  ASSERT_TRUE(create_guild(702, a, 10).ok());  // alice alone: it goes with her
  MessageRecord m{900, 700, a, "hello", 4000, false, std::nullopt};
  ASSERT_TRUE(
      wait<StoredMessage>([&](Callback<StoredMessage> cb) { store_->put_message(m, cb); }).ok());
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->put_token({"a1", a, 1000, 9000}, cb);
               }).ok()));
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->put_token({"b1", b, 1000, 9000}, cb);
               }).ok()));
  auto del = [&](int64_t user, std::string verified) {
    return wait<AccountDeleted>(
        [&](Callback<AccountDeleted> cb) { store_->delete_user(user, verified, 5000, cb); });
  };

  EXPECT_EQ(code(del(a, "another hash")), Errc::kInvalidCredentials);  // nothing changed
  EXPECT_FALSE(store_->find_user(a).value()->deleted);
  EXPECT_EQ(code(del(999, "")), Errc::kUserNotFound);

  auto gone = del(a, "hash");  // make_user's hash: as verified by the owner's password
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->user.deleted);
  EXPECT_EQ(gone->user.id, a);
  EXPECT_EQ(gone->revoked_token_hashes, std::vector<std::string>{"a1"});
  EXPECT_EQ(gone->former_friends, (std::vector<int64_t>{b, c}));
  ASSERT_EQ(gone->removed_requests.size(), 2u);
  EXPECT_EQ(gone->removed_requests[0].from_id, a);
  EXPECT_EQ(gone->removed_requests[0].to_id, d);
  EXPECT_EQ(gone->removed_requests[1].from_id, e);
  EXPECT_EQ(gone->removed_requests[1].to_id, a);
  ASSERT_EQ(gone->guilds.size(), 3u);
  EXPECT_EQ(gone->guilds[0].guild_id, 700);  // passed to carol, who joined first
  ASSERT_TRUE(gone->guilds[0].outcome.after);
  EXPECT_EQ(gone->guilds[0].outcome.new_owner, std::optional<int64_t>(c));
  EXPECT_EQ(gone->guilds[0].outcome.after->guild.owner_id, c);
  EXPECT_EQ(gone->guilds[0].outcome.after->guild.name, "crew");
  EXPECT_EQ(ids_of(*gone->guilds[0].outcome.after), (std::vector<int64_t>{c, b}));
  EXPECT_EQ(gone->guilds[1].guild_id, 701);  // bob's: only a member left
  ASSERT_TRUE(gone->guilds[1].outcome.after);
  EXPECT_FALSE(gone->guilds[1].outcome.new_owner);
  EXPECT_EQ(ids_of(*gone->guilds[1].outcome.after), std::vector<int64_t>{b});
  EXPECT_EQ(gone->guilds[2].guild_id, 702);  // alone in it: deleted
  EXPECT_FALSE(gone->guilds[2].outcome.after);

  // The tombstone: found by id only, marked, without name, email or password.
  auto row = store_->find_user(a).value();
  ASSERT_TRUE(row);
  EXPECT_TRUE(row->deleted);
  EXPECT_EQ(row->name, "");
  EXPECT_EQ(row->email, "");
  EXPECT_EQ(row->password_hash, "");
  EXPECT_FALSE(store_->find_user_by_name("alice").value());
  EXPECT_FALSE(store_->find_user_by_email("alice@example.test").value());
  EXPECT_TRUE(store_->live_tokens_of(a, 5000).value().empty());
  EXPECT_EQ(store_->live_tokens_of(b, 5000).value().size(), 1u);
  // No new token, whatever hash is given: as for an unknown account.
  EXPECT_EQ(code(wait<void>([&](Callback<void> cb) {
              store_->put_login_token({"a2", a, 5000, 9000}, "", cb);
            })),
            Errc::kInvalidCredentials);
  EXPECT_EQ(code(del(a, "")), Errc::kUserNotFound);  // already deleted

  auto snap = store_->load_directory(5000);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->friendships.size(), 1u);  // bob and carol's only
  ASSERT_EQ(snap->friend_requests.size(), 1u);
  EXPECT_EQ(snap->friend_requests[0].from_id, d);
  EXPECT_EQ(snap->guilds.size(), 2u);
  auto tomb = std::find_if(snap->users.begin(), snap->users.end(),
                           [&](const UserRecord& u) { return u.id == a; });
  ASSERT_NE(tomb, snap->users.end());
  EXPECT_TRUE(tomb->deleted);
  // The message stays, with its author.
  auto history = store_->load_messages(700, 10000, 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ(history->front().author_id, a);
  EXPECT_EQ(history->front().content, "hello");

  // The name and the email are free: a new account takes them, under a new id.
  EXPECT_EQ(make_user("alice", 106), 106);
  auto again = store_->find_user_by_name("alice").value();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id, 106);
  EXPECT_FALSE(again->deleted);
  EXPECT_EQ(store_->find_user_by_email("ALICE@example.test").value()->id, 106);
}

TEST_P(StoreContract, OnlyTheOwnerDeletesAGuildAndItsHistoryStays) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  befriend(a, b, 500);
  ASSERT_TRUE(create_guild(700, a, 10).ok());
  ASSERT_TRUE(add_member(700, a, b, 20).ok());
  ASSERT_TRUE((wait<StoredMessage>([&](Callback<StoredMessage> cb) {
                 store_->put_message({1, 700, b, "hi", 21, false, std::nullopt}, cb);
               }).ok()));
  auto destroy = [&](int64_t actor) {
    return wait<GuildState>([&](Callback<GuildState> cb) { store_->delete_guild(700, actor, cb); });
  };
  EXPECT_EQ(code(destroy(b)), Errc::kNotGuildOwner);
  auto was = destroy(a);
  ASSERT_TRUE(was.ok());
  EXPECT_EQ(ids_of(*was), (std::vector<int64_t>{a, b}));  // the guild as it was
  EXPECT_EQ(code(destroy(a)), Errc::kGuildNotFound);
  auto snap = store_->load_directory(0);
  EXPECT_TRUE(snap->guilds.empty());
  EXPECT_TRUE(snap->guild_members.empty());
  EXPECT_EQ(store_->load_messages(700, 100, 10)->size(), 1u);
}

// Writes submitted without waiting: each decision sees the ones before it, whether they share
// its transaction or not, and the callbacks come in submission order.
TEST_P(StoreContract, DecisionsSeeEarlierWritesAndCallbacksComeInSubmissionOrder) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::optional<Errc>> codes(9, Errc::kInternal);
  std::optional<FriendRequestOutcome> crossed;
  std::optional<GuildLeaveOutcome> left;
  auto note = [&](int i, std::optional<Errc> e) {
    std::lock_guard lock(mu);
    order.push_back(i);
    codes[i] = e;
  };
  auto on_request = [&](int i) {
    return [&, i](Result<FriendRequestOutcome> r) {
      if (i == 1 && r.ok()) crossed = r.value();
      note(i, code(r));
    };
  };
  auto on_guild = [&](int i) { return [&, i](Result<GuildState> r) { note(i, code(r)); }; };
  store_->request_friend(a, b, 500, 10, on_request(0));
  store_->request_friend(b, a, 501, 11, on_request(1));  // crossed: befriends
  store_->request_friend(a, b, 502, 12, on_request(2));  // now friends
  store_->create_guild({700, "crew", a, 13}, on_guild(3));
  store_->add_guild_member(700, a, b, 14, 10, on_guild(4));
  store_->add_guild_member(700, a, b, 15, 10, on_guild(5));  // already a member
  store_->add_guild_member(700, a, c, 16, 10, on_guild(6));  // not a's friend
  store_->leave_guild(700, a, [&](Result<GuildLeaveOutcome> r) {
    if (r.ok()) left = r.value();
    note(7, code(r));
  });
  store_->rename_guild(700, b, "b's now", on_guild(8));  // b inherited it
  store_->flush();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(codes, (std::vector<std::optional<Errc>>{kDone, kDone, Errc::kAlreadyFriends, kDone,
                                                     kDone, Errc::kAlreadyMember, Errc::kNotFriends,
                                                     kDone, kDone}));
  ASSERT_TRUE(crossed);
  EXPECT_TRUE(crossed->befriended);
  EXPECT_EQ(crossed->chat_id, 501);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->new_owner, std::optional<int64_t>(b));
}

TEST_P(StoreContract, ManyWritesAreAcknowledgedInSubmissionOrder) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  std::mutex mu;
  std::vector<int64_t> acknowledged;
  for (int64_t i = 1; i <= 300; ++i)
    store_->put_message({i, chat, a, "m", 100 + i, false, std::nullopt},
                        [&, i](Result<StoredMessage> s) {
                          EXPECT_TRUE(s.ok());
                          std::lock_guard lock(mu);
                          acknowledged.push_back(i);
                        });
  store_->flush();
  ASSERT_EQ(acknowledged.size(), 300u);
  for (size_t i = 0; i < acknowledged.size(); ++i)
    EXPECT_EQ(acknowledged[i], static_cast<int64_t>(i + 1));
}

TEST_P(StoreContract, UnsentMailCountsUntilSentOrGivenUp) {
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                   store_->put_mail(OutboxMail{0, "a@b.cd", "s", "b", 0, 100 + i}, cb);
                 }).ok()));
  EXPECT_EQ(store_->unsent_mail_count().value(), 3);
  auto claim = std::move(store_->claim_due_mail(1000, 10).value());
  const auto& due = claim->mail();
  ASSERT_EQ(due.size(), 3u);
  claim->sent(due[0].id, 600);
  // Rescheduled mail still waits; mail given up after its last attempt does not.
  claim->retry(due[1].id, 1, 5000, "temporary");
  claim->retry(due[2].id, 12, INT64_MAX, "permanent");
  ASSERT_TRUE(claim->commit().ok());
  EXPECT_EQ(store_->unsent_mail_count().value(), 1);
  EXPECT_EQ(*store_->next_mail_due().value(), 5000);
}

TEST_P(StoreContract, AClaimTakesTheLongestDueMailFirstAndAtMostTheLimit) {
  for (int64_t due_at : {300, 100, 200, 5000})
    ASSERT_TRUE(
        (wait<void>([&](Callback<void> cb) {
           store_->put_mail(OutboxMail{0, "a@b.cd", "s", std::to_string(due_at), 0, due_at}, cb);
         }).ok()));
  auto claim = std::move(store_->claim_due_mail(1000, 2).value());
  ASSERT_EQ(claim->mail().size(), 2u);
  EXPECT_EQ(claim->mail()[0].body, "100");
  EXPECT_EQ(claim->mail()[1].body, "200");
}

TEST_P(StoreContract, MailOfAClaimEndedWithoutCommitIsDueAgain) {
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->put_mail(OutboxMail{0, "a@b.cd", "s", "b", 0, 100}, cb);
               }).ok()));
  {
    auto claim = std::move(store_->claim_due_mail(1000, 10).value());
    ASSERT_EQ(claim->mail().size(), 1u);
  }  // its sender stopped before sending
  auto again = std::move(store_->claim_due_mail(1000, 10).value());
  ASSERT_EQ(again->mail().size(), 1u);
  again->sent(again->mail()[0].id, 1000);
  ASSERT_TRUE(again->commit().ok());
  EXPECT_TRUE(store_->claim_due_mail(2000, 10).value()->mail().empty());
}

TEST_P(StoreContract, WritesAfterCloseFailAndMayBeRetried) {
  store_->close();
  Status s = wait<void>([&](Callback<void> cb) {
    store_->put_mail(OutboxMail{0, "a@b.cd", "s", "b", 0, 0}, cb);
  });
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(can_retry(s.error()));
}

}  // namespace
}  // namespace rwd::store
