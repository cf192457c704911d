// src/broker/broker.h
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

// The seam between a node and the other nodes: best-effort publish/subscribe (a message may
// be lost while the link is down or slow; the store is the truth and receivers fill gaps
// from it). Redis implements it (redis_broker.h).
namespace rwd::broker {

class Broker {
 public:
  using MessageHandler = std::function<void(std::string_view channel, std::string_view payload)>;
  using StateHandler = std::function<void(bool up)>;
  virtual ~Broker() = default;
  // Set before start(). Called on the broker's own thread; must not block.
  virtual void on_message(MessageHandler handler) = 0;
  // up = true after (re)connecting, once every subscribed channel is confirmed: a receiver
  // must then assume it missed what was published while it was down. up = false when the
  // link is lost or found dead.
  virtual void on_state(StateHandler handler) = 0;
  // Set before start(). Called with a channel each time the server confirms a SUBSCRIBE of
  // it (the first one, and each replay after a reconnect): from then on its messages arrive,
  // until on_state(false). Same thread and rules as on_message.
  using ConfirmHandler = std::function<void(std::string_view channel)>;
  virtual void on_subscribed(ConfirmHandler handler) = 0;
  // Set before start(). Messages on channels starting with `prefix` go to `handler` instead
  // of on_message's (one more user of the link, such as the cluster's limits, beside the
  // event bus). Same thread and rules as on_message.
  virtual void on_messages_under(std::string prefix, MessageHandler handler) = 0;
  // Runs its own thread; connects, and reconnects by itself with a jittered backoff.
  virtual void start() = 0;
  // Idempotent; returns promptly even when the server is unreachable.
  virtual void stop() = 0;
  // Any thread, never blocks. While the link is down the message is dropped and counted.
  virtual void publish(std::string channel, std::string payload) = 0;
  // Any thread. The channel set is kept and replayed after a reconnect.
  virtual void subscribe(std::string channel) = 0;
  virtual void unsubscribe(std::string channel) = 0;
  virtual bool up() const = 0;
  // published: messages handed to the link; dropped: publishes refused (down, or too much
  // waiting for the server); received: messages given to the handler; reconnects: times up
  // again after having been up; link_failures: failed attempts plus lost or dead links.
  struct Counters {
    uint64_t published = 0, dropped = 0, received = 0, reconnects = 0, link_failures = 0;
  };
  virtual Counters counters() const = 0;  // any thread
};

}  // namespace rwd::broker
