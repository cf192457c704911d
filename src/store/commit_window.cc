#include "store/commit_window.h"

#include <algorithm>

namespace rwd::store {

void CommitWindow::write_queued(Clock::time_point now) {
  if (!enabled()) return;
  // Gaps over a second count as a second: one quiet minute must not take minutes of traffic
  // to forget.
  auto gap = std::min<std::chrono::nanoseconds>(now - last_enqueue_, std::chrono::seconds(1));
  last_enqueue_ = now;
  gap_ += (gap - gap_) / 8;
}

std::chrono::nanoseconds CommitWindow::hold_at(Clock::time_point now, size_t queued) const {
  // Writes rarer than one per bound: the next one would not come in time.
  if (!enabled() || gap_ >= bound_ || queued >= kGroupedAlready) return {};
  auto window = std::min<std::chrono::nanoseconds>(2 * gap_, bound_);
  if (now - last_commit_end_ >= window) return {};
  return window;
}

}  // namespace rwd::store
