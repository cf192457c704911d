#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/error.h"

// The process's operational counters: plain relaxed atomics that the modules bump where the
// event happens, read only when /metrics is scraped (exposition.h turns them into the
// Prometheus text format). Bumping one is a single atomic add: no lock, no allocation, no
// label lookup, so the per-frame and per-message paths pay nothing more.
//
// Every label a counter is split by is a small closed set, indexed here by a number the
// caller already has (an enum, a row of a table): a value out of range lands in the "other"
// slot, so no input can grow a series. Nothing here may be split by user, name or address.
//
// One instance per process (counters()): the counting points are spread over every module,
// and a reference threaded through each of their constructors would change every interface
// for a number. Tests read differences, never absolute values.
namespace rwd::metrics {

// An up-down count (open connections, queued bytes).
using Gauge = std::atomic<int64_t>;
using Count = std::atomic<uint64_t>;

inline void add(Count& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
inline void add(Gauge& g, int64_t n) { g.fetch_add(n, std::memory_order_relaxed); }

// A bucket histogram with fixed upper bounds, lock-free to observe (prometheus-cpp's own
// Histogram takes a mutex on every Observe). Bounds are ascending; the last slot is +Inf.
template <size_t N>
class Histogram {
 public:
  explicit Histogram(const std::array<double, N>& bounds) : bounds_(bounds) {}

  void observe(double value) {
    size_t i = 0;
    while (i < N && value > bounds_[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    // A sum in fixed point (millionths) so that it stays one atomic add.
    sum_micro_.fetch_add(static_cast<int64_t>(value * 1e6), std::memory_order_relaxed);
  }

  const std::array<double, N>& bounds() const { return bounds_; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  double sum() const {
    return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6;
  }

 private:
  std::array<double, N> bounds_;
  std::array<Count, N + 1> buckets_{};  // the last one is +Inf
  std::atomic<int64_t> sum_micro_{0};
};

// Closed label sets. The protocol's tables (request types, close codes) live above this
// module; the program hands their names to the exposition (exposition.h).
inline constexpr size_t kProtocolVersions = 2;   // v1, v2
inline constexpr size_t kRequestTypeSlots = 24;  // request_types() rows; the last is "other"
inline constexpr size_t kErrcSlots = static_cast<size_t>(Errc::kInternal) + 2;  // + "other"
// The close codes of protocol/error_table.h, in this order; anything else counts as "other".
inline constexpr std::array<uint16_t, 17> kCloseCodes = {1000, 1001, 1002, 1007, 1009, 4100,
                                                         4101, 4102, 4103, 4104, 4105, 4106,
                                                         4107, 4108, 4109, 4110, 4111};
inline constexpr size_t kCloseSlots = kCloseCodes.size() + 1;
// Which limit refused a request: the per-address HTTP limits, a connection's request rate,
// a user's own budget (messages, friend requests, guild operations), the per-address
// connection cap.
enum class RateScope : uint8_t {
  kHttpRegister,
  kHttpLogin,
  kGateway,
  kUser,
  kAddress,
  kHttpPasswordReset,
  kHttpSessions
};
inline constexpr size_t kRateScopes = 7;
inline constexpr const char* kRateScopeNames[kRateScopes] = {
    "register", "login", "gateway", "user", "connections", "password_reset", "sessions"};

// What an operator did on the admin listener (http/admin_accounts.h), once committed.
enum class AdminAction : uint8_t { kDisable, kEnable, kRevokeSession, kDelete };
inline constexpr size_t kAdminActions = 4;
inline constexpr const char* kAdminActionNames[kAdminActions] = {"disable", "enable",
                                                                 "revoke_session", "delete"};

inline constexpr size_t close_slot(uint16_t code) {
  for (size_t i = 0; i < kCloseCodes.size(); ++i)
    if (kCloseCodes[i] == code) return i;
  return kCloseCodes.size();
}
inline constexpr size_t errc_slot(Errc code) {
  size_t i = static_cast<size_t>(code);
  return i < kErrcSlots - 1 ? i : kErrcSlots - 1;
}
inline constexpr size_t bounded(size_t i, size_t slots) { return i < slots - 1 ? i : slots - 1; }

// Commit batches are bounded by the writer's queue; latency from a few microseconds (SQLite
// in memory) to seconds (a stalled disk).
inline constexpr std::array<double, 9> kBatchSizeBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256};
inline constexpr std::array<double, 12> kLatencyBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5};

struct Counters {
  // Gateway (net, gateway).
  std::array<Gauge, kProtocolVersions> connections_open{};  // WebSocket, by protocol version
  Gauge sessions_authenticated{0};
  std::array<Count, kRequestTypeSlots> requests{};  // gateway requests by type
  std::array<Count, kErrcSlots> errors{};           // error answers (gateway and HTTP) by code
  std::array<Count, kCloseSlots> closes{};          // WebSocket closes by code
  Gauge send_queue_bytes{0};                        // bytes waiting in every send queue
  Count events_delivered{0};                        // frames handed to sessions by the hub
  std::array<Count, kRateScopes> rate_limited{};
  // Pauses of the accept loop (100 ms each) for want of a descriptor (the open-file limit).
  Count accept_pauses{0};
  // WebSocket sockets cut before their close handshake was done (a close grace or backstop).
  Count sockets_cut{0};
  // Accounts (http).
  Count registrations_ok{0}, registrations_failed{0};
  Count logins_ok{0}, logins_failed{0};
  std::array<Count, kAdminActions> admin_actions{};  // account administration, by action
  // Chats and the store.
  Count messages_committed{0};
  Count sends_deduplicated{0};  // sends answered with the message their nonce stored before
  Histogram<kBatchSizeBounds.size()> commit_batch_size{kBatchSizeBounds};
  Histogram<kLatencyBounds.size()> commit_seconds{kLatencyBounds};
  // The embedded store's WAL checkpoints, run beside the commits (store/sqlite).
  Count wal_checkpoints_ok{0}, wal_checkpoints_failed{0};
  Count wal_checkpoints_in_commit{0};  // the writer's (WalCheckpointPolicy)
  // The checkpoint thread's write-backs of a chunk of the database file (paced_writeback_vfs).
  Count wal_checkpoint_writebacks{0};
  Histogram<kLatencyBounds.size()> wal_checkpoint_seconds{kLatencyBounds};
  // The embedded store's search index steps that failed (each is logged; the next retries).
  Count search_index_failures{0};
  // Mail (the outbox).
  Count mail_sent{0}, mail_failed{0}, mail_queued{0};
};

Counters& counters();

inline void count_rate_limited(RateScope scope) {
  add(counters().rate_limited[static_cast<size_t>(scope)]);
}
inline void count_admin_action(AdminAction action) {
  add(counters().admin_actions[static_cast<size_t>(action)]);
}
inline void count_error(Errc code) { add(counters().errors[errc_slot(code)]); }
inline void count_close(uint16_t code) { add(counters().closes[close_slot(code)]); }

}  // namespace rwd::metrics
