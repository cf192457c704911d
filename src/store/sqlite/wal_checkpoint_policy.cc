#include "store/sqlite/wal_checkpoint_policy.h"

namespace rwd::store {

WalCheckpointPolicy::Step WalCheckpointPolicy::after_commit(int wal_pages) {
  // The WAL starts over at the first transaction after a checkpoint copied all of it. That
  // transaction would hide the start only by being larger than the whole WAL before it, which
  // held at least the threshold (4,000 pages: 16 MB in one batch).
  if (wal_pages < last_pages_) generation_.fetch_add(1);
  last_pages_ = wal_pages;
  if (wal_pages < threshold_) return Step::kNone;
  if (wal_pages >= copy_all_at()) return Step::kCopyAllInCommit;
  uint64_t progress = thread_progress_.load();
  int copied = static_cast<uint32_t>(progress >> 32) == generation_.load()
                   ? static_cast<int>(static_cast<uint32_t>(progress))
                   : 0;
  if (copied > 0 && wal_pages - copied <= rest_limit()) return Step::kCopyRestInCommit;
  return Step::kAskThread;
}

void WalCheckpointPolicy::thread_copied(uint32_t generation, int pages) {
  thread_progress_.store(uint64_t{generation} << 32 | static_cast<uint32_t>(pages));
}

}  // namespace rwd::store
