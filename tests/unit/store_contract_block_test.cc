// The block decisions of store/store.h, for every implementation (see store_contract.h): a
// block ends the pair's friendship and pending request in its own transaction, and refuses
// friend requests of the pair while it lasts — to the blocked user as for a user that does
// not exist, to the blocker with kUserBlocked.
#include <optional>
#include <vector>

#include "store_contract.h"

namespace rwd::store {
namespace {

template <typename T>
std::optional<Errc> code_of(const Result<T>& r) {
  return r.ok() ? std::nullopt : std::optional<Errc>(r.error().code);
}

struct Blocking {
  Store& store;

  template <typename T, typename Call>
  static Result<T> await(Call call) {
    std::promise<Result<T>> p;
    call([&p](Result<T> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  Result<BlockOutcome> block(int64_t blocker, int64_t blocked) {
    return await<BlockOutcome>(
        [&](Callback<BlockOutcome> cb) { store.block_user(blocker, blocked, 5000, cb); });
  }
  Result<bool> unblock(int64_t blocker, int64_t blocked) {
    return await<bool>([&](Callback<bool> cb) { store.unblock_user(blocker, blocked, cb); });
  }
  Result<FriendRequestOutcome> request(int64_t from, int64_t to, int64_t chat_id = 900) {
    return await<FriendRequestOutcome>([&](Callback<FriendRequestOutcome> cb) {
      store.request_friend(from, to, chat_id, 6000, cb);
    });
  }
  DirectorySnapshot snapshot() { return store.load_directory(0).value(); }
};

TEST_P(StoreContract, BlockingEndsTheFriendshipAndSaysSo) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  befriend(alice, bob, 500);

  auto r = b.block(alice, bob);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_TRUE(r->changed);
  EXPECT_TRUE(r->unfriended);
  EXPECT_FALSE(r->request_removed);
  EXPECT_TRUE(b.snapshot().friendships.empty());
  EXPECT_EQ(store_->blocked_by(alice).value(), std::vector<int64_t>{bob});
  EXPECT_TRUE(store_->blocked_by(bob).value().empty());  // one-way
}

TEST_P(StoreContract, BlockingRemovesAPendingRequestEitherWay) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  int64_t carol = make_user("carol", 103);
  ASSERT_TRUE(b.request(bob, alice).ok());    // to the blocker
  ASSERT_TRUE(b.request(alice, carol).ok());  // from the blocker

  auto from_bob = b.block(alice, bob);
  ASSERT_TRUE(from_bob.ok());
  EXPECT_FALSE(from_bob->unfriended);
  ASSERT_TRUE(from_bob->request_removed);
  EXPECT_EQ(from_bob->request_removed->from_id, bob);
  EXPECT_EQ(from_bob->request_removed->to_id, alice);

  auto to_carol = b.block(alice, carol);
  ASSERT_TRUE(to_carol.ok());
  ASSERT_TRUE(to_carol->request_removed);
  EXPECT_EQ(to_carol->request_removed->from_id, alice);
  EXPECT_EQ(to_carol->request_removed->to_id, carol);
  EXPECT_TRUE(b.snapshot().friend_requests.empty());
}

TEST_P(StoreContract, ABlockedUsersRequestIsRefusedAsForAUserThatDoesNotExist) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  ASSERT_TRUE(b.block(alice, bob).ok());

  EXPECT_EQ(code_of(b.request(bob, alice)), Errc::kUserNotFound);
  EXPECT_EQ(code_of(b.request(alice, bob)), Errc::kUserBlocked);
  EXPECT_TRUE(b.snapshot().friend_requests.empty());
}

TEST_P(StoreContract, UnblockingRestoresRequestsAndARepeatChangesNothing) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  int64_t carol = make_user("carol", 103);
  ASSERT_TRUE(b.block(alice, carol).ok());
  ASSERT_TRUE(b.block(alice, bob).ok());
  auto again = b.block(alice, bob);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(store_->blocked_by(alice).value(),
            (std::vector<int64_t>{bob, carol}));  // by id at a tie

  EXPECT_TRUE(b.unblock(alice, bob).value());
  EXPECT_FALSE(b.unblock(alice, bob).value());
  EXPECT_EQ(store_->blocked_by(alice).value(), std::vector<int64_t>{carol});
  auto asked = b.request(bob, alice);
  ASSERT_TRUE(asked.ok()) << asked.error().detail;
  EXPECT_FALSE(asked->befriended);
}

TEST_P(StoreContract, BlockingYourselfOrNobodyIsRefused) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  EXPECT_EQ(code_of(b.block(alice, alice)), Errc::kSelfTarget);
  EXPECT_EQ(code_of(b.block(alice, 999)), Errc::kUserNotFound);
  EXPECT_TRUE(store_->blocked_by(alice).value().empty());
}

TEST_P(StoreContract, ABlockedPairCannotBeAddedToAGuildByEitherSide) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  befriend(alice, bob, 500);
  ASSERT_TRUE(create_guild(700, bob, 1000).ok());
  ASSERT_TRUE(b.block(alice, bob).ok());
  EXPECT_EQ(code_of(add_member(700, bob, alice, 7000)), Errc::kNotFriends);
}

TEST_P(StoreContract, ADeletedAccountsBlocksEndBothWays) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  int64_t carol = make_user("carol", 103);
  ASSERT_TRUE(b.block(alice, bob).ok());
  ASSERT_TRUE(b.block(carol, alice).ok());
  ASSERT_TRUE(Blocking::await<AccountDeleted>([&](Callback<AccountDeleted> cb) {
                store_->delete_user(alice, "", 6000, cb);
              }).ok());
  EXPECT_TRUE(store_->blocked_by(alice).value().empty());
  EXPECT_TRUE(store_->blocked_by(carol).value().empty());  // no "Deleted user" in her list
}

// The name was looked up before the account was deleted: the write still finds the tombstone
// and answers as for a user that does not exist, leaving nothing behind to withdraw.
TEST_P(StoreContract, ARequestOrBlockReachingADeletedAccountIsRefusedAsUnknown) {
  Blocking b{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  ASSERT_TRUE(Blocking::await<AccountDeleted>([&](Callback<AccountDeleted> cb) {
                store_->delete_user(bob, "", 6000, cb);
              }).ok());
  EXPECT_EQ(code_of(b.request(alice, bob)), Errc::kUserNotFound);
  EXPECT_EQ(code_of(b.request(bob, alice)), Errc::kUserNotFound);
  EXPECT_EQ(code_of(b.block(alice, bob)), Errc::kUserNotFound);
  EXPECT_TRUE(b.snapshot().friend_requests.empty());
  EXPECT_TRUE(store_->blocked_by(alice).value().empty());
}

}  // namespace
}  // namespace rwd::store
