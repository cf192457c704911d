#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/thread_pool.h"
#include "domain/event_bus.h"
#include "store/store.h"

// The per-node order of each chat's changes (store.h, "Chat sequence"): every ChatEvent a
// node delivers to its sessions, its own commits and other nodes' alike, passes through here
// first, so that each connected recipient gets every committed change once and in seq order
// although the broker may drop, and two nodes' events may cross.
//
// A stream is what one watermark covers: a guild chat (all of this node's members get the
// same events from rw:g:) or one user's side of a direct-message chat (each side arrives on
// its own rw:u: channel). For each followed stream the sequencer keeps the last seq delivered
// on this node (the watermark):
//   seq <= watermark      a duplicate: dropped and counted;
//   seq == watermark + 1  delivered, then the held successors that follow on;
//   seq >  watermark + 1  held; when the gap is not closed within `hold_bound` (the events
//                         of two nodes legitimately cross), the missing changes are read
//                         from the store (load_chat_changes) on the pool, delivered in order,
//                         then the held ones. The bound counts from when the gap opened, or
//                         from when the previous gap closed while later events stayed held.
// A stream starts at the chat's position read from the store (chat_positions) when it is
// first followed; the events that arrive before that read returns are held, then delivered
// in order (they are news here). A sweep (sweep(), sweep_all(): after every broker
// reconnect, every `sweep_interval`, and once `settle_check` after a stream started, which
// covers a change committed while the node's broker subscription was not yet confirmed) asks
// the store for the positions of the followed chats and fills whatever is behind: a lost
// last change has no successor to reveal its gap.
//
// Fairness: one fill reads at most 20 pages of `fill_page` changes, then lets the other
// streams have the pool; a stream still behind (a gap's or a sweep's fill alike) has its
// next turn queued at once, until it caught up. A submission the pool refuses hands back only
// what it carried (its stream's fill is due again after `retry`).
//
// Memory: at most `max_held_per_stream` held events per stream (more are dropped and come
// back from the store with the fill) and at most `max_streams` streams (events of a stream
// that could not be followed are delivered as they come, counted as unsequenced).
//
// Threads: offer/follow/unfollow from any thread, never blocking on the store (the bus calls
// offer from the broker's thread and the store's callback thread); reads of the store run on
// `pool`; a timer thread of its own watches the bounds. The deliver callback is called with
// no lock of the sequencer's but the one that keeps deliveries in order: it must not call
// offer() (follow/unfollow are fine).
namespace rwd::cluster {

struct SequencerSettings {
  // How long a later change waits for a missing one before the store is asked.
  std::chrono::milliseconds hold_bound{200};
  // Every followed chat's position is compared with the store this often (0: never).
  std::chrono::milliseconds sweep_interval{30'000};
  // After a stream started, one more look at its position (a change committed before the
  // broker confirmed the node's subscription is lost there).
  std::chrono::milliseconds settle_check{500};
  // After a failed store read, the next attempt.
  std::chrono::milliseconds retry{1'000};
  size_t max_held_per_stream = 256;
  size_t max_streams = 200'000;
  int fill_page = 200;  // changes per load_chat_changes
};

// A guild chat's stream has user_id 0; a direct-message chat has one per local member.
struct StreamKey {
  int64_t chat_id = 0;
  int64_t user_id = 0;
  bool operator==(const StreamKey&) const = default;
};

struct StreamKeyHash {
  size_t operator()(const StreamKey& k) const {
    return std::hash<int64_t>()(k.chat_id) * 31 + std::hash<int64_t>()(k.user_id);
  }
};

class ChatSequencer {
 public:
  // What a stream's filled events are made of: the chat's id on the wire and whether it is
  // a guild's. A filled event has recipients {user_id} (a direct-message stream) or none (a
  // guild stream: the deliver callback names the node's members), and no origin.
  struct ChatInfo {
    int64_t wire_chat_id = 0;
    bool guild = false;
  };
  using Deliver = std::function<void(const StreamKey&, const domain::ChatEvent&)>;

  ChatSequencer(SequencerSettings settings, store::Store& store, ThreadPool& pool, Deliver deliver);
  ~ChatSequencer();
  ChatSequencer(const ChatSequencer&) = delete;
  ChatSequencer& operator=(const ChatSequencer&) = delete;

  void start();  // the timer thread
  // Stops the timer; later offers are delivered as they come, fills and sweeps end early.
  // Call before the pool stops. Idempotent.
  void stop();

  // A stream to keep in order from now on (its position is read on the pool). No-op when
  // followed already.
  void follow(const StreamKey& key, ChatInfo info);
  void unfollow(const StreamKey& key);
  // Every direct-message stream of the user.
  void unfollow_user(int64_t user_id);
  bool following(const StreamKey& key) const;

  // An event of the stream: delivered now, held, or dropped (see above). A stream not
  // followed yet is followed when `follow_if_new`, else the event is delivered as it is.
  void offer(const StreamKey& key, domain::ChatEvent event, bool follow_if_new);

  // Compares the positions of the followed chats with the store and fills what is behind.
  // Blocks on the store: call on a pool thread. False when the store could not be read.
  bool sweep_all();

  // The store's change as the event the live path delivers for it: a send, or an edit (a
  // deletion is an edit to empty content), with the message as of that change.
  static domain::ChatEvent event_of(const store::ChatChange& change, const StreamKey& key,
                                    const ChatInfo& info);

  struct Counters {
    uint64_t delivered = 0;      // events given to the deliver callback
    uint64_t duplicates = 0;     // events dropped as already delivered
    uint64_t held = 0;           // events that waited for a predecessor
    uint64_t held_dropped = 0;   // held events dropped over max_held_per_stream
    uint64_t unsequenced = 0;    // events of a stream not followed, delivered as they came
    uint64_t fills = 0;          // gaps filled from the store
    uint64_t filled = 0;         // events delivered from the store
    uint64_t sweeps = 0;         // position sweeps done
    uint64_t read_failures = 0;  // store reads that failed (retried)
    uint64_t early = 0;          // events committed between a follow and its position read
    size_t streams = 0;          // streams followed now
  };
  Counters counters() const;

  // The watermark of a stream, when it is followed and started (tests).
  std::optional<int64_t> watermark(const StreamKey& key) const;
  // Whether a fill owns the stream's reads now, queued or running (tests).
  bool filling(const StreamKey& key) const;

 private:
  using SteadyTime = std::chrono::steady_clock;
  struct Stream {
    ChatInfo info;
    bool started = false;  // the watermark is known
    int64_t watermark = 0;
    std::map<int64_t, domain::ChatEvent> held;  // by seq
    // Since when a change is known missing (held successors, or held ones dropped; reset
    // when a live event closes one gap and others stay held): the fill is due hold_bound
    // later.
    std::optional<SteadyTime::time_point> gap_since;
    // Changes are known missing that no held event reveals (held ones were dropped, or a
    // fill stopped at its page bound): only a fill catches up.
    bool lost = false;
    bool filling = false;  // a fill or a sweep's fill owns the stream's reads
    // The start: when the stream was followed (wall clock, µs), and the position read then.
    // Until `settle_until`, a live event at or below that position whose change was made
    // after the follow is news, not a duplicate: it was committed between the follow and
    // the read, and was on its way.
    int64_t followed_us = 0;
    int64_t start_seq = 0;
    std::optional<SteadyTime::time_point> settle_until;
    std::unordered_set<int64_t> early;  // such seqs delivered already
  };
  using Batch = std::vector<std::pair<StreamKey, domain::ChatEvent>>;

  void follow_locked(const StreamKey& key, ChatInfo info);
  void drain_locked(const StreamKey& key, Stream& s, Batch& out);
  void hold_locked(const StreamKey& key, Stream& s, domain::ChatEvent event);
  // Whether an event at or below the watermark is one committed between the follow and the
  // position read (delivered once) rather than a duplicate.
  bool early_locked(Stream& s, const domain::ChatEvent& event);
  void deliver_batch(const Batch& out);
  void timer_loop();
  void run_starts();
  void run_fill(const StreamKey& key);
  bool run_sweep(std::vector<int64_t> chat_ids);
  bool submit(std::function<void()> task);
  void note_fill(const StreamKey& key, size_t events);

  const SequencerSettings settings_;
  store::Store& store_;
  ThreadPool& pool_;
  const Deliver deliver_;

  // Keeps deliveries in seq order between the threads that deliver; taken before mu_.
  std::mutex deliver_mu_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // mu_
  std::atomic<bool> stopped_{false};
  std::unordered_map<StreamKey, Stream, StreamKeyHash> streams_;  // mu_
  std::unordered_map<int64_t, std::unordered_set<int64_t>>
      chat_users_;  // chat -> user ids (0: guild), mu_
  std::unordered_map<int64_t, std::unordered_set<int64_t>> user_chats_;  // user -> dm chats, mu_
  std::unordered_set<StreamKey, StreamKeyHash> gapped_;                  // streams holding, mu_
  std::vector<StreamKey> to_start_;                                      // mu_
  bool starting_ = false;                                                // mu_
  std::optional<SteadyTime::time_point> start_retry_at_;                 // mu_
  std::vector<int64_t> settle_chats_;                                    // mu_
  std::optional<SteadyTime::time_point> settle_at_;                      // mu_
  SteadyTime::time_point next_sweep_;                                    // mu_
  std::optional<SteadyTime::time_point> fill_logged_at_;                 // mu_
  uint64_t fills_unlogged_ = 0, events_unlogged_ = 0;                    // mu_
  std::thread timer_;

  std::atomic<uint64_t> delivered_{0}, duplicates_{0}, held_{0}, held_dropped_{0}, unsequenced_{0},
      fills_{0}, filled_{0}, sweeps_{0}, read_failures_{0}, early_{0};
};

}  // namespace rwd::cluster
