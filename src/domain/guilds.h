#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/rate_limiter.h"
#include "base/snowflake.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "store/store.h"

namespace rwd::domain {

struct GuildSettings {
  size_t max_members = 1000;
  int ops_per_window = 30;  // guild operations per user, like friend requests
  int64_t window_us = 60'000'000;
};

// Guilds: group chats of friends. The creator owns a guild; any member may add one of their
// own friends; the owner renames it, removes members and deletes it; anyone may leave. When
// the owner leaves, the member who joined earliest (ties: lowest id) becomes the owner; when
// the last member leaves, the guild is deleted.
//
// Like Social, each operation is one conditional store write that decides inside the
// database transaction (membership, ownership, friendship, the size limit, who inherits) and
// returns the guild as it committed. Its callback, on the store's thread in commit order,
// puts that state in the Directory, then publishes the event (which is also the caller's
// answer). A refused or failed write changes nothing anywhere. The Directory is read here
// only to resolve a member's or friend's name and to answer the errors a request's checks
// give before the store could (an unknown name, an invalid new name), in the order clients
// have always seen them.
//
// A guild nobody may see and a guild that does not exist give the same kGuildNotFound, so
// outsiders learn nothing about guild ids.
class Guilds {
 public:
  using Done = std::function<void(Status)>;

  Guilds(GuildSettings settings, store::Store& store, Directory& directory, EventBus& bus,
         SnowflakeGenerator& ids, const Clock& clock);

  // Each operation's event carries `origin`: the connection that asked gets it with the
  // request's id.
  void create(const UserView& me, const std::string& name, RequestOrigin origin, Done done);
  void rename(const UserView& me, int64_t guild_id, const std::string& name, RequestOrigin origin,
              Done done);
  void add(const UserView& me, int64_t guild_id, const std::string& friend_name,
           RequestOrigin origin, Done done);
  void remove(const UserView& me, int64_t guild_id, const std::string& member_name,
              RequestOrigin origin, Done done);
  void leave(const UserView& me, int64_t guild_id, RequestOrigin origin, Done done);
  void destroy(const UserView& me, int64_t guild_id, RequestOrigin origin,
               Done done);  // "delete"

  // Several nodes share it (broker/cluster_limits.h): guild operations per user.
  RateLimiter& operation_limiter() { return limit_; }

 private:
  Status check_rate(const UserView& me);
  // The error a request that fails before reaching the store answers, from the cache: not a
  // member, then (when owner_only) not the owner, then `otherwise`.
  Error cached_refusal(const UserView& me, int64_t guild_id, bool owner_only,
                       Error otherwise) const;
  // Puts a committed guild in the Directory, then publishes `event` for it.
  void committed(const store::GuildState& state, GuildEvent event, const Done& done);

  const GuildSettings settings_;
  store::Store& store_;
  Directory& directory_;
  EventBus& bus_;
  SnowflakeGenerator& ids_;
  const Clock& clock_;
  RateLimiter limit_;
};

}  // namespace rwd::domain
