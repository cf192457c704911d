#include "domain/social.h"

#include <spdlog/spdlog.h>

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

void Social::befriend_locked(const UserView& me, uint64_t origin, const UserView& other,
                             FriendAction told, Done done) {
  bool had_mine = directory_.has_request(me.id, other.id);
  bool had_theirs = directory_.has_request(other.id, me.id);
  directory_.add_friendship(me.id, other.id, 0);
  store::UserPair pair{std::min(me.id, other.id), std::max(me.id, other.id)};
  store_.put_friendship(
      pair, ids_.next(), clock_.now_us(),
      [this, me, origin, other, told, had_mine, had_theirs, done](Result<int64_t> r) {
        if (!r.ok()) {
          std::lock_guard<std::recursive_mutex> lock(mu_);
          directory_.remove_friendship(me.id, other.id);
          if (had_mine) directory_.add_request(me.id, other.id);
          if (had_theirs) directory_.add_request(other.id, me.id);
          return done(r.error());
        }
        directory_.set_dm_chat(me.id, other.id, r.value());
        bus_.publish(FriendEvent{told, other, me, origin});
        done({});
      });
}

void Social::request(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  if (int64_t wait = request_limit_.acquire(std::to_string(me.id), clock_.now_us()); wait > 0) {
    Error e{Errc::kRateLimited, "too many friend requests."};
    e.retry_after_ms = wait / 1000 + 1;
    return done(e);
  }
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  if (directory_.are_friends(me.id, other->id)) return done(Errc::kAlreadyFriends);
  if (directory_.has_request(me.id, other->id)) return done(Errc::kAlreadyRequested);
  if (directory_.has_request(other->id, me.id))  // crossed requests: accept theirs
    return befriend_locked(me, origin, *other, FriendAction::kResponse, std::move(done));
  directory_.add_request(me.id, other->id);
  UserView target = *other;
  store_.put_friend_request(me.id, target.id, clock_.now_us(),
                            [this, me, origin, target, done](Status s) {
                              if (!s.ok()) {
                                std::lock_guard<std::recursive_mutex> lock(mu_);
                                directory_.remove_request(me.id, target.id);
                                return done(s);
                              }
                              bus_.publish(FriendEvent{FriendAction::kRequest, target, me, origin});
                              done({});
                            });
}

void Social::respond(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  // No pending request, even between friends (a second tap, another device): the app
  // matches this error's exact text to refresh its list.
  if (!directory_.has_request(other->id, me.id)) return done(Errc::kNotRequested);
  befriend_locked(me, origin, *other, FriendAction::kResponse, std::move(done));
}

void Social::remove(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  int64_t from, to;
  if (directory_.has_request(me.id, other->id)) {
    from = me.id, to = other->id;
  } else if (directory_.has_request(other->id, me.id)) {
    from = other->id, to = me.id;
  } else {
    return done(Errc::kNotRequested);
  }
  directory_.remove_request(from, to);
  UserView target = *other;
  store_.delete_friend_request(from, to, [this, me, origin, target, from, to, done](Status s) {
    if (!s.ok()) {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      directory_.add_request(from, to);
      return done(s);
    }
    bus_.publish(FriendEvent{FriendAction::kRemove, target, me, origin});
    done({});
  });
}

void Social::unfriend(const UserView& me, uint64_t origin, const std::string& name, Done done) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto other = find_other(me, name);
  if (!other.ok()) return done(other.error());
  if (!directory_.are_friends(me.id, other->id)) return done(Errc::kNotFriends);
  directory_.remove_friendship(me.id, other->id);
  UserView target = *other;
  store::UserPair pair{std::min(me.id, target.id), std::max(me.id, target.id)};
  store_.delete_friendship(pair, [this, me, origin, target, done](Status s) {
    if (!s.ok()) {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      directory_.add_friendship(me.id, target.id, 0);
      return done(s);
    }
    bus_.publish(FriendEvent{FriendAction::kDelete, target, me, origin});
    done({});
  });
}

}  // namespace rwd::domain
