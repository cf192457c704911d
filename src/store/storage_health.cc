#include "store/storage_health.h"

#include <spdlog/spdlog.h>

namespace rwd::store {

namespace {

std::string seconds(int64_t us) { return fmt::format("{:.1f} s", us / 1e6); }

}  // namespace

StorageHealth::StorageHealth(std::string noun, std::string adjective, const Clock& clock,
                             int64_t interval_us, Sink sink)
    : noun_(std::move(noun)),
      adjective_(std::move(adjective)),
      clock_(clock),
      interval_us_(interval_us),
      sink_(std::move(sink)) {}

void StorageHealth::emit(bool is_error, const std::string& line) {
  if (sink_) return sink_(is_error, line);
  if (is_error) {
    spdlog::error("{}", line);
  } else {
    spdlog::warn("{}", line);
  }
}

void StorageHealth::failed(uint64_t count, std::string_view cause) {
  if (count == 0) return;
  failures_.fetch_add(count, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  int64_t now = clock_.now_us();
  if (!failing_.load(std::memory_order_relaxed)) {
    failing_.store(true, std::memory_order_release);
    outage_start_us_ = now;
    outage_failures_ = count;
    unreported_ = 0;
    last_line_us_ = now;
    emit(true, fmt::format("storage {} failed ({} refused): {}; clients are answered "
                           "storage_unavailable until storage recovers",
                           noun_, count, cause));
    return;
  }
  outage_failures_ += count;
  unreported_ += count;
  if (now - last_line_us_ < interval_us_) return;
  emit(true, fmt::format("storage {}s still failing: {} refused in the last {} ({} since the "
                         "outage began {} ago); last cause: {}",
                         noun_, unreported_, seconds(now - last_line_us_), outage_failures_,
                         seconds(now - outage_start_us_), cause));
  unreported_ = 0;
  last_line_us_ = now;
}

void StorageHealth::succeeded() {
  if (!failing_.load(std::memory_order_acquire)) return;
  std::lock_guard lock(mu_);
  if (!failing_.load(std::memory_order_relaxed)) return;
  failing_.store(false, std::memory_order_release);
  emit(false, fmt::format("storage {} again after {} failed {}{} over {}", adjective_,
                          outage_failures_, noun_, outage_failures_ == 1 ? "" : "s",
                          seconds(clock_.now_us() - outage_start_us_)));
}

}  // namespace rwd::store
