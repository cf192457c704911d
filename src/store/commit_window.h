#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rwd::store {

// When a store's writer commits a batch. Group commit alone only groups what is already
// waiting: at a moderate rate every write arrives while the writer sleeps and commits alone,
// paying its own disk sync and the thread switches around it (on a virtual machine a switch
// costs more than the write). The window grows with the load: it is twice the recent time
// between writes (about two more writes per commit), bounded by a latency budget. A write
// that comes after a quiet spell (the previous commit ended longer than a window ago, or
// writes rarer than one per bound) is committed at once, so an occasional message pays
// nothing; and so is a batch that holds several writes already: then writes come faster
// than commits end, they group by themselves, and holding would only add its wait to every
// one of them (on PostgreSQL at 5,000 messages/s, holding them put the p50 at 2–2.8 ms
// instead of 1.4–1.6 ms).
//
// Not thread-safe: the writer's mutex guards it (writes are queued and batches taken under
// it).
class CommitWindow {
 public:
  using Clock = std::chrono::steady_clock;

  // bound_us: the longest a batch is held open; 0 turns the window off.
  explicit CommitWindow(int64_t bound_us) : bound_(std::chrono::microseconds(bound_us)) {}

  bool enabled() const { return bound_.count() > 0; }
  // A write was queued at `now`.
  void write_queued(Clock::time_point now);
  // The writer's commit (or failed attempt) ended at `now`.
  void commit_ended(Clock::time_point now) { last_commit_end_ = now; }
  // A batch of this many writes or more is committed at once: what a hold would bring it
  // (one write and about two more) is there already.
  static constexpr size_t kGroupedAlready = 3;

  // How long a batch of `queued` writes taken at `now` stays open for more writes: zero
  // commits at once.
  std::chrono::nanoseconds hold_at(Clock::time_point now, size_t queued) const;

 private:
  std::chrono::nanoseconds bound_;
  Clock::time_point last_enqueue_;
  Clock::time_point last_commit_end_;
  // The recent time between writes (moving average); starts as after a quiet spell.
  std::chrono::nanoseconds gap_{std::chrono::seconds(1)};
};

}  // namespace rwd::store
