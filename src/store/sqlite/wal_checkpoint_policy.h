#pragma once

#include <atomic>
#include <cstdint>

namespace rwd::store {

// Who copies SQLite's WAL back into the database file (a checkpoint), and when: decided after
// each of the writer's commits from the WAL's size (SqliteStore::wal_committed).
//
// The checkpoint thread copies most of it beside the commits. It cannot finish the job alone:
// writes keep coming during each of its runs, so the WAL is never wholly copied when a
// transaction starts, and SQLite starts it over only then. So once the thread has copied all
// but a few pages, the writer copies those itself (a small write and one sync, inside a
// commit) and its next transaction starts the WAL over. Should the thread fall far behind
// (the disk slower than the writes), the writer copies everything there is: SQLite's own
// automatic checkpoint, at a size four times the threshold, so that the WAL stays bounded.
//
// What the thread copied is of one WAL: once it started over, those pages say nothing of the
// new one. A generation counts the starts; the thread's report is read only for its own.
class WalCheckpointPolicy {
 public:
  enum class Step {
    kNone,              // below the threshold
    kAskThread,         // wake the checkpoint thread (if it is not already asked)
    kCopyRestInCommit,  // the thread copied all but a few pages: the writer copies those
    kCopyAllInCommit,   // the WAL outgrew four thresholds: the writer copies what it can
  };

  explicit WalCheckpointPolicy(int threshold_pages) : threshold_(threshold_pages) {}

  // Writer thread, after each commit, with the WAL's size in pages (frames).
  Step after_commit(int wal_pages);

  // Checkpoint thread: the generation to report a run under, read before the run.
  uint32_t generation() const { return generation_.load(); }
  // Checkpoint thread: the run under `generation` had copied `pages` of the WAL.
  void thread_copied(uint32_t generation, int pages);

  int rest_limit() const { return threshold_ / 8 > 1 ? threshold_ / 8 : 1; }
  int copy_all_at() const { return 4 * threshold_; }

 private:
  const int threshold_;
  int last_pages_ = 0;  // writer thread only
  std::atomic<uint32_t> generation_{0};
  // (generation << 32) | pages copied, of the thread's last run.
  std::atomic<uint64_t> thread_progress_{0};
};

}  // namespace rwd::store
