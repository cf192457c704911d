#pragma once

// An in-memory stand-in for the broker (a Redis server and its clients), for unit tests of
// what sits above broker::Broker: several LoopbackBrokers share one LoopbackServer, which
// delivers on its own thread in publish order to the brokers subscribed to the channel. The
// test can drop messages, take the server down and up (each started broker is told
// on_state), and put raw payloads on a channel as another program would. A subscription is
// confirmed (on_subscribed) on the server's thread in order with the messages, as Redis
// does; every channel again before each on_state(true).

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "broker/broker.h"

namespace rwd::testing {

class LoopbackBroker;

class LoopbackServer {
 public:
  LoopbackServer() : thread_([this] { run(); }) {}
  ~LoopbackServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Down: every started broker is told on_state(false) and publishes are dropped. Up again:
  // each is told on_state(true), its subscriptions kept (as a client replays them).
  void set_up(bool up);
  // Paused: nothing is delivered (messages, confirmations, states) until resumed, as a Redis
  // that is slow to answer. drain() must not be called while paused.
  void pause(bool paused) {
    {
      std::lock_guard lock(mu_);
      paused_ = paused;
    }
    cv_.notify_all();
  }
  // The next n published messages are lost on the way: the publisher counts them as published
  // (as Redis drops what it sends to a subscriber cut off for being slow).
  void drop_next(int n) {
    std::lock_guard lock(mu_);
    drop_next_ = n;
  }
  // The next n publishes are refused: the publisher counts them as dropped (as a client whose
  // queue to the server is full).
  void refuse_next(int n) {
    std::lock_guard lock(mu_);
    refuse_next_ = n;
  }
  // A raw payload on a channel, as a publisher that is not a REWIND node would send it.
  void inject(const std::string& channel, const std::string& payload) { route(channel, payload); }
  bool subscribed(const LoopbackBroker* broker, const std::string& channel) const {
    std::lock_guard lock(mu_);
    auto it = subscriptions_.find(channel);
    return it != subscriptions_.end() && it->second.count(broker) > 0;
  }
  // Waits until everything queued so far was delivered.
  void drain() {
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return tasks_.empty() && !busy_; });
  }

 private:
  friend class LoopbackBroker;

  void attach(LoopbackBroker* broker) {
    std::lock_guard lock(mu_);
    brokers_.insert(broker);
    if (up_) enqueue_state_locked(broker, true);
  }
  // A confirmation of the broker's SUBSCRIBE, after what was published before it.
  void confirm(LoopbackBroker* broker, const std::string& channel) {
    std::lock_guard lock(mu_);
    if (up_) enqueue_confirm_locked(broker, channel);
  }
  // Waits for a delivery to it in progress: after detach() it is never called again.
  void detach(LoopbackBroker* broker) {
    std::lock_guard delivery(delivery_mu_);
    std::lock_guard lock(mu_);
    brokers_.erase(broker);
    for (auto& [channel, set] : subscriptions_) set.erase(broker);
  }
  bool up() const {
    std::lock_guard lock(mu_);
    return up_;
  }
  void subscribe(LoopbackBroker* broker, const std::string& channel) {
    std::lock_guard lock(mu_);
    subscriptions_[channel].insert(broker);
  }
  void unsubscribe(LoopbackBroker* broker, const std::string& channel) {
    std::lock_guard lock(mu_);
    subscriptions_[channel].erase(broker);
  }
  // False when refused (down, or told to refuse); a message told to drop is lost silently.
  bool route(const std::string& channel, const std::string& payload);
  // Tells one broker of its own link's state, in order with the deliveries.
  void tell_state(LoopbackBroker* broker, bool up) {
    std::lock_guard lock(mu_);
    if (up_) enqueue_state_locked(broker, up);
  }
  void enqueue_state_locked(LoopbackBroker* broker, bool up);
  void enqueue_confirm_locked(LoopbackBroker* broker, const std::string& channel);

  void run() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || (!tasks_.empty() && !paused_); });
      if (tasks_.empty()) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      busy_ = true;
      lock.unlock();
      {
        std::lock_guard delivery(delivery_mu_);
        task();
      }
      lock.lock();
      busy_ = false;
      if (tasks_.empty()) idle_cv_.notify_all();
    }
  }

  mutable std::mutex mu_;
  std::mutex delivery_mu_;  // held while a broker's handler runs
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> tasks_;
  std::set<LoopbackBroker*> brokers_;
  std::map<std::string, std::set<const LoopbackBroker*>> subscriptions_;
  bool up_ = true;
  bool busy_ = false;
  bool paused_ = false;
  bool stopping_ = false;
  int drop_next_ = 0;
  int refuse_next_ = 0;
  std::thread thread_;
};

class LoopbackBroker final : public broker::Broker {
 public:
  explicit LoopbackBroker(LoopbackServer& server) : server_(server) {}
  ~LoopbackBroker() override { stop(); }

