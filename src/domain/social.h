#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "base/rate_limiter.h"
#include "base/snowflake.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "store/store.h"

namespace rwd::domain {

// Friend requests and friendships (the gateway's `mutual_users`).
//
// Each operation checks and changes the Directory and submits its store write under one
// mutex, so concurrent operations on the same pair are decided in one order and the disk
// sees them in that order. The caller's callback and the target's event both come after
// the write committed. If a commit fails the memory change is undone.
class Social {
 public:
  using Done = std::function<void(Status)>;

  Social(store::Store& store, Directory& directory, EventBus& bus, SnowflakeGenerator& ids,
         const Clock& clock, int requests_per_window, int64_t window_us);

  // `origin` names the connection that asks (opaque here; 0 for none): the FriendEvent of a
  // success tells my other connections, and that one only through `done`.

  // Asks `name` to be friends; if they had asked me already, we become friends.
  void request(const UserView& me, uint64_t origin, const std::string& name, Done done);
  // Accepts the pending request from `name`.
  void respond(const UserView& me, uint64_t origin, const std::string& name, Done done);
  // Withdraws my request to `name`, or declines theirs.
  void remove(const UserView& me, uint64_t origin, const std::string& name, Done done);
  // Ends the friendship with `name`, for both.
  void unfriend(const UserView& me, uint64_t origin, const std::string& name, Done done);

 private:
  Result<UserView> find_other(const UserView& me, const std::string& name) const;
  void befriend_locked(const UserView& me, uint64_t origin, const UserView& other,
                       FriendAction told, Done done);

  store::Store& store_;
  Directory& directory_;
  EventBus& bus_;
  SnowflakeGenerator& ids_;
  const Clock& clock_;
  RateLimiter request_limit_;
  std::recursive_mutex mu_;  // orders check + change + submit of every operation
};

}  // namespace rwd::domain
