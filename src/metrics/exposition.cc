#include "metrics/exposition.h"

#include <prometheus/collectable.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>
#include <utility>

namespace rwd::metrics {

namespace {

namespace prom = prometheus;

prom::ClientMetric value_metric(prom::MetricType type, double value,
                                std::vector<prom::ClientMetric::Label> labels = {}) {
  prom::ClientMetric m;
  m.label = std::move(labels);
  if (type == prom::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return m;
}

prom::MetricFamily family(std::string name, std::string help, prom::MetricType type) {
  prom::MetricFamily f;
  f.name = "rewind_" + std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

template <typename Array, typename Name>
prom::MetricFamily labelled(std::string name, std::string help, prom::MetricType type,
                            const char* label, const Array& values, Name name_of) {
  prom::MetricFamily f = family(std::move(name), std::move(help), type);
  for (size_t i = 0; i < values.size(); ++i)
    f.metric.push_back(
        value_metric(type, static_cast<double>(values[i].load()), {{label, name_of(i)}}));
  return f;
}

template <size_t N>
prom::MetricFamily histogram(std::string name, std::string help, const Histogram<N>& h) {
  prom::MetricFamily f = family(std::move(name), std::move(help), prom::MetricType::Histogram);
  prom::ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= N; ++i) {
    cumulative += h.bucket(i);
    prom::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < N ? h.bounds()[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = h.sum();
  f.metric.push_back(std::move(m));
  return f;
}

std::string slot_name(const std::vector<std::string>& names, size_t i, size_t slots) {
  if (i + 1 < slots && i < names.size()) return names[i];
  return "other";
}

}  // namespace

struct Exposition::Impl : prom::Collectable {
  Impl(const Counters& c, LabelNames n) : counters(c), names(std::move(n)) {
    // Rows past the slots are counted as "other": keep the names to match.
    if (names.request_types.size() > kRequestTypeSlots - 1)
      names.request_types.resize(kRequestTypeSlots - 1);
  }

  std::vector<prom::MetricFamily> Collect() const override;

  struct Source {
    std::string name, help;
    prom::MetricType type;
    std::function<double()> read;
  };

  const Counters& counters;
  LabelNames names;
  prom::Registry registry;  // build_info
  mutable std::mutex mu;    // sources: added at start-up, read by scrapes
  std::vector<Source> sources;
};

std::vector<prom::MetricFamily> Exposition::Impl::Collect() const {
  using T = prom::MetricType;
  const Counters& c = counters;
  std::vector<prom::MetricFamily> out;
  out.push_back(labelled("connections_open", "Open WebSocket connections by protocol version.",
                         T::Gauge, "protocol", c.connections_open,
                         [](size_t i) { return "v" + std::to_string(i + 1); }));
  {
    auto f =
        family("sessions_authenticated", "WebSocket sessions that have authenticated.", T::Gauge);
    f.metric.push_back(value_metric(T::Gauge, double(c.sessions_authenticated.load())));
    out.push_back(std::move(f));
  }
  out.push_back(labelled("requests_total", "Gateway requests by type (heartbeats included).",
                         T::Counter, "type", c.requests, [this](size_t i) {
                           return slot_name(names.request_types, i, kRequestTypeSlots);
                         }));
  out.push_back(labelled("errors_total", "Error answers (gateway frames and HTTP) by code.",
                         T::Counter, "code", c.errors,
                         [this](size_t i) { return slot_name(names.error_codes, i, kErrcSlots); }));
  out.push_back(labelled("closes_total", "WebSocket connections closed by the server, by code.",
                         T::Counter, "code", c.closes, [](size_t i) {
                           return i < kCloseCodes.size() ? std::to_string(kCloseCodes[i])
                                                         : std::string("other");
                         }));
  {
    auto f = family("slow_consumer_closes_total",
                    "Connections closed because their send queue passed --send-queue-bytes "
                    "(4105).",
                    T::Counter);
    f.metric.push_back(value_metric(T::Counter, double(c.closes[close_slot(4105)].load())));
    out.push_back(std::move(f));
  }
  auto single = [&out](std::string name, std::string help, T type, double value) {
    auto f = family(std::move(name), std::move(help), type);
    f.metric.push_back(value_metric(type, value));
    out.push_back(std::move(f));
  };
  single("send_queue_bytes", "Bytes waiting in every connection's send queue.", T::Gauge,
         double(c.send_queue_bytes.load()));
  single("events_delivered_total", "Event frames handed to sessions by the hub.", T::Counter,
         double(c.events_delivered.load()));
  single("accept_pauses_total",
         "Pauses of 100 ms in accepting connections: the process had no descriptor left.",
         T::Counter, double(c.accept_pauses.load()));
  single("sockets_cut_total",
         "WebSocket sockets cut before their close handshake was done (a close grace or the "
         "close frame's backstop ran out).",
         T::Counter, double(c.sockets_cut.load()));
  out.push_back(labelled("admin_actions_total",
                         "Account administration actions committed (admin listener), by action.",
                         T::Counter, "action", c.admin_actions,
                         [](size_t i) { return std::string(kAdminActionNames[i]); }));
  out.push_back(labelled("rate_limited_total", "Requests refused for their rate, by limit.",
                         T::Counter, "scope", c.rate_limited,
                         [](size_t i) { return std::string(kRateScopeNames[i]); }));
  auto ok_failed = [&out](std::string name, std::string help, const Count& ok, const Count& failed,
                          const char* ok_name, const char* failed_name) {
    auto f = family(std::move(name), std::move(help), T::Counter);
    f.metric.push_back(value_metric(T::Counter, double(ok.load()), {{"result", ok_name}}));
    f.metric.push_back(value_metric(T::Counter, double(failed.load()), {{"result", failed_name}}));
    out.push_back(std::move(f));
  };
  ok_failed("registrations_total", "Registration requests (POST /api/v1/register) by result.",
            c.registrations_ok, c.registrations_failed, "ok", "failed");
  ok_failed("logins_total", "Logins (POST /api/v1/login) by result.", c.logins_ok, c.logins_failed,
            "ok", "failed");
  single("messages_committed_total", "Chat messages written to the store.", T::Counter,
         double(c.messages_committed.load()));
  single("sends_deduplicated_total",
         "Sends answered with the message an earlier send with their nonce stored.", T::Counter,
         double(c.sends_deduplicated.load()));
  out.push_back(histogram("commit_batch_size", "Writes per store commit.", c.commit_batch_size));
  out.push_back(
      histogram("commit_seconds", "Time to commit one batch of writes.", c.commit_seconds));
  ok_failed("wal_checkpoints_total",
            "SQLite WAL checkpoints run beside the commits, by result (0 on PostgreSQL).",
            c.wal_checkpoints_ok, c.wal_checkpoints_failed, "ok", "failed");
  single("wal_checkpoints_in_commit_total",
         "SQLite WAL checkpoints the writer ran inside a commit: the few pages committed during "
         "the checkpoint thread's run, or all when the WAL outgrew four thresholds.",
         T::Counter, double(c.wal_checkpoints_in_commit.load()));
  single("wal_checkpoint_writebacks_total",
         "SQLite: chunks of the database file the checkpoint thread wrote back to the disk "
         "while copying, before its final sync (so that the WAL's syncs never wait behind a "
         "whole checkpoint).",
         T::Counter, double(c.wal_checkpoint_writebacks.load()));
  out.push_back(histogram("wal_checkpoint_seconds",
                          "Time of one SQLite WAL checkpoint (copy back and sync).",
                          c.wal_checkpoint_seconds));
  single("search_index_failures_total",
         "SQLite: steps of the search index that failed (logged; the next step retries, and "
         "messages not yet indexed are not found meanwhile).",
         T::Counter, double(c.search_index_failures.load()));
  ok_failed("mail_total", "Mail handed to the mailer, by result.", c.mail_sent, c.mail_failed,
            "sent", "failed");
  single("mail_queued_total", "Mail put in the outbox (verification and password-reset links).",
         T::Counter, double(c.mail_queued.load()));
  std::lock_guard lock(mu);
  for (const Source& s : sources) single(s.name, s.help, s.type, s.read());
  return out;
}

Exposition::Exposition(const Counters& counters, LabelNames names, std::string version)
    : impl_(std::make_unique<Impl>(counters, std::move(names))) {
  prom::BuildGauge()
      .Name("rewind_build_info")
      .Help("The running build: always 1, its version as a label.")
      .Register(impl_->registry)
      .Add({{"version", std::move(version)}})
      .Set(1);
}

Exposition::~Exposition() = default;

void Exposition::add_counter(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(impl_->mu);
  impl_->sources.push_back(
      {std::move(name), std::move(help), prom::MetricType::Counter, std::move(read)});
}

void Exposition::add_gauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(impl_->mu);
  impl_->sources.push_back(
      {std::move(name), std::move(help), prom::MetricType::Gauge, std::move(read)});
}

std::string Exposition::scrape() const {
  std::vector<prom::MetricFamily> families = impl_->registry.Collect();
  for (auto& f : impl_->Collect()) families.push_back(std::move(f));
  return prom::TextSerializer().Serialize(families);
}

}  // namespace rwd::metrics
