#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/shared_gauge.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "gateway/transport.h"

namespace rwd::gateway {

class Session;

// Who is connected: user id -> that user's authenticated sessions. Delivers domain events
// to every session of every recipient. The map is guarded by a mutex; delivery snapshots
// the recipients under it and sends outside it, and a frame is encoded once per event.
// The bus is told (watch_user / unwatch_user, under the mutex so that the calls for one user
// keep their order) when a user's first session arrives and after the last one left.
// Events may arrive on any thread (a bus between processes calls from its broker's thread):
// delivery only queues frames (Transport::send) and posts closes to the sessions' loops.
class Hub {
 public:
  Hub(domain::EventBus& bus, int max_sessions_per_user, int utc_offset_s);

  // False when the user already has max_sessions_per_user sessions (on every node, once
  // count_sessions_in() is given a gauge the cluster shares).
  bool add(int64_t user_id, const std::shared_ptr<Session>& session);
  // Several nodes: each user's sessions are also counted in `gauge` (keyed by user id),
  // whose others() are the sessions the other nodes last reported. Before the first add().
  void count_sessions_in(SharedGauge* gauge) { shared_sessions_ = gauge; }
  void remove(int64_t user_id, const Session* session);
  // After add(): whether the user's events reach this process now (the bus's
  // when_receiving): true, or false and `ready` is called later, on any thread.
  bool when_receiving(int64_t user_id, std::function<void()> ready) {
    return bus_.when_receiving(user_id, std::move(ready));
  }
  size_t session_count() const;
  size_t user_count() const;

  // Presence (docs/PROTOCOL.md, "presence"): a user shows as online to their friends while
  // they have a session on any node (here, or in the gauge's others()), unless they turned it
  // off. Given the Directory (friends, the setting), the hub tells the friends' v2 sessions
  // here when that changes: the user's first session anywhere, their last one gone, a change
  // of the setting (a PresenceEvent), a new friendship. Every node does so for its own
  // sessions, from the same shared counts. After count_sessions_in(), before the first add().
  void show_presence(const domain::Directory& directory);
  bool shown_online(int64_t user_id) const;
  // user_id's friends who show as online, for the v2 auth answer.
  std::vector<int64_t> online_friends(int64_t user_id) const;

 private:
  // user_id's sessions came or went: their friends' v2 sessions here get the state as it is
  // (nothing while user_id hides it).
  void tell_friends(int64_t user_id);
  void tell_presence(int64_t to_user, int64_t of_user);
  Frame presence_frame(int64_t user_id) const;  // a v2 `presence` frame, as the user is now
  void on_event(const domain::Event& event);
  // Sends each of the user's sessions the frame of its protocol version; a null frame means
  // that version gets nothing (v1 is the published app, which must never see guild frames).
  // The session whose connection_id() is `except` (when not 0) is skipped.
  // A chat change's frames name its chat (wire id) and seq (Session::deliver).
  void deliver(int64_t user_id, const Frame& v1, const Frame& v2, uint64_t except = 0,
               int64_t wire_chat_id = 0, int64_t seq = 0);
  // Sends `frame` to the one session of the user whose connection_id() is `connection`, if
  // it is still there.
  void deliver_to_connection(int64_t user_id, uint64_t connection, const Frame& frame,
                             int64_t wire_chat_id = 0, int64_t seq = 0);
  std::vector<std::shared_ptr<Session>> sessions_of(int64_t user_id);

  domain::EventBus& bus_;
  const int max_sessions_per_user_;
  const int utc_offset_s_;
  mutable std::mutex mu_;
  std::unordered_map<int64_t, std::vector<std::weak_ptr<Session>>> sessions_;  // guarded by mu_
  size_t session_count_ = 0;                                                   // guarded by mu_
  SharedGauge* shared_sessions_ = nullptr;
  const domain::Directory* presence_ = nullptr;  // set before the first add(): presence on
};

}  // namespace rwd::gateway
