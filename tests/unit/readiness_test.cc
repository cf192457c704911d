#include "base/readiness.h"

#include <gtest/gtest.h>

namespace rwd {
namespace {

std::optional<std::string> fine() { return std::nullopt; }

TEST(ReadinessTest, ReadyWithNoChecksOrOnlyPassingOnes) {
  Readiness r;
  EXPECT_TRUE(r.failures().empty());
  r.add("store", fine);
  EXPECT_TRUE(r.failures().empty());
}

TEST(ReadinessTest, EveryFailingCheckIsNamedInTheOrderAdded) {
  Readiness r;
  bool store_down = true, stopping = true;
  r.add("store", [&]() -> std::optional<std::string> {
    if (store_down) return "cannot write";
    return std::nullopt;
  });
  r.add("broker", fine);
  r.add("shutdown", [&]() -> std::optional<std::string> {
    if (stopping) return "draining connections";
    return std::nullopt;
  });
  auto f = r.failures();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].name, "store");
  EXPECT_EQ(f[0].reason, "cannot write");
  EXPECT_EQ(f[1].name, "shutdown");
  store_down = false;
  f = r.failures();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].name, "shutdown");
  stopping = false;
  EXPECT_TRUE(r.failures().empty());
}

TEST(ReadinessTest, AddingANameAgainReplacesItsCheck) {
  Readiness r;
  r.add("broker", [] { return std::optional<std::string>("unreachable"); });
  r.add("broker", fine);
  EXPECT_TRUE(r.failures().empty());
}

}  // namespace
}  // namespace rwd
