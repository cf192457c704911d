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
