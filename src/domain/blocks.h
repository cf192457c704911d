#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/rate_limiter.h"
#include "base/thread_pool.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "store/store.h"

namespace rwd::domain {

// Blocking users (the gateway's v2 `block` and `load blocked_users`).
//
// A block is one-way and lives in the store only: the store decides, inside the transaction
// of a friend request, whether a block refuses it (store.h, block_user), so no cache of
// blocks exists to go stale on another node. What a block ends — the pair's friendship, a
// pending request either way — is cached, and changes like Social's: applied to the
// Directory from the committed result, in the store's callback (the change listener carries
// it to the other nodes), then told with the usual friend events (`delete`, `remove`) to the
// blocked user and to the blocker's other connections.
class Blocks {
 public:
  using Done = std::function<void(Status)>;
  using Listed = std::function<void(Result<std::vector<UserView>>)>;

  // `limiter` is shared with friend requests (Social::request_limiter): a block and an
  // unblock count as friend requests.
  Blocks(store::Store& store, Directory& directory, EventBus& bus, ThreadPool& read_pool,
         const Clock& clock, RateLimiter& limiter);

  // `origin` as for Social: the connection that asks, skipped when my connections are told.
  // Blocks `name`. Blocking again is done({}) and changes nothing. kUserNotFound, kSelfTarget.
  void block(const UserView& me, uint64_t origin, const std::string& name, Done done);
  // Unblocks `name`; one I do not block is done({}) too. kUserNotFound, kSelfTarget.
  void unblock(const UserView& me, const std::string& name, Done done);
  // The users I block, oldest block first. Read from the store on the read pool.
  void list(const UserView& me, Listed done);

 private:
  Result<UserView> find_other(const UserView& me, const std::string& name);

  store::Store& store_;
  Directory& directory_;
  EventBus& bus_;
  ThreadPool& read_pool_;
  const Clock& clock_;
  RateLimiter& limit_;
};

}  // namespace rwd::domain
