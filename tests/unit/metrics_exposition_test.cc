#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "http/admin_router.h"
#include "metrics/exposition.h"

namespace rwd::metrics {
namespace {

LabelNames names() {
  LabelNames n;
  n.request_types = {"heartbeat", "auth", "chat"};
  for (size_t i = 0; i + 1 < kErrcSlots; ++i) n.error_codes.push_back("code_" + std::to_string(i));
  return n;
}

// Every sample line of an exposition: "name{labels}" -> value.
std::map<std::string, double> samples(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

TEST(MetricsExpositionTest, NamesEveryFamilyWithHelpAndTypeAndTheBuild) {
  Counters c;
  Exposition e(c, names(), "v1.2.3");
  std::string text = e.scrape();
  for (const char* family : {"rewind_connections_open",
                             "rewind_sessions_authenticated",
                             "rewind_requests_total",
                             "rewind_errors_total",
                             "rewind_closes_total",
                             "rewind_slow_consumer_closes_total",
                             "rewind_send_queue_bytes",
                             "rewind_events_delivered_total",
                             "rewind_accept_pauses_total",
                             "rewind_sockets_cut_total",
                             "rewind_rate_limited_total",
                             "rewind_admin_actions_total",
                             "rewind_registrations_total",
                             "rewind_logins_total",
                             "rewind_messages_committed_total",
                             "rewind_sends_deduplicated_total",
                             "rewind_commit_batch_size",
                             "rewind_commit_seconds",
                             "rewind_wal_checkpoints_total",
                             "rewind_wal_checkpoints_in_commit_total",
                             "rewind_wal_checkpoint_writebacks_total",
                             "rewind_wal_checkpoint_seconds",
                             "rewind_mail_total",
                             "rewind_mail_queued_total",
                             "rewind_build_info"}) {
    EXPECT_NE(text.find(std::string("# HELP ") + family + " "), std::string::npos) << family;
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
  EXPECT_EQ(samples(text)["rewind_build_info{version=\"v1.2.3\"}"], 1);
  EXPECT_NE(text.find("# TYPE rewind_commit_seconds histogram"), std::string::npos);
}

TEST(MetricsExpositionTest, ValuesFollowTheCounters) {
  Counters c;
  Exposition e(c, names(), "v");
  add(c.requests[2]);
  add(c.requests[2]);
  add(c.connections_open[1], 3);
  add(c.connections_open[1], -1);
  add(c.logins_failed);
  count_error(Errc::kRateLimited);
  count_rate_limited(RateScope::kHttpLogin);
  auto s = samples(e.scrape());
  EXPECT_EQ(s["rewind_requests_total{type=\"chat\"}"], 2);
  EXPECT_EQ(s["rewind_requests_total{type=\"auth\"}"], 0);
  EXPECT_EQ(s["rewind_connections_open{protocol=\"v2\"}"], 2);
  EXPECT_EQ(s["rewind_connections_open{protocol=\"v1\"}"], 0);
  EXPECT_EQ(s["rewind_logins_total{result=\"failed\"}"], 1);
  EXPECT_EQ(s["rewind_logins_total{result=\"ok\"}"], 0);
  // count_error and count_rate_limited bump the process's counters, not this instance.
  EXPECT_EQ(s["rewind_errors_total{code=\"code_" +
              std::to_string(static_cast<int>(Errc::kRateLimited)) + "\"}"],
            0);
  add(c.errors[errc_slot(Errc::kRateLimited)]);
  s = samples(e.scrape());
  EXPECT_EQ(s["rewind_errors_total{code=\"code_" +
              std::to_string(static_cast<int>(Errc::kRateLimited)) + "\"}"],
            1);
}

TEST(MetricsExpositionTest, ASlowConsumerCloseCountsUnderItsCodeAndOnItsOwn) {
  Counters c;
  Exposition e(c, names(), "v");
  add(c.closes[close_slot(4105)]);
  add(c.closes[close_slot(4999)]);  // not a code of the table
  auto s = samples(e.scrape());
  EXPECT_EQ(s["rewind_closes_total{code=\"4105\"}"], 1);
  EXPECT_EQ(s["rewind_slow_consumer_closes_total"], 1);
  EXPECT_EQ(s["rewind_closes_total{code=\"other\"}"], 1);
}

TEST(MetricsExpositionTest, OutOfRangeLabelsFallIntoOtherAndNoSetGrows) {
  EXPECT_EQ(close_slot(1), kCloseSlots - 1);
  EXPECT_EQ(errc_slot(static_cast<Errc>(9999)), kErrcSlots - 1);
  EXPECT_EQ(bounded(500, kRequestTypeSlots), kRequestTypeSlots - 1);

  Counters c;
  LabelNames n = names();
  n.request_types.resize(40, "too_many");  // more rows than slots: the rest is "other"
  Exposition e(c, n, "v");
  // Every slot of every set, counted: the series are the same set as before.
  auto before = samples(e.scrape());
  for (auto& x : c.requests) add(x);
  for (auto& x : c.errors) add(x);
  for (auto& x : c.closes) add(x);
  for (auto& x : c.rate_limited) add(x);
  for (auto& x : c.admin_actions) add(x);
  for (auto& x : c.connections_open) add(x, 1);
  for (uint16_t code = 0; code < 5000; code += 7) add(c.closes[close_slot(code)]);
  auto after = samples(e.scrape());
  std::set<std::string> keys_before, keys_after;
  for (auto& [k, v] : before) keys_before.insert(k);
  for (auto& [k, v] : after) keys_after.insert(k);
  EXPECT_EQ(keys_before, keys_after);

  // Only the known label names, each with a value from its closed set.
  std::regex label(R"re(([a-z_]+)="([^"]*)")re");
  std::set<std::string> allowed_names = {"type",   "code", "protocol", "scope",
                                         "result", "le",   "version",  "action"};
  size_t series = 0;
  for (auto& [key, v] : after) {
    ++series;
    for (std::sregex_iterator it(key.begin(), key.end(), label), end; it != end; ++it) {
      std::string name = (*it)[1], value = (*it)[2];
      EXPECT_TRUE(allowed_names.count(name)) << key;
      EXPECT_LE(value.size(), 32u) << key;
      if (name == "type") {
        EXPECT_TRUE(value == "other" || value == "heartbeat" || value == "auth" ||
                    value == "chat" || value == "too_many")
            << key;
      }
    }
  }
  size_t bound = kProtocolVersions + kRequestTypeSlots + kErrcSlots + kCloseSlots + kRateScopes +
                 kAdminActions + 2 * (kBatchSizeBounds.size() + kLatencyBounds.size() + 4) + 20;
  EXPECT_LE(series, bound);
}

TEST(MetricsExpositionTest, HistogramsAreCumulativeWithCountAndSum) {
  Counters c;
  Exposition e(c, names(), "v");
  c.commit_batch_size.observe(1);
  c.commit_batch_size.observe(3);
  c.commit_batch_size.observe(1000);
  auto s = samples(e.scrape());
  EXPECT_EQ(s["rewind_commit_batch_size_bucket{le=\"1\"}"], 1);
  EXPECT_EQ(s["rewind_commit_batch_size_bucket{le=\"4\"}"], 2);
  EXPECT_EQ(s["rewind_commit_batch_size_bucket{le=\"256\"}"], 2);
  EXPECT_EQ(s["rewind_commit_batch_size_bucket{le=\"+Inf\"}"], 3);
  EXPECT_EQ(s["rewind_commit_batch_size_count"], 3);
  EXPECT_DOUBLE_EQ(s["rewind_commit_batch_size_sum"], 1004);
}

TEST(MetricsExpositionTest, SourcesAreReadAtEachScrape) {
  Counters c;
  Exposition e(c, names(), "v");
  double failures = 2;
  e.add_counter("storage_write_failures_total", "help", [&] { return failures; });
  EXPECT_EQ(samples(e.scrape())["rewind_storage_write_failures_total"], 2);
  failures = 5;
  EXPECT_EQ(samples(e.scrape())["rewind_storage_write_failures_total"], 5);
}

http::Response admin_get(http::AdminRouter& router, std::string target,
                         std::string method = "GET") {
  http::Request req;
  req.method = std::move(method);
  req.target = std::move(target);
  http::Response out;
  router.handle(std::move(req), [&](http::Response r) { out = std::move(r); });
  return out;
}

TEST(AdminRouterTest, ServesMetricsHealthAndReadinessAndNothingElse) {
  Readiness readiness;
  bool down = false;
  readiness.add("store", [&]() -> std::optional<std::string> {
    if (down) return "cannot write";
    return std::nullopt;
  });
  http::AdminRouter router([] { return std::string("rewind_x 1\n"); }, Exposition::kContentType,
                           readiness);
  auto m = admin_get(router, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "rewind_x 1\n");
  EXPECT_EQ(m.content_type, Exposition::kContentType);
  EXPECT_EQ(admin_get(router, "/healthz").status, 200);
  EXPECT_EQ(admin_get(router, "/readyz").status, 200);
  down = true;
  auto r = admin_get(router, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("store: cannot write"), std::string::npos);
  EXPECT_EQ(admin_get(router, "/metrics", "POST").status, 405);
  for (const char* other : {"/", "/api/v1/login", "/api/v1/about", "/ws", "/index.html"})
    EXPECT_EQ(admin_get(router, other).status, 404) << other;
}

}  // namespace
}  // namespace rwd::metrics
