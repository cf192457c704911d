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

}  // namespace
}  // namespace rwd::domain
