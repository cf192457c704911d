// The presence setting of store/store.h (set_presence_hidden), for every implementation (see
// store_contract.h): stored, read back with the directory, and setting it twice is no error.
#include <algorithm>

#include "store_contract.h"

namespace rwd::store {
namespace {

TEST_P(StoreContract, APresenceSettingIsStoredAndReadBackWithTheDirectory) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  auto set = [&](int64_t user, bool hidden) {
    return wait<void>([&](Callback<void> cb) { store_->set_presence_hidden(user, hidden, cb); });
  };
  auto hidden_now = [&] {
    auto snap = store_->load_directory(0);
    EXPECT_TRUE(snap.ok());
    auto ids = snap->presence_hidden;
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_TRUE(hidden_now().empty());  // shown by default
  ASSERT_TRUE(set(a, true).ok());
  ASSERT_TRUE(set(a, true).ok());   // again: no error, nothing more
  ASSERT_TRUE(set(b, false).ok());  // already shown
  EXPECT_EQ(hidden_now(), std::vector<int64_t>{a});
  ASSERT_TRUE(set(b, true).ok());
  ASSERT_TRUE(set(a, false).ok());
  EXPECT_EQ(hidden_now(), std::vector<int64_t>{b});
}

}  // namespace
}  // namespace rwd::store
