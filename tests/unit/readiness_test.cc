#include "base/readiness.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace rwd {
namespace {

std::vector<std::string> names(const std::vector<Readiness::Failure>& failures) {
  std::vector<std::string> out;
  for (const auto& f : failures) out.push_back(f.name);
  return out;
}

void add_failing(Readiness& r, std::vector<std::string> parts) {
  r.add("ok", [] { return std::optional<std::string>(); });
  for (const auto& p : parts) r.add(p, [] { return std::optional<std::string>("down"); });
}

TEST(ReadinessTest, AProbeWithoutExcludeSeesEveryFailingPart) {
  Readiness r;
  add_failing(r, {"store", "mail"});
  EXPECT_EQ(names(r.failures_for("/readyz")), (std::vector<std::string>{"store", "mail"}));
  EXPECT_EQ(names(r.failures_for("/readyz?verbose=1")),
            (std::vector<std::string>{"store", "mail"}));
}

TEST(ReadinessTest, ExcludeLeavesOutTheNamedPartsOnly) {
  Readiness r;
  add_failing(r, {"store", "mail", "broker"});
  EXPECT_EQ(names(r.failures_for("/readyz?exclude=mail")),
            (std::vector<std::string>{"store", "broker"}));
  EXPECT_EQ(names(r.failures_for("/readyz?exclude=mail,broker")),
            (std::vector<std::string>{"store"}));
  EXPECT_EQ(names(r.failures_for("/readyz?exclude=mail&exclude=store")),
            (std::vector<std::string>{"broker"}));
  // An unknown or empty name excludes nothing; a prefix is not a name.
  EXPECT_EQ(names(r.failures_for("/readyz?exclude=&exclude=mai&exclude=nope")),
            (std::vector<std::string>{"store", "mail", "broker"}));
}

}  // namespace
}  // namespace rwd
