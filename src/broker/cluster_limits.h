#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/rate_limiter.h"
#include "base/shared_gauge.h"
#include "broker/broker.h"

namespace rwd::broker {

struct ClusterLimitsOptions {
  // How often a node tells the others what it admitted and which gauges changed: the bound
  // on how stale another node's view is (and so on over-admission) while the broker is up.
  std::chrono::milliseconds sync_interval{100};
  // How often a node sends its full gauges (also its heartbeat): a node that joined late,
  // or was cut off, has the others' counts again within this.
  std::chrono::milliseconds full_report_interval{2000};
  // A node not heard from for this long is taken as gone: its gauge counts are forgotten
  // (a node that dies leaves no sessions or connections counted behind it).
  std::chrono::milliseconds node_expiry{6000};
};

// Limits counted over every node, through the broker (channel rw:limits), without a round
// trip on any request's path: each node decides locally, from its own counts plus the
// others' last reported ones.
//
//  - Rate limits (RateLimiter, a token bucket per key): every sync_interval a node publishes
//    what each shared limiter admitted per key since the last time; the other nodes take as
//    many tokens from the same key's bucket (RateLimiter::charge). Over-admission is bounded
//    by what the other nodes admit in one sync_interval plus the broker's delivery time.
//  - Caps on what is open now (SharedGauge: a user's sessions, an address's connections):
//    a node publishes the keys whose count changed, and all of them every
//    full_report_interval; the others keep each node's counts until it says otherwise, says
//    goodbye (stop()), or falls silent for node_expiry.
//
// While the broker is down nothing is sent or heard: every node enforces its limits alone
// (as one process would), the others' gauge counts expire after node_expiry, and each
// interval spent so is counted (counters().syncs_skipped). Admissions of that time are not
// told afterwards.
//
// Names (of limiters and gauges) are one word each and must be the same on every node.
class ClusterLimits {
 public:
  static constexpr std::string_view kChannel = "rw:limits";

  ClusterLimits(Broker& broker, ClusterLimitsOptions options = {});
  ~ClusterLimits();  // stop()

  // Before start(). The limiter and gauge must outlive this object (or its stop()).
  void add_rate(std::string name, RateLimiter& limiter);
  void add_gauge(std::string name, SharedGauge& gauge);

  // Subscribes the channel (routed away from the broker's on_message handler) and starts
  // the sync thread. Before the broker's start().
  void start();
  // Says goodbye (the others forget this node's gauges at once) and joins the thread.
  // Before the broker's stop().
  void stop();

  struct Counters {
    uint64_t sent = 0;           // batches published
    uint64_t received = 0;       // batches of other nodes applied
    uint64_t malformed = 0;      // messages or lines that could not be read (dropped)
    uint64_t syncs_skipped = 0;  // intervals spent with the broker down (local limits only)
    uint64_t nodes_expired = 0;  // nodes forgotten after node_expiry of silence
    size_t peers = 0;            // other nodes heard from now (not gone, not expired)
  };
  Counters counters() const;
  const std::string& node() const { return node_; }

 private:
  void run();
  void sync(bool full);
  void expire_silent_nodes();
  void on_message(std::string_view payload);
  RateLimiter* rate_named(std::string_view name) const;
  size_t gauge_index(std::string_view name) const;  // gauges_.size(): none of that name

  Broker& broker_;
  const ClusterLimitsOptions options_;
  const std::string node_;
  std::vector<std::pair<std::string, RateLimiter*>> rates_;   // fixed after start()
  std::vector<std::pair<std::string, SharedGauge*>> gauges_;  // fixed after start()

  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false, stopping_ = false;  // guarded by mu_
  std::thread thread_;

  std::mutex heard_mu_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> last_heard_;  // heard_mu_

  std::atomic<uint64_t> sent_{0}, received_{0}, malformed_{0}, syncs_skipped_{0}, nodes_expired_{0};
  std::atomic<size_t> peers_{0};  // last_heard_.size(), for counters()
};

}  // namespace rwd::broker
