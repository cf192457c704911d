#include "domain/directory.h"

#include <gtest/gtest.h>

#include <string>

namespace rwd::domain {
namespace {

TEST(DirectoryTest, ExpiredTokensDoNotPileUpInMemory) {
  Directory d;
  // Logins whose tokens expire and are never logged out of: each at t, valid for 10.
  for (int64_t t = 0; t < 10'000; ++t) d.add_token("h" + std::to_string(t), 1, t + 10, t);
  // Only the live ones (about 10) and those added since the last sweep remain.
  EXPECT_LT(d.token_count(), size_t{200});
  EXPECT_EQ(d.token_user("h9999", 9'999), std::optional<int64_t>(1));
  EXPECT_EQ(d.token_user("h5", 9'999), std::nullopt);
}

TEST(DirectoryTest, LiveTokensAreAllKept) {
  Directory d;
  for (int64_t t = 0; t < 1'000; ++t) d.add_token("h" + std::to_string(t), 1, 1'000'000, t);
  EXPECT_EQ(d.token_count(), size_t{1'000});
  for (int64_t t = 0; t < 1'000; t += 111)
    EXPECT_EQ(d.token_user("h" + std::to_string(t), 1'000), std::optional<int64_t>(1));
}

TEST(DirectoryTest, AFriendshipReplacesTheRequestsOfThePairAndRecordsTheirChat) {
  Directory d;
  d.add_request(1, 2);
  d.add_request(2, 1);
  d.add_friendship(1, 2, 500);
  EXPECT_TRUE(d.are_friends(1, 2));
  EXPECT_TRUE(d.are_friends(2, 1));
  EXPECT_FALSE(d.has_request(1, 2));
  EXPECT_FALSE(d.has_request(2, 1));
  EXPECT_EQ(d.dm_chat(2, 1), std::optional<int64_t>(500));
  // Unfriending keeps the chat: a pair refriended finds its history.
  d.remove_friendship(2, 1);
  EXPECT_FALSE(d.are_friends(1, 2));
  EXPECT_EQ(d.dm_chat(1, 2), std::optional<int64_t>(500));
}

TEST(DirectoryTest, APutGuildReplacesTheCachedStateAndItsMemberIndex) {
  Directory d;
  // Out of order, as a caller might hold them: the cache keeps joining order, ties by id.
  d.put_guild({{700, "crew", 1, 10}, {{700, 3, 20}, {700, 2, 20}, {700, 1, 10}}});
  auto g = d.guild(700);
  ASSERT_TRUE(g);
  ASSERT_EQ(g->members.size(), 3u);
  EXPECT_EQ(g->members[0].user_id, 1);
  EXPECT_EQ(g->members[1].user_id, 2);
  EXPECT_EQ(g->members[2].user_id, 3);
  EXPECT_EQ(d.guild_summaries_of(3).size(), 1u);
  // The guild as a later commit returned it: 3 left, 2 owns it.
  d.put_guild({{700, "crew", 2, 10}, {{700, 2, 20}, {700, 1, 10}}});
  EXPECT_TRUE(d.guild_summaries_of(3).empty());
  EXPECT_EQ(d.guild(700)->owner_id, 2);
  EXPECT_EQ(d.guild_members_if_member(700, 1), (std::vector<int64_t>{1, 2}));
  d.erase_guild(700);
  EXPECT_FALSE(d.is_guild(700));
  EXPECT_TRUE(d.guild_summaries_of(1).empty());
  d.erase_guild(700);  // a guild already gone is no error
}

}  // namespace
}  // namespace rwd::domain
