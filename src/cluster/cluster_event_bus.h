#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/clock.h"
#include "base/thread_pool.h"
#include "broker/broker.h"
#include "cluster/chat_sequencer.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "store/store.h"

// The event bus of a node among several behind one address: what this node's services
// publish goes to its own subscribers at once (as InProcessEventBus) and, through the broker,
// to the nodes that host a recipient; what other nodes publish comes in from the broker and
// goes to this node's subscribers. It also keeps the Directory of every node current: each
// change committed here is published on rw:dir, and every node applies the others'.
//
// Channels are per node, never per connection (docs/ARCHITECTURE.md, "Several nodes"):
//   rw:dir          directory changes; every node subscribes.
//   rw:u:<user>     a direct message's ChatEvent (one PUBLISH per member), a FriendEvent (the
//                   target's and the actor's), a TokenRevokedEvent, and a GuildEvent for the
//                   member who joined, left or created (whose node may not follow the guild).
//                   Subscribed while the user has a session here (watch_user).
//   rw:g:<guild>    a guild's ChatEvents and its other GuildEvents: one PUBLISH per message at
//                   any guild size. Subscribed while a member has a session here; derived
//                   from the Directory and kept current through membership changes, local or
//                   remote.
// A channel no longer needed is unsubscribed after `unsubscribe_delay` (reconnect churn, and
// the events of a change that removed the last local member still in flight).
//
// Delivery: a message is delivered for the users its channel names (rw:u:X: only X; rw:g:G:
// this node's online members of G, less those the event reached through rw:u:), so a user
// with sessions here gets each event once whatever channels the node follows. Events of
// another node carry request origins (connection ids) that mean nothing here: they are
// delivered with origin connection 0, so they never match a connection of this node.
//
// Order: a change is published before the event that depends on it, from the same thread
// (the store's callback thread), so one broker connection keeps them in order and a node
// applies the change (Directory::apply, kRemote) before it delivers the event.
//
// Gaps: the broker loses what is published while the link is down, or for a subscriber too
// slow. Every ChatEvent, this node's own and other nodes', passes through a ChatSequencer
// (chat_sequencer.h) before the subscribers get it: per chat (per local member, for a
// direct-message chat) in seq order, once, the missing ones read from the store. The bus
// follows a stream for each direct-message chat of a watched user (at watch_user) and each
// guild with a member online here. Every time the broker reports up, the bus reloads the
// Directory from the store on `reload_pool` (a blocking read, never on the broker's thread),
// then sweeps the followed chats' positions (filling what was missed meanwhile), then calls
// the resync hook (set_resync_hook). Reloads, fills and sweeps share `reload_pool`. What this
// node published that never reached the broker (its own link down, or its queue full) the
// others cannot notice: once up, the node publishes a Resync on rw:dir and every other node
// reloads and sweeps the same way.
//
// Auth (when_receiving): a session is answered only once the broker confirmed every channel
// its user needs here (rw:u:<user> and the guilds' rw:g:), so that whatever another node
// publishes from then on reaches it live; what was published before is in what the session
// reads after the answer (docs/ARCHITECTURE.md, "Several nodes: auth"). A channel confirmed
// already (another local session's) is not waited for; while the broker is down nothing is
// waited for (nothing could be confirmed; the reload at its return catches up). The wait is
// bounded by `receive_wait`: past it the session is answered anyway, and that is counted and
// logged (rate-limited).
//
// Threads: publish/watch_user/unwatch_user/when_receiving from any thread; broker messages arrive
// on the broker's thread and subscribers are called there (they must not block). A timer thread of
// the bus's own runs the delayed unsubscribes and retries a failed reload.
namespace rwd::cluster {

struct ClusterSettings {
  // Unique per process start (make_node_instance): a node ignores what it published itself.
  std::string node_instance;
  std::chrono::milliseconds unsubscribe_delay{30'000};
  // After a failed reload from the store, the next attempt.
  std::chrono::milliseconds reload_retry{1'000};
  // The chat sequencer's bounds (hold before a fill, sweep interval, memory).
  SequencerSettings sequencer{};
  // The longest when_receiving waits for the broker's confirmations.
  std::chrono::milliseconds receive_wait{2'000};
};

// "<worker id>-<random>": unique even when a node restarts with the same worker id.
std::string make_node_instance(int worker_id);

class ClusterEventBus final : public domain::EventBus {
 public:
  // Everything passed must outlive the bus (see stop() for the order at shutdown).
  ClusterEventBus(ClusterSettings settings, broker::Broker& broker, domain::Directory& directory,
                  store::Store& store, ThreadPool& reload_pool, const Clock& clock);
  ~ClusterEventBus() override;
  ClusterEventBus(const ClusterEventBus&) = delete;
  ClusterEventBus& operator=(const ClusterEventBus&) = delete;

  void publish(const domain::Event& event) override;
  void subscribe(std::function<void(const domain::Event&)> handler) override;
  void watch_user(int64_t user_id) override;
  void unwatch_user(int64_t user_id) override;
  bool when_receiving(int64_t user_id, std::function<void()> ready) override;

  // Called on a reload-pool thread after each reload that followed the broker's (re)connect,
  // the Directory already current and the followed chats swept. May block. Set before
  // start().
  void set_resync_hook(std::function<void()> hook);

  // Installs the broker's handlers and the Directory's change listener, subscribes rw:dir
  // and starts the timer thread. After every subscribe(), before broker.start().
  void start();
  // Stops the timer thread; messages and states arriving later are ignored, and no reload is
  // started; publish() still hands this node's events to the broker. Call before reload_pool
  // is stopped (and before the store closes); the broker may stop before or after. Idempotent.
  void stop();

  struct Counters {
    uint64_t published = 0;        // messages handed to the broker
    uint64_t received = 0;         // messages from the broker
    uint64_t own_echoes = 0;       // of those, published by this node (ignored)
    uint64_t unwatched = 0;        // of those, a chat message for a user no longer here (ignored)
    uint64_t decode_failures = 0;  // of those, malformed (counted, logged, never delivered)
    uint64_t delivered = 0;        // remote events given to the subscribers
    uint64_t remote_changes = 0;   // remote directory changes applied
    uint64_t reloads = 0;          // directory reloads done
    uint64_t reload_failures = 0;  // directory reloads that failed (retried)
    uint64_t directory_gaps = 0;   // rw:dir changes found missing (each starts a reload)
    uint64_t receive_waits = 0;    // when_receiving calls that waited for confirmations
    uint64_t receive_wait_timeouts = 0;  // of those, answered unconfirmed past receive_wait
    uint64_t resyncs_announced = 0;      // notices that this node's publishes were dropped
    uint64_t resyncs_received = 0;       // other nodes' such notices (each starts a reload)
  };
  Counters counters() const;  // any thread
  ChatSequencer::Counters sequencer_counters() const { return sequencer_.counters(); }

 private:
  using SteadyTime = std::chrono::steady_clock;

  void on_message(std::string_view channel, std::string_view payload);
  void on_state(bool up);
  void on_confirmed(std::string_view channel);
  // The waits of when_receiving whose deadline passed: removed, counted and logged; their
  // callbacks are returned, to be called without mu_.
  std::vector<std::function<void()>> expire_waits_locked(SteadyTime::time_point now);
  void on_local_change(const domain::DirectoryChange& change);
  void apply_remote_change(const std::string& origin, uint64_t position,
                           const domain::DirectoryChange& change);
  void deliver_remote(std::string_view channel, domain::Event event);
  void deliver_local(const domain::Event& event);
  // A chat event into the sequencer: per local member of a direct-message chat, or once for
  // a guild's. Never under mu_.
  void sequence_chat(domain::ChatEvent event);
  // After an offer that may have followed the stream: unfollows it if its user has no
  // session here any more.
  void unfollow_if_gone(const StreamKey& key);
  void deliver_sequenced(const StreamKey& key, const domain::ChatEvent& event);
  void follow_user_chats_locked(int64_t user_id);
  void count_decode_failure(int failure, const std::string& detail);
  void send(std::string channel, const std::string& payload);
  // Tells the other nodes (a Resync on rw:dir) when publishes were dropped since the last
  // notice. Any thread; only while the broker is up.
  void announce_drops();

  // Subscriptions, all under mu_.
  void want_locked(const std::string& channel);
  void release_locked(const std::string& channel);
  void follow_guild_locked(int64_t guild_id);
  void follow_all_guilds_locked();
  void timer_loop();

  // Reload.
  void request_reload();
  void run_reload();

  const ClusterSettings settings_;
  broker::Broker& broker_;
  domain::Directory& directory_;
  store::Store& store_;
  ThreadPool& reload_pool_;
  const rwd::Clock& clock_;
  std::vector<std::function<void(const domain::Event&)>> handlers_;  // fixed after start()
  std::function<void()> resync_hook_;                                // fixed after start()

  mutable std::mutex mu_;
  std::condition_variable timer_cv_;
  bool stopping_ = false;                      // mu_
  std::atomic<bool> stopped_{false};           // stopping_, read without the lock
  std::unordered_set<int64_t> watched_users_;  // mu_
  std::unordered_map<int64_t, std::unordered_set<int64_t>> guild_locals_;  // mu_
  // Channels subscribed at the broker, with the time to unsubscribe when nothing needs them.
  std::unordered_map<std::string, std::optional<SteadyTime::time_point>> channels_;  // mu_
  // The releases in deadline order (the delay is constant): the timer unsubscribes a channel
  // whose deadline in channels_ is still the one queued.
  std::deque<std::pair<SteadyTime::time_point, std::string>> releases_;  // mu_
  // when_receiving. The channels the broker confirmed since the link last came up (a
  // subset of channels_), and whether it is up.
  std::unordered_set<std::string> confirmed_;  // mu_
  bool link_up_ = false;                       // mu_
  struct ReceiveWait {
    size_t unconfirmed = 0;  // channels still to confirm
    std::function<void()> ready;
  };
  uint64_t last_wait_id_ = 0;                                        // mu_
  std::unordered_map<uint64_t, ReceiveWait> waits_;                  // mu_
  std::unordered_map<std::string, std::vector<uint64_t>> waits_on_;  // channel -> waits, mu_
  std::deque<std::pair<SteadyTime::time_point, uint64_t>>
      wait_deadlines_;                                            // in order (constant), mu_
  std::optional<SteadyTime::time_point> wait_timeout_logged_at_;  // mu_
  uint64_t wait_timeouts_unlogged_ = 0;                           // mu_
  bool reload_running_ = false;                                   // mu_
  bool reload_again_ = false;                                     // mu_
  std::optional<SteadyTime::time_point> reload_retry_at_;         // mu_
  // Per kind of decode failure (the codec's, then "wrong channel"): when it was last logged
  // and how many were not logged since.
  static constexpr int kFailureKinds = 5;
  std::array<std::optional<SteadyTime::time_point>, kFailureKinds> failure_logged_at_{};  // mu_
  std::array<uint64_t, kFailureKinds> failures_unlogged_{};                               // mu_
  std::thread timer_;
  // rw:dir: the number of this node's last change published, and of each origin's last one
  // received (cleared when the link comes up: the reload covers what was missed).
  std::atomic<uint64_t> directory_published_{0};
  std::unordered_map<std::string, uint64_t> directory_received_;  // mu_
  ChatSequencer sequencer_;

  std::atomic<uint64_t> published_{0}, received_{0}, own_echoes_{0}, unwatched_{0},
      decode_failures_{0}, delivered_{0}, remote_changes_{0}, reloads_{0}, reload_failures_{0},
      directory_gaps_{0}, receive_waits_{0}, receive_wait_timeouts_{0}, resyncs_announced_{0},
      resyncs_received_{0};
  // The broker's count of dropped publishes when this node last announced them (announce_drops).
  std::atomic<uint64_t> drops_announced_{0};
};

}  // namespace rwd::cluster
