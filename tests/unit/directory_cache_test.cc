// The Directory as a cache of the store: the services change it only from committed results,
// so a failed commit leaves it as the store is, and nothing is visible before the commit.
// A real SQLite store in a temporary directory, a real Directory and event bus.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/snowflake.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "domain/guilds.h"
#include "domain/social.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_sqlite_store.h"

namespace rwd::domain {
namespace {

class DirectoryCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status opened = store_.open("rewind-cache-test");
    ASSERT_TRUE(opened.ok()) << opened.error().detail;
    alice_ = make_user("alice", 101);
    bob_ = make_user("bob", 102);
    auto snapshot = store_->load_directory(clock_.now_us());
    ASSERT_TRUE(snapshot.ok());
    directory_.load(snapshot.value());
    bus_.subscribe([this](const Event& e) {
      std::lock_guard lock(mu_);
      events_.push_back(e);
    });
    social_ = std::make_unique<Social>(*store_, directory_, bus_, ids_, clock_, 100, 60'000'000);
    guilds_ = std::make_unique<Guilds>(GuildSettings{}, *store_, directory_, bus_, ids_, clock_);
  }
  void TearDown() override {
    social_.reset();
    guilds_.reset();
    store_.reset();
  }

  UserView make_user(const std::string& name, int64_t id) {
    store::PendingRegistration reg{
        name + "@example.test", name, "hash", crypto::sha256_hex("key-" + name), 1000,
        int64_t{1} << 60};
    std::promise<Status> put;
    store_->put_registration(reg, {0, reg.email, "s", "b", 0, 0},
                             [&](Status s) { put.set_value(s); });
    EXPECT_TRUE(put.get_future().get().ok());
    std::promise<Result<store::UserRecord>> verified;
    store_->verify_registration(crypto::sha256_hex("key-" + name), 2000, id,
                                [&](Result<store::UserRecord> r) { verified.set_value(r); });
    EXPECT_TRUE(verified.get_future().get().ok());
    return UserView{id, name, std::nullopt};
  }

  // A Done that keeps its outcome, and the future of that outcome.
  struct Outcome {
    std::shared_ptr<std::promise<Status>> promise = std::make_shared<std::promise<Status>>();
    std::future<Status> future = promise->get_future();
    std::function<void(Status)> done() {
      return [p = promise](Status s) { p->set_value(std::move(s)); };
    }
  };

  size_t event_count() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

  // The cache holds what the store holds, for the two users and the guild of these tests.
  void expect_cache_matches_store(int64_t guild_id = 0) {
    auto snap = store_->load_directory(clock_.now_us());
    ASSERT_TRUE(snap.ok());
    auto stored_request = [&](int64_t from, int64_t to) {
      for (const auto& r : snap->friend_requests)
        if (r.from_id == from && r.to_id == to) return true;
      return false;
    };
    EXPECT_EQ(directory_.has_request(alice_.id, bob_.id), stored_request(alice_.id, bob_.id));
    EXPECT_EQ(directory_.has_request(bob_.id, alice_.id), stored_request(bob_.id, alice_.id));
    EXPECT_EQ(directory_.are_friends(alice_.id, bob_.id), !snap->friendships.empty());
    std::optional<int64_t> stored_chat;
    if (!snap->dm_chats.empty()) stored_chat = snap->dm_chats[0].chat_id;
    EXPECT_EQ(directory_.dm_chat(alice_.id, bob_.id), stored_chat);
    if (!guild_id) return;
    auto cached = directory_.guild(guild_id);
    const store::GuildRecord* stored = nullptr;
    for (const auto& g : snap->guilds)
      if (g.id == guild_id) stored = &g;
    ASSERT_EQ(cached.has_value(), stored != nullptr);
    if (!stored) return;
    EXPECT_EQ(cached->owner_id, stored->owner_id);
    EXPECT_EQ(cached->name, stored->name);
    std::vector<int64_t> stored_members, cached_members;
    for (const auto& m : snap->guild_members)
      if (m.guild_id == guild_id) stored_members.push_back(m.user_id);
    for (const auto& m : cached->members) cached_members.push_back(m.user_id);
    std::sort(stored_members.begin(), stored_members.end());
    std::sort(cached_members.begin(), cached_members.end());
    EXPECT_EQ(cached_members, stored_members);
  }

  SystemClock clock_;
  SnowflakeGenerator ids_{1};
  rwd::testing::TempSqliteStore store_;
  Directory directory_;
  InProcessEventBus bus_;
  std::mutex mu_;
  std::vector<Event> events_;  // guarded by mu_
  std::unique_ptr<Social> social_;
  std::unique_ptr<Guilds> guilds_;
  UserView alice_, bob_;
};

