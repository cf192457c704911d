#include "domain/social.h"

#include "metrics/counters.h"

namespace rwd::domain {

Social::Social(store::Store& store, Directory& directory, EventBus& bus, SnowflakeGenerator& ids,
               const Clock& clock, int requests_per_window, int64_t window_us)
    : store_(store),
      directory_(directory),
      bus_(bus),
      ids_(ids),
      clock_(clock),
      request_limit_(requests_per_window, window_us) {}

Result<UserView> Social::find_other(const UserView& me, const std::string& name) const {
  auto other = directory_.user_by_name(name);
  if (!other) return Errc::kUserNotFound;
  if (other->id == me.id) return Errc::kSelfTarget;
  return *other;
}

void Social::request(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  if (int64_t wait = request_limit_.acquire(std::to_string(me.id), clock_.now_us()); wait > 0) {
    metrics::count_rate_limited(metrics::RateScope::kUser);
    Error e{Errc::kRateLimited, "too many friend requests."};
    e.retry_after_ms = wait / 1000 + 1;
    return done(e);
  }
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  UserView target = *other;
  store_.request_friend(me.id, target.id, ids_.next(), clock_.now_us(),
                        [this, me, origin, target, done](Result<store::FriendRequestOutcome> r) {
                          if (!r.ok()) return done(r.error());
                          if (r->befriended) {  // they had asked me: their request is accepted
                            directory_.apply(change::FriendshipAdded{me.id, target.id, r->chat_id});
                            bus_.publish(FriendEvent{FriendAction::kResponse, target, me, origin});
                          } else {
                            directory_.apply(change::FriendRequestAdded{me.id, target.id});
                            bus_.publish(FriendEvent{FriendAction::kRequest, target, me, origin});
                          }
                          done({});
                        });
}

void Social::respond(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  UserView target = *other;
  // No pending request, even between friends (a second tap, another device), is the store's
  // kNotRequested: the app matches this error's exact text to refresh its list.
  store_.accept_friend(
      me.id, target.id, ids_.next(), clock_.now_us(),
      [this, me, origin, target, done](Result<int64_t> chat_id) {
        if (!chat_id.ok()) return done(chat_id.error());
        directory_.apply(change::FriendshipAdded{me.id, target.id, chat_id.value()});
        bus_.publish(FriendEvent{FriendAction::kResponse, target, me, origin});
        done({});
      });
}

void Social::remove(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  UserView target = *other;
  store_.cancel_friend_request(
      me.id, target.id, [this, me, origin, target, done](Result<store::FriendRequestRecord> r) {
        if (!r.ok()) return done(r.error());
        directory_.apply(change::FriendRequestRemoved{r->from_id, r->to_id});
        bus_.publish(FriendEvent{FriendAction::kRemove, target, me, origin});
        done({});
      });
}

void Social::unfriend(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  UserView target = *other;
  store_.unfriend(me.id, target.id, [this, me, origin, target, done](Status s) {
    if (!s.ok()) return done(s);
    directory_.apply(change::FriendshipRemoved{me.id, target.id});
    bus_.publish(FriendEvent{FriendAction::kDelete, target, me, origin});
    done({});
  });
}

void Social::set_presence_visible(const UserView& me, bool visible, Done done) {
  store_.set_presence_hidden(me.id, !visible, [this, user = me.id, visible, done](Status s) {
    if (!s.ok()) return done(s);
    const bool changed = directory_.presence_hidden(user) == visible;
    directory_.apply(change::PresenceHidden{user, !visible});
    if (!changed) return done({});  // as it was: nobody sees anything new
    PresenceEvent event{user, {}};
    for (const UserView& f : directory_.friends(user)) event.recipients.push_back(f.id);
    if (!event.recipients.empty()) bus_.publish(event);
    done({});
  });
}

}  // namespace rwd::domain
