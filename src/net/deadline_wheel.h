#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

// Internal to src/net, and free of Asio so that it can be tested alone.
namespace rwd::net {

// A connection's place in its loop's DeadlineWheel.
struct DeadlineHook {
  DeadlineHook* prev = nullptr;
  DeadlineHook* next = nullptr;
  int64_t due_us = 0;  // on the wheel's clock
  bool linked() const { return prev != nullptr; }
};

// The deadlines of one loop's connections (heartbeat and auth timeouts, the close grace
// period, the close-sent backstop) in a wheel of kSlotUs slots ticked by one timer. A timer per
// connection would cost every idle connection its timer and a pending wait; here a deadline costs
// two pointers, and a tick touches only the connections that fall due (or come round again, for
// deadlines further away than one turn). Loop thread only.
//
// Every time given to one wheel comes from one monotonic clock (the loop's MonotonicClock):
// wall time would step, firing every deadline at once or none for hours.
class DeadlineWheel {
 public:
  static constexpr int64_t kSlotUs = 100'000;  // a deadline fires at most 0.2 s late
  static constexpr size_t kSlots = 512;        // one turn: 51.2 s

  DeadlineWheel();
  DeadlineWheel(const DeadlineWheel&) = delete;
  DeadlineWheel& operator=(const DeadlineWheel&) = delete;

  void schedule(DeadlineHook& hook, int64_t due_us);
  void cancel(DeadlineHook& hook);
  // Unlinks and returns the hooks due at now_us.
  std::vector<DeadlineHook*> take_due(int64_t now_us);

 private:
  std::vector<DeadlineHook> slots_;  // list heads
  int64_t next_tick_ = -1;           // first slot number not yet swept
};

}  // namespace rwd::net
