#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "base/error.h"
#include "base/redis_url.h"
#include "broker/broker.h"

namespace rwd::broker {

// The timings of RedisBroker. The defaults are what the server runs with; tests may shorten
// them. Redis 7.0 through hiredis 0.14.1, which has no timeouts of its own: every one here is
// a steady_timer of the broker's thread.
struct RedisBrokerOptions {
  // From the start of an attempt until both links are connected.
  std::chrono::milliseconds connect_timeout{2000};
  // The longest wait for a reply: a PUBLISH's or SELECT's, and the SUBSCRIBE confirmations
  // of a (re)connection once both links are connected.
  std::chrono::milliseconds command_timeout{3000};
  // While up, a probe is PUBLISHed to the node's own channel this often on the publish link,
  // and each must come back on the subscribe link within probe_timeout: a subscribed link
  // that stays silent is otherwise indistinguishable from a dead one.
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{3000};
  // Between attempts: a delay drawn from [d/2, d], d doubling from backoff_initial to
  // backoff_max, and back to backoff_initial once up.
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
  // PUBLISHed bytes still waiting for their reply beyond which a publish is dropped (and
  // counted) rather than queued: a slow Redis must not grow the node's memory without bound.
  size_t max_unanswered_bytes = size_t{64} << 20;
};

// Broker over Redis pub/sub (RESP2). One thread ("broker") with its own io_context owns two
// hiredis contexts: the publish link (PUBLISH, the probes, SELECT) and the subscribe link (a
// subscribed RESP2 link accepts only (UN)SUBSCRIBE, and hiredis 0.14 drops a PING's reply
// there). Every hiredis call and every piece of state other than the atomics (up(), the
// counters) and the inbox runs or lives on that thread; publish/subscribe/unsubscribe from
// any thread go through the inbox, a mutex-guarded vector woken by one post per batch, so
// the commands of one loop turn leave in one write.
//
// "Up" means: both links connected, SELECT answered (db other than 0), and a confirmation
// received for every subscribed channel and for the probe channel. Anything else is down:
// publishes are dropped, subscriptions kept and replayed on the next connection. Lost or
// dead links (a disconnect, a connect or command timeout, a probe not echoed) drop both
// links and reconnect after the backoff; transitions are logged once each, never a line
// per failed attempt.
//
// Counters: published = PUBLISHes handed to the link; dropped = publishes refused (down,
// or the unanswered-bytes cap); received = messages given to the handler (the probes
// excepted); reconnects = times up again after having been up; link_failures = attempts
// that failed plus established links lost or found dead.
class RedisBroker final : public Broker {
 public:
  explicit RedisBroker(RedisUrl url, RedisBrokerOptions options = {});
  ~RedisBroker() override;  // stop()

  void on_message(MessageHandler handler) override;
  void on_state(StateHandler handler) override;
  void on_messages_under(std::string prefix, MessageHandler handler) override;
  // Not for the probe channel.
  void on_subscribed(ConfirmHandler handler) override;
  void start() override;
  // Never from one of the handlers (it joins the broker's thread). Frees both links at once,
  // without waiting for replies; the handlers are not called again. A host name is resolved
  // on the broker's thread (hiredis 0.14 calls getaddrinfo): a stop() during a slow DNS
  // lookup waits for it; an address in the URL never does.
  void stop() override;
  void publish(std::string channel, std::string payload) override;
  // A set: subscribing a channel twice is subscribing it once.
  void subscribe(std::string channel) override;
  void unsubscribe(std::string channel) override;
  bool up() const override;
  Counters counters() const override;

  // A random id made at construction, telling this node's processes apart (and restarts of
  // one); the probe channel is rw:n:<instance>. The broker is always subscribed to it; a
  // caller that subscribes to it too receives its messages other than the probes (payloads
  // starting "rw-probe:"), and unsubscribing it only stops that delivery.
  const std::string& instance() const;
  const std::string& probe_channel() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A RedisBroker for `url` (redis://host:port[/db]), not started. Refuses a bad URL with the
// reason (kBadRequest; see parse_redis_url); an unreachable server is not an error here: the
// broker keeps trying once started.
Result<std::unique_ptr<Broker>> open_redis_broker(const std::string& url);

}  // namespace rwd::broker