  void on_message(MessageHandler handler) override { message_handler_ = std::move(handler); }
  void on_state(StateHandler handler) override { state_handler_ = std::move(handler); }
  void on_messages_under(std::string prefix, MessageHandler handler) override {
    prefix_handlers_.emplace_back(std::move(prefix), std::move(handler));
  }
  void on_subscribed(ConfirmHandler handler) override { confirm_handler_ = std::move(handler); }
  void start() override {
    std::lock_guard lock(mu_);
    if (started_) return;
    started_ = true;
    for (const auto& c : channels_) server_.subscribe(this, c);
    server_.attach(this);
  }
  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (!started_) return;
      started_ = false;
    }
    server_.detach(this);
  }
  // This broker's link alone goes down (told on_state(false); its publishes are dropped and
  // counted, nothing reaches it) or comes back (its channels confirmed, then on_state(true)),
  // while the server and the other brokers stay up.
  void cut(bool cut) {
    {
      std::lock_guard lock(mu_);
      if (cut_ == cut) return;
      cut_ = cut;
    }
    server_.tell_state(this, !cut);
  }
  void publish(std::string channel, std::string payload) override {
    std::lock_guard lock(mu_);
    if (started_ && !cut_ && server_.route(channel, payload))
      ++counters_.published;
    else
      ++counters_.dropped;
  }
  void subscribe(std::string channel) override {
    std::lock_guard lock(mu_);
    channels_.insert(channel);
    if (started_) {
      server_.subscribe(this, channel);
      server_.confirm(this, channel);
    }
  }
  void unsubscribe(std::string channel) override {
    std::lock_guard lock(mu_);
    channels_.erase(channel);
    if (started_) server_.unsubscribe(this, channel);
  }
  bool up() const override {
    std::lock_guard lock(mu_);
    return started_ && !cut_ && server_.up();
  }
  Counters counters() const override {
    std::lock_guard lock(mu_);
    return counters_;
  }

 private:
  friend class LoopbackServer;
  void deliver(const std::string& channel, const std::string& payload) {
    {
      std::lock_guard lock(mu_);
      if (cut_) return;
      ++counters_.received;
    }
    for (const auto& [prefix, handler] : prefix_handlers_)
      if (channel.rfind(prefix, 0) == 0) return handler(channel, payload);
    if (message_handler_) message_handler_(channel, payload);
  }
  void tell_confirmed(const std::string& channel) {
    {
      std::lock_guard lock(mu_);
      if (cut_ || !channels_.count(channel)) return;
    }
    if (confirm_handler_) confirm_handler_(channel);
  }
  void tell_state(bool up) {
    if (up) {
      // As a client replaying its subscriptions: each confirmed before the link is up.
      std::set<std::string> channels;
      {
        std::lock_guard lock(mu_);
        channels = channels_;
      }
      for (const auto& c : channels) tell_confirmed(c);
    }
    if (up) {
      std::lock_guard lock(mu_);
      ++counters_.reconnects;
    }
    if (state_handler_) state_handler_(up);
  }

  LoopbackServer& server_;
  MessageHandler message_handler_;
  StateHandler state_handler_;
  ConfirmHandler confirm_handler_;
  std::vector<std::pair<std::string, MessageHandler>> prefix_handlers_;
  mutable std::mutex mu_;
  bool started_ = false;
  bool cut_ = false;
  std::set<std::string> channels_;
  Counters counters_;
};

inline void LoopbackServer::enqueue_state_locked(LoopbackBroker* broker, bool up) {
  tasks_.push_back([this, broker, up] {
    {
      std::lock_guard lock(mu_);
      if (!brokers_.count(broker)) return;
    }
    broker->tell_state(up);
  });
  cv_.notify_one();
}

inline void LoopbackServer::enqueue_confirm_locked(LoopbackBroker* broker,
                                                   const std::string& channel) {
  tasks_.push_back([this, broker, channel] {
    {
      std::lock_guard lock(mu_);
      if (!brokers_.count(broker)) return;
    }
    broker->tell_confirmed(channel);
  });
  cv_.notify_one();
}

inline void LoopbackServer::set_up(bool up) {
  std::lock_guard lock(mu_);
  if (up_ == up) return;
  up_ = up;
  for (auto* b : brokers_) enqueue_state_locked(b, up);
}

inline bool LoopbackServer::route(const std::string& channel, const std::string& payload) {
  std::lock_guard lock(mu_);
  if (!up_) return false;
  if (refuse_next_ > 0) {
    --refuse_next_;
    return false;
  }
  if (drop_next_ > 0) {
    --drop_next_;
    return true;
  }
  // The subscribers as of the publish, as Redis matches them when PUBLISH arrives.
  std::vector<const LoopbackBroker*> to;
  if (auto it = subscriptions_.find(channel); it != subscriptions_.end())
    to.assign(it->second.begin(), it->second.end());
  tasks_.push_back([this, to = std::move(to), channel, payload] {
    for (const auto* b : to) {
      {
        std::lock_guard lock(mu_);
        if (!brokers_.count(const_cast<LoopbackBroker*>(b))) continue;
      }
      const_cast<LoopbackBroker*>(b)->deliver(channel, payload);
    }
  });
  cv_.notify_one();
  return true;
}

}  // namespace rwd::testing
