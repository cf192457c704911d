#pragma once

#include <functional>
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
// Each operation resolves the other user's name from the Directory, then submits one
// conditional store write that decides (already friends, already asked, crossed requests,
// nothing to accept or withdraw) inside the database transaction. Its callback, on the
// store's thread in commit order, applies the committed result to the Directory, publishes
// the target's event and answers the caller, in that order; a refused or failed write
// changes nothing anywhere. Concurrent operations on one pair are therefore ordered by the
// database alone, and no lock is held here.
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

  // Whether my friends see when I am online (the hub decides who is; this stores the choice).
  // A change's PresenceEvent tells my friends' connections what they see now.
  void set_presence_visible(const UserView& me, bool visible, Done done);

  // Several nodes share it (broker/cluster_limits.h): friend requests per user.
  RateLimiter& request_limiter() { return request_limit_; }

 private:
  Result<UserView> find_other(const UserView& me, const std::string& name) const;

  store::Store& store_;
  Directory& directory_;
  EventBus& bus_;
  SnowflakeGenerator& ids_;
  const Clock& clock_;
  RateLimiter request_limit_;
};

}  // namespace rwd::domain
