#include "domain/blocks.h"

#include "metrics/counters.h"

namespace rwd::domain {

Blocks::Blocks(store::Store& store, Directory& directory, EventBus& bus, ThreadPool& read_pool,
               const Clock& clock, RateLimiter& limiter)
    : store_(store),
      directory_(directory),
      bus_(bus),
      read_pool_(read_pool),
      clock_(clock),
      limit_(limiter) {}

Result<UserView> Blocks::find_other(const UserView& me, const std::string& name) {
  if (int64_t wait = limit_.acquire(std::to_string(me.id), clock_.now_us()); wait > 0) {
    metrics::count_rate_limited(metrics::RateScope::kUser);
    Error e{Errc::kRateLimited, "too many friend requests."};
    e.retry_after_ms = wait / 1000 + 1;
    return e;
  }
  auto other = directory_.user_by_name(name);
  if (!other) return Errc::kUserNotFound;
  if (other->id == me.id) return Errc::kSelfTarget;
  return *other;
}

void Blocks::block(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  UserView target = *other;
  store_.block_user(me.id, target.id, clock_.now_us(),
                    [this, me, origin, target, done](Result<store::BlockOutcome> r) {
                      if (!r.ok()) return done(r.error());
                      if (r->unfriended) {
                        directory_.apply(change::FriendshipRemoved{me.id, target.id});
                        bus_.publish(FriendEvent{FriendAction::kDelete, target, me, origin});
                      }
                      if (r->request_removed) {
                        directory_.apply(change::FriendRequestRemoved{r->request_removed->from_id,
                                                                      r->request_removed->to_id});
                        bus_.publish(FriendEvent{FriendAction::kRemove, target, me, origin});
                      }
                      done({});
                    });
}

void Blocks::unblock(const UserView& me, const std::string& name, Done done) {
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  store_.unblock_user(me.id, other->id, [done](Result<bool> r) {
    if (!r.ok()) return done(r.error());
    done({});
  });
}

void Blocks::list(const UserView& me, Listed done) {
  int64_t me_id = me.id;
  bool submitted = read_pool_.try_submit([this, me_id, done] {
    auto ids = store_.blocked_by(me_id);
    if (!ids.ok()) return done(ids.error());
    std::vector<UserView> out;
    out.reserve(ids->size());
    for (int64_t id : *ids)
      if (auto user = directory_.user(id)) out.push_back(std::move(*user));
    done(std::move(out));
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many reads at once; try again."});
}

}  // namespace rwd::domain