// The old flaw: crossed requests in one batch whose commit failed were undone in commit
// order, leaving in memory a request the disk never saw.
TEST_F(DirectoryCacheTest, AFailedCommitOfCrossedRequestsLeavesTheCacheAsTheStore) {
  store_->pause_writer_for_test();
  store_->fail_next_commit_for_test();
  Outcome asked, crossed;
  social_->request(alice_, 0, "bob", asked.done());
  social_->request(bob_, 0, "alice", crossed.done());
  // Queued, not committed: nothing shows.
  EXPECT_FALSE(directory_.has_request(alice_.id, bob_.id));
  EXPECT_FALSE(directory_.are_friends(alice_.id, bob_.id));
  EXPECT_EQ(event_count(), 0u);
  store_->resume_writer_for_test();
  EXPECT_FALSE(asked.future.get().ok());
  EXPECT_FALSE(crossed.future.get().ok());
  store_->flush();
  EXPECT_EQ(event_count(), 0u);
  expect_cache_matches_store();
  EXPECT_FALSE(directory_.has_request(alice_.id, bob_.id));

  // The same batch committed: the cache follows, and each event came after its commit.
  store_->pause_writer_for_test();
  Outcome again, befriended;
  social_->request(alice_, 0, "bob", again.done());
  social_->request(bob_, 0, "alice", befriended.done());
  EXPECT_EQ(event_count(), 0u);
  store_->resume_writer_for_test();
  EXPECT_TRUE(again.future.get().ok());
  EXPECT_TRUE(befriended.future.get().ok());
  store_->flush();
  EXPECT_TRUE(directory_.are_friends(alice_.id, bob_.id));
  expect_cache_matches_store();
  std::lock_guard lock(mu_);
  ASSERT_EQ(events_.size(), 2u);
  EXPECT_EQ(std::get<FriendEvent>(events_[0]).action, FriendAction::kRequest);
  EXPECT_EQ(std::get<FriendEvent>(events_[1]).action, FriendAction::kResponse);
}

TEST_F(DirectoryCacheTest, AFailedCommitOfTwoChangesToAGuildLeavesTheCacheAsTheStore) {
  Outcome asked, accepted, created;
  social_->request(alice_, 0, "bob", asked.done());
  ASSERT_TRUE(asked.future.get().ok());
  social_->respond(bob_, 0, "alice", accepted.done());
  ASSERT_TRUE(accepted.future.get().ok());
  guilds_->create(alice_, "crew", {}, created.done());
  ASSERT_TRUE(created.future.get().ok());
  store_->flush();
  int64_t guild_id = directory_.guild_summaries_of(alice_.id).at(0).id;
  size_t events_before = event_count();

  // Bob joins, then the owner leaves (bob would inherit): one batch, and it fails.
  store_->pause_writer_for_test();
  store_->fail_next_commit_for_test();
  Outcome added, left;
  guilds_->add(alice_, guild_id, "bob", {}, added.done());
  guilds_->leave(alice_, guild_id, {}, left.done());
  EXPECT_FALSE(directory_.guild(guild_id)->has_member(bob_.id));
  store_->resume_writer_for_test();
  EXPECT_FALSE(added.future.get().ok());
  EXPECT_FALSE(left.future.get().ok());
  store_->flush();
  EXPECT_EQ(event_count(), events_before);
  expect_cache_matches_store(guild_id);
  EXPECT_EQ(directory_.guild(guild_id)->owner_id, alice_.id);
  EXPECT_EQ(directory_.guild(guild_id)->members.size(), 1u);

  // Committed, the same two hand the guild to bob.
  Outcome added_again, left_again;
  guilds_->add(alice_, guild_id, "bob", {}, added_again.done());
  guilds_->leave(alice_, guild_id, {}, left_again.done());
  EXPECT_TRUE(added_again.future.get().ok());
  EXPECT_TRUE(left_again.future.get().ok());
  store_->flush();
  expect_cache_matches_store(guild_id);
  EXPECT_EQ(directory_.guild(guild_id)->owner_id, bob_.id);
  std::lock_guard lock(mu_);
  ASSERT_EQ(events_.size(), events_before + 2);
  const auto& leave_event = std::get<GuildEvent>(events_.back());
  EXPECT_EQ(leave_event.action, GuildAction::kLeft);
  ASSERT_TRUE(leave_event.new_owner);
  EXPECT_EQ(leave_event.new_owner->id, bob_.id);
}

}  // namespace
}  // namespace rwd::domain
