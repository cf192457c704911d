#include "domain/directory.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rwd::domain {
namespace {

TEST(DirectoryTest, ExpiredTokensDoNotPileUpInMemory) {
  Directory d;
  // Logins whose tokens expire and are never logged out of: each at t, valid for 10.
  for (int64_t t = 0; t < 10'000; ++t)
    d.apply(change::TokenAdded{{"h" + std::to_string(t), 1, t, t + 10}});
  // Only the live ones (about 10) and those added since the last sweep remain.
  EXPECT_LT(d.token_count(), size_t{200});
  EXPECT_EQ(d.token_user("h9999", 9'999), std::optional<int64_t>(1));
  EXPECT_EQ(d.token_user("h5", 9'999), std::nullopt);
}

TEST(DirectoryTest, LiveTokensAreAllKept) {
  Directory d;
  for (int64_t t = 0; t < 1'000; ++t)
    d.apply(change::TokenAdded{{"h" + std::to_string(t), 1, t, 1'000'000}});
  EXPECT_EQ(d.token_count(), size_t{1'000});
  for (int64_t t = 0; t < 1'000; t += 111)
    EXPECT_EQ(d.token_user("h" + std::to_string(t), 1'000), std::optional<int64_t>(1));
}

// A node read a token from the store, and the token's revocation arrived before the node
// put what it read into the cache: the revocation wins.
TEST(DirectoryTest, ARevokedTokenIsNotAddedBackByALateRead) {
  Directory d;
  d.apply(change::TokenAdded{{"h", 1, 0, 1'000}});
  d.apply(change::TokenRemoved{"h"}, ChangeSource::kRemote);
  d.apply(change::TokenAdded{{"h", 1, 0, 1'000}}, ChangeSource::kRemote);
  EXPECT_EQ(d.token_user("h", 10), std::nullopt);
  // Only the most recent revocations are kept: an old one no longer blocks its hash.
  for (int i = 0; i < 5000; ++i) d.apply(change::TokenRemoved{"r" + std::to_string(i)});
  d.apply(change::TokenAdded{{"r0", 1, 0, 1'000}});
  EXPECT_EQ(d.token_user("r0", 10), std::optional<int64_t>(1));
  d.apply(change::TokenAdded{{"r4999", 1, 0, 1'000}});
  EXPECT_EQ(d.token_user("r4999", 10), std::nullopt);
}

TEST(DirectoryTest, ADeletedUserKeepsItsIdUnderTheFixedNameAndFreesItsNameAndEmail) {
  Directory d;
  store::UserRecord alice{7, "Alice", "Alice@Example.test", "hash", std::nullopt, 1};
  d.apply(change::UserAdded{alice});
  EXPECT_FALSE(d.name_available("alice").ok());
  store::UserRecord tomb;
  tomb.id = 7;
  tomb.created_us = 1;
  tomb.deleted = true;
  d.apply(change::UserAdded{tomb});
  ASSERT_TRUE(d.user(7));
  EXPECT_EQ(d.user(7)->name, kDeletedUserName);
  EXPECT_FALSE(d.user_by_name("alice"));
  EXPECT_FALSE(d.credentials_by_email("alice@example.test"));
  EXPECT_TRUE(d.name_available("alice").ok());
  // A new account took the name before the tombstone arrived again: it keeps it.
  store::UserRecord again{8, "alice", "alice@example.test", "hash2", std::nullopt, 2};
  d.apply(change::UserAdded{again});
  d.apply(change::UserAdded{tomb}, ChangeSource::kRemote);
  EXPECT_EQ(d.user_by_name("Alice")->id, 8);
  EXPECT_EQ(d.credentials_by_email("ALICE@example.test")->user_id, 8);
}

TEST(DirectoryTest, AFriendshipReplacesTheRequestsOfThePairAndRecordsTheirChat) {
  Directory d;
  d.apply(change::FriendRequestAdded{1, 2});
  d.apply(change::FriendRequestAdded{2, 1});
  d.apply(change::FriendshipAdded{1, 2, 500});
  EXPECT_TRUE(d.are_friends(1, 2));
  EXPECT_TRUE(d.are_friends(2, 1));
  EXPECT_FALSE(d.has_request(1, 2));
  EXPECT_FALSE(d.has_request(2, 1));
  EXPECT_EQ(d.dm_chat(2, 1), std::optional<int64_t>(500));
  // Unfriending keeps the chat: a pair refriended finds its history.
  d.apply(change::FriendshipRemoved{2, 1});
  EXPECT_FALSE(d.are_friends(1, 2));
  EXPECT_EQ(d.dm_chat(1, 2), std::optional<int64_t>(500));
}

TEST(DirectoryTest, APutGuildReplacesTheCachedStateAndItsMemberIndex) {
  Directory d;
  // Out of order, as a caller might hold them: the cache keeps joining order, ties by id.
  d.apply(change::GuildPut{{{700, "crew", 1, 10}, {{700, 3, 20}, {700, 2, 20}, {700, 1, 10}}}});
  auto g = d.guild(700);
  ASSERT_TRUE(g);
  ASSERT_EQ(g->members.size(), 3u);
  EXPECT_EQ(g->members[0].user_id, 1);
  EXPECT_EQ(g->members[1].user_id, 2);
  EXPECT_EQ(g->members[2].user_id, 3);
  EXPECT_EQ(d.guild_summaries_of(3).size(), 1u);
  // The guild as a later commit returned it: 3 left, 2 owns it.
  d.apply(change::GuildPut{{{700, "crew", 2, 10}, {{700, 2, 20}, {700, 1, 10}}}});
  EXPECT_TRUE(d.guild_summaries_of(3).empty());
  EXPECT_EQ(d.guild(700)->owner_id, 2);
  EXPECT_EQ(d.guild_members_if_member(700, 1), (std::vector<int64_t>{1, 2}));
  d.apply(change::GuildErased{700});
  EXPECT_FALSE(d.is_guild(700));
  EXPECT_TRUE(d.guild_summaries_of(1).empty());
  d.apply(change::GuildErased{700});  // a guild already gone is no error
}

TEST(DirectoryTest, TheListenerHearsOfLocalChangesOnly) {
  Directory d;
  std::vector<DirectoryChange> heard;
  d.set_change_listener([&](const DirectoryChange& c) { heard.push_back(c); });
  d.apply(change::FriendRequestAdded{1, 2});
  d.apply(change::FriendRequestAdded{3, 4}, ChangeSource::kRemote);
  EXPECT_TRUE(d.has_request(1, 2));
  EXPECT_TRUE(d.has_request(3, 4));
  ASSERT_EQ(heard.size(), 1u);
  EXPECT_EQ(std::get<change::FriendRequestAdded>(heard[0]).from_id, 1);
}

TEST(DirectoryTest, AUserAddedCanLogInByEmail) {
  Directory d;
  d.apply(change::UserAdded{{42, "Alice", "Alice@Example.test", "phc-hash", "hi", 7}},
          ChangeSource::kRemote);
  auto creds = d.credentials_by_email("alice@example.test");
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->user_id, 42);
  EXPECT_EQ(creds->password_hash, "phc-hash");
  EXPECT_EQ(d.user_by_name("ALICE")->profile, std::optional<std::string>("hi"));
}

TEST(DirectoryTest, AUserAddedAgainWithANewPasswordHashReplacesTheOldOne) {
  // How a password reset or change reaches the cache (and the other nodes' caches).
  Directory d;
  d.apply(change::UserAdded{{42, "Alice", "Alice@Example.test", "old-hash", std::nullopt, 7}});
  d.apply(change::UserAdded{{42, "Alice", "Alice@Example.test", "new-hash", std::nullopt, 7}});
  EXPECT_EQ(d.credentials_by_email("alice@example.test")->password_hash, "new-hash");
  auto account = d.email_and_credentials(42);
  ASSERT_TRUE(account);
  EXPECT_EQ(account->first, "alice@example.test");
  EXPECT_EQ(account->second.user_id, 42);
  EXPECT_EQ(account->second.password_hash, "new-hash");
  EXPECT_FALSE(d.email_and_credentials(43));
  EXPECT_EQ(d.user_count(), 1u);
}

TEST(DirectoryTest, AReloadReplacesTheCacheAndKeepsTheChangesAppliedWhileItRead) {
  Directory d;
  d.apply(change::FriendshipAdded{1, 2, 500});  // the snapshot below no longer has it
  d.begin_reload();
  // Committed after the snapshot was read: the snapshot lacks it.
  d.apply(change::GuildPut{{{700, "crew", 3, 10}, {{700, 3, 10}}}}, ChangeSource::kRemote);
  store::DirectorySnapshot snapshot;
  snapshot.users.push_back({3, "carol", "carol@example.test", "h", std::nullopt, 1});
  snapshot.friendships.push_back({3, 4});
  d.finish_reload(snapshot);
  EXPECT_FALSE(d.are_friends(1, 2));
  EXPECT_TRUE(d.are_friends(3, 4));
  EXPECT_TRUE(d.user(3));
  EXPECT_TRUE(d.is_guild(700));
  // The journal ends with the reload: a later reload does not bring this change back.
  d.begin_reload();
  d.finish_reload(snapshot);
  EXPECT_FALSE(d.is_guild(700));
}

TEST(DirectoryTest, AnAbortedReloadLeavesTheCacheAsItWas) {
  Directory d;
  d.apply(change::FriendshipAdded{1, 2, 500});
  d.begin_reload();
  d.apply(change::FriendRequestAdded{5, 6});
  d.abort_reload();
  EXPECT_TRUE(d.are_friends(1, 2));
  EXPECT_TRUE(d.has_request(5, 6));
}

}  // namespace
}  // namespace rwd::domain
