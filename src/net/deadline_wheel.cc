#include "net/deadline_wheel.h"

#include <algorithm>

namespace rwd::net {

namespace {

void unlink(DeadlineHook& h) {
  h.prev->next = h.next;
  h.next->prev = h.prev;
  h.prev = h.next = nullptr;
}

}  // namespace

DeadlineWheel::DeadlineWheel() : slots_(kSlots) {
  for (auto& head : slots_) head.prev = head.next = &head;
}

void DeadlineWheel::schedule(DeadlineHook& hook, int64_t due_us) {
  if (hook.linked()) unlink(hook);
  hook.due_us = due_us;
  // The slot after the one holding due_us: when it is swept, due_us has passed. A deadline
  // in a slot already swept goes to the next one to be swept.
  int64_t tick = std::max(due_us / kSlotUs + 1, next_tick_);
  DeadlineHook& head = slots_[static_cast<size_t>(tick) % kSlots];
  hook.prev = head.prev;
  hook.next = &head;
  head.prev->next = &hook;
  head.prev = &hook;
}

void DeadlineWheel::cancel(DeadlineHook& hook) {
  if (hook.linked()) unlink(hook);
}

std::vector<DeadlineHook*> DeadlineWheel::take_due(int64_t now_us) {
  std::vector<DeadlineHook*> due;
  int64_t now_tick = now_us / kSlotUs;
  if (next_tick_ < 0) next_tick_ = now_tick;
  // After a long stall, one turn covers every slot.
  int64_t first = std::max(next_tick_, now_tick - static_cast<int64_t>(kSlots) + 1);
  for (int64_t t = first; t <= now_tick; ++t) {
    DeadlineHook& head = slots_[static_cast<size_t>(t) % kSlots];
    for (DeadlineHook* h = head.next; h != &head;) {
      DeadlineHook* next = h->next;
      if (h->due_us <= now_us) {
        unlink(*h);
        due.push_back(h);
      }
      h = next;
    }
  }
  next_tick_ = now_tick + 1;
  return due;
}

}  // namespace rwd::net
