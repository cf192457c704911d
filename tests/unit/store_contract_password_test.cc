// The password decisions of store/store.h, for every implementation (see store_contract.h):
// reset keys (one per user, single use, expiring) and password changes, each revoking the
// user's tokens in the same transaction.
#include <algorithm>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "store_contract.h"

namespace rwd::store {
namespace {

std::optional<Errc> code_of(const Status& s) {
  return s.ok() ? std::nullopt : std::optional<Errc>(s.error().code);
}
template <typename T>
std::optional<Errc> code_of(const Result<T>& r) {
  return r.ok() ? std::nullopt : std::optional<Errc>(r.error().code);
}

// Submits a write and waits for its acknowledgement.
template <typename T, typename Call>
Result<T> await(Call call) {
  std::promise<Result<T>> p;
  call([&p](Result<T> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

// The password writes and what they leave, through the Store interface.
struct Passwords {
  Store& store;

  Status put_reset(int64_t user_id, const std::string& key, int64_t now, int64_t expires) {
    return await<void>([&](Callback<void> cb) {
      store.put_password_reset({user_id, crypto::sha256_hex(key), now, expires},
                               OutboxMail{0, "to@example.test", "reset", "link", 0, 0}, cb);
    });
  }
  Result<PasswordChanged> reset(const std::string& key, const std::string& hash, int64_t now) {
    return await<PasswordChanged>([&](Callback<PasswordChanged> cb) {
      store.reset_password(crypto::sha256_hex(key), hash, now, cb);
    });
  }
  Result<PasswordChanged> change(int64_t user, const std::string& old_hash,
                                 const std::string& new_hash, const std::string& keep) {
    return await<PasswordChanged>([&](Callback<PasswordChanged> cb) {
      store.change_password(user, old_hash, new_hash, keep, 2000, cb);
    });
  }
  bool put_token(const std::string& hash, int64_t user, int64_t expires) {
    return await<void>([&](Callback<void> cb) {
             store.put_token({hash, user, 1000, expires}, cb);
           })
        .ok();
  }
  std::vector<std::string> live_tokens(int64_t now) {
    auto snapshot = store.load_directory(now);
    if (!snapshot.ok()) return {"(the directory could not be read)"};
    std::vector<std::string> out;
    for (const auto& t : snapshot.value().tokens) out.push_back(t.token_hash);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string stored_hash(int64_t user) { return store.find_user(user).value()->password_hash; }
};

TEST_P(StoreContract, AResetKeyWorksOnceReplacesTheHashAndRevokesEveryLiveToken) {
  Passwords p{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  ASSERT_TRUE(p.put_token("a1", alice, 9000));
  ASSERT_TRUE(p.put_token("a2", alice, 9000));
  ASSERT_TRUE(p.put_token("a-old", alice, 1500));  // expired at 2000: not revoked, not answered
  ASSERT_TRUE(p.put_token("b1", bob, 9000));
  ASSERT_TRUE(p.put_reset(alice, "key", 1000, 5000).ok());

  auto done = p.reset("key", "new-hash", 2000);
  ASSERT_TRUE(done.ok()) << done.error().detail;
  EXPECT_EQ(done->user.id, alice);
  EXPECT_EQ(done->user.name, "alice");
  EXPECT_EQ(done->user.email, "alice@example.test");
  EXPECT_EQ(done->user.password_hash, "new-hash");
  auto revoked = done->revoked_token_hashes;
  std::sort(revoked.begin(), revoked.end());
  EXPECT_EQ(revoked, (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(p.stored_hash(alice), "new-hash");
  EXPECT_EQ(p.stored_hash(bob), "hash");
  EXPECT_EQ(p.live_tokens(2000), (std::vector<std::string>{"b1"}));

  EXPECT_EQ(code_of(p.reset("key", "other", 2000)), Errc::kLinkInvalid);  // used
  EXPECT_EQ(p.stored_hash(alice), "new-hash");
}

TEST_P(StoreContract, AnUnknownOrExpiredOrReplacedKeyIsRefusedAndChangesNothing) {
  Passwords p{*store_};
  int64_t alice = make_user("alice", 101);
  ASSERT_TRUE(p.put_token("a1", alice, 9000));
  ASSERT_TRUE(p.put_reset(alice, "first", 1000, 5000).ok());
  ASSERT_TRUE(p.put_reset(alice, "second", 1100, 5000).ok());  // replaces "first"
  EXPECT_EQ(code_of(p.reset("first", "x", 2000)), Errc::kLinkInvalid);
  EXPECT_EQ(code_of(p.reset("unknown", "x", 2000)), Errc::kLinkInvalid);
  EXPECT_EQ(code_of(p.reset("second", "x", 5000)), Errc::kLinkInvalid);  // expired at 5000
  EXPECT_EQ(p.stored_hash(alice), "hash");
  EXPECT_EQ(p.live_tokens(2000), (std::vector<std::string>{"a1"}));
  EXPECT_TRUE(p.reset("second", "x", 4999).ok());  // still live just before
}

TEST_P(StoreContract, AResetForNoSuchUserStoresNothing) {
  Passwords p{*store_};
  EXPECT_EQ(code_of(p.put_reset(999, "key", 1000, 5000)), Errc::kUserNotFound);
  EXPECT_EQ(code_of(p.reset("key", "x", 2000)), Errc::kLinkInvalid);
  EXPECT_TRUE(store_->claim_due_mail(1000, 10).value()->mail().empty());  // not even the mail
}

TEST_P(StoreContract, AChangeKeepsTheCallersTokenAndRevokesTheOthers) {
  Passwords p{*store_};
  int64_t alice = make_user("alice", 101);
  int64_t bob = make_user("bob", 102);
  ASSERT_TRUE(p.put_token("a1", alice, 9000));
  ASSERT_TRUE(p.put_token("a2", alice, 9000));
  ASSERT_TRUE(p.put_token("b1", bob, 9000));
  auto done = p.change(alice, "hash", "new-hash", "a1");
  ASSERT_TRUE(done.ok()) << done.error().detail;
  EXPECT_EQ(done->user.id, alice);
  EXPECT_EQ(done->user.password_hash, "new-hash");
  EXPECT_EQ(done->revoked_token_hashes, (std::vector<std::string>{"a2"}));
  EXPECT_EQ(p.stored_hash(alice), "new-hash");
  EXPECT_EQ(p.live_tokens(2000), (std::vector<std::string>{"a1", "b1"}));
}

TEST_P(StoreContract, AChangeFromAHashNoLongerStoredIsRefused) {
  Passwords p{*store_};
  int64_t alice = make_user("alice", 101);
  ASSERT_TRUE(p.put_token("a1", alice, 9000));
  ASSERT_TRUE(p.put_token("a2", alice, 9000));
  ASSERT_TRUE(p.change(alice, "hash", "second", "a1").ok());
  // A concurrent change decided from the old hash loses.
  EXPECT_EQ(code_of(p.change(alice, "hash", "third", "a1")), Errc::kInvalidCredentials);
  EXPECT_EQ(p.stored_hash(alice), "second");
  EXPECT_EQ(code_of(p.change(999, "hash", "x", "")), Errc::kUserNotFound);
  EXPECT_EQ(p.live_tokens(2000), (std::vector<std::string>{"a1"}));
}

TEST_P(StoreContract, ATokenFromALoginThatVerifiedAReplacedHashIsRefused) {
  Passwords p{*store_};
  int64_t alice = make_user("alice", 101);
  auto put = [&](const std::string& token, const std::string& verified) {
    return await<void>([&](Callback<void> cb) {
      store_->put_login_token({token, alice, 1000, 9000}, verified, cb);
    });
  };
  EXPECT_TRUE(put("checked", "hash").ok());
  ASSERT_TRUE(p.change(alice, "hash", "new-hash", "checked").ok());
  // A login that verified the old password (racing the change, or on a node whose cache has
  // not heard of it) gets no token; one that verified the new password does.
  EXPECT_EQ(code_of(put("stale", "hash")), Errc::kInvalidCredentials);
  EXPECT_TRUE(put("fresh", "new-hash").ok());
  EXPECT_EQ(p.live_tokens(2000), (std::vector<std::string>{"checked", "fresh"}));
}

}  // namespace
}  // namespace rwd::store
