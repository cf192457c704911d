#pragma once

#include <functional>
#include <mutex>
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
// Like Social, each operation checks and changes the Directory and submits its store write
// under one mutex, so operations on a guild are decided in one order and reach the disk in
// that order. The event (which is also the caller's answer) is published after the commit.
// If a commit fails, the guild's previous state is put back in memory.
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

 private:
  Status check_rate(const UserView& me);
  // The guild when me is a member of it.
  Result<Directory::GuildState> member_guild(const UserView& me, int64_t guild_id) const;
  // Applies `after` in memory, and after the commit of the write that `submit` starts,
  // publishes the event; restores `before` if the commit fails.
  void apply_locked(const Directory::GuildState& before,
                    const std::optional<Directory::GuildState>& after, GuildEvent event,
                    const std::function<void(store::Callback<void>)>& submit, Done done);

  const GuildSettings settings_;
  store::Store& store_;
  Directory& directory_;
  EventBus& bus_;
  SnowflakeGenerator& ids_;
  const Clock& clock_;
  RateLimiter limit_;
  std::recursive_mutex mu_;  // orders check + change + submit of every operation
};

}  // namespace rwd::domain
