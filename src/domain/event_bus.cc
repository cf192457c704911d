#include "domain/event_bus.h"

namespace rwd::domain {

void InProcessEventBus::publish(const Event& event) {
  for (const auto& h : handlers_) h(event);
}

void InProcessEventBus::subscribe(std::function<void(const Event&)> handler) {
  handlers_.push_back(std::move(handler));
}

}  // namespace rwd::domain
