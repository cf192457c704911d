#include "domain/guilds.h"

#include <algorithm>

#include "domain/validation.h"

namespace rwd::domain {

namespace {

std::vector<int64_t> member_ids(const Directory::GuildState& g) {
  std::vector<int64_t> out;
  out.reserve(g.members.size());
  for (const auto& m : g.members) out.push_back(m.user_id);
  return out;
}

}  // namespace

Guilds::Guilds(GuildSettings settings, store::Store& store, Directory& directory, EventBus& bus,
               SnowflakeGenerator& ids, const Clock& clock)
    : settings_(settings),
      store_(store),
      directory_(directory),
      bus_(bus),
      ids_(ids),
      clock_(clock),
      limit_(settings.ops_per_window, settings.window_us) {}

Status Guilds::check_rate(const UserView& me) {
  if (int64_t wait = limit_.acquire(std::to_string(me.id), clock_.now_us()); wait > 0) {
    Error e{Errc::kRateLimited, "too many guild operations."};
    e.retry_after_ms = wait / 1000 + 1;
    return e;
  }
  return {};
}

Result<Directory::GuildState> Guilds::member_guild(const UserView& me, int64_t guild_id) const {
  auto g = directory_.guild(guild_id);
  if (!g || !g->has_member(me.id)) return Errc::kGuildNotFound;
  return *g;
}

void Guilds::apply_locked(const Directory::GuildState& before,
                          const std::optional<Directory::GuildState>& after, GuildEvent event,
                          const std::function<void(store::Callback<void>)>& submit, Done done) {
  int64_t id = before.id;
  directory_.set_guild(id, after);
  submit([this, id, before, event = std::move(event), done](Status s) {
    if (!s.ok()) {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      directory_.set_guild(id, before);
      return done(s);
    }
    bus_.publish(event);
    done({});
  });
}

void Guilds::create(const UserView& me, const std::string& name, RequestOrigin origin, Done done) {
  auto valid = validate_guild_name(name);
  if (!valid.ok()) return done(valid.error());
  if (Status s = check_rate(me); !s.ok()) return done(s);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  Directory::GuildState g;
  g.id = ids_.next();
  g.name = valid.value();
  g.owner_id = me.id;
  g.created_us = clock_.now_us();
  g.members = {{me.id, g.created_us}};
  directory_.set_guild(g.id, g);
  GuildEvent event{GuildAction::kCreated, Directory::summary_of(g), me, me, {}, {me.id}, origin};
  store::GuildRecord rec{g.id, g.name, g.owner_id, g.created_us};
  int64_t id = g.id;
  store_.put_guild(rec, [this, id, event = std::move(event), done](Status s) {
    if (!s.ok()) {
      std::lock_guard<std::recursive_mutex> lock(mu_);
      directory_.set_guild(id, std::nullopt);
      return done(s);
    }
    bus_.publish(event);
    done({});
  });
}

void Guilds::rename(const UserView& me, int64_t guild_id, const std::string& name,
                    RequestOrigin origin, Done done) {
  auto valid = validate_guild_name(name);
  if (Status s = check_rate(me); !s.ok()) return done(s);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto g = member_guild(me, guild_id);
  if (!g.ok()) return done(g.error());
  if (g->owner_id != me.id) return done(Errc::kNotGuildOwner);
  if (!valid.ok()) return done(valid.error());
  Directory::GuildState after = *g;
  after.name = valid.value();
  GuildEvent event{
      GuildAction::kRenamed, Directory::summary_of(after), me, me, {}, member_ids(after), origin};
  apply_locked(
      *g, after, std::move(event),
      [this, guild_id, n = after.name](store::Callback<void> cb) {
        store_.rename_guild(guild_id, n, std::move(cb));
      },
      std::move(done));
}

void Guilds::add(const UserView& me, int64_t guild_id, const std::string& friend_name,
                 RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto g = member_guild(me, guild_id);
  if (!g.ok()) return done(g.error());
  auto other = directory_.user_by_name(friend_name);
  if (!other) return done(Errc::kUserNotFound);
  if (g->has_member(other->id)) return done(Errc::kAlreadyMember);
  if (!directory_.are_friends(me.id, other->id)) return done(Errc::kNotFriends);
  if (g->members.size() >= settings_.max_members)
    return done(Error{Errc::kGuildFull, "the guild already has " +
                                            std::to_string(settings_.max_members) + " members."});
  Directory::GuildState after = *g;
  // Never earlier than the last member: joining order decides who inherits the guild.
  int64_t joined = std::max(clock_.now_us(), after.members.back().joined_us);
  after.members.push_back({other->id, joined});
  GuildEvent event{GuildAction::kJoined,
                   Directory::summary_of(after),
                   *other,
                   me,
                   {},
                   member_ids(after),
                   origin};
  store::GuildMemberRecord rec{guild_id, other->id, joined};
  apply_locked(
      *g, after, std::move(event),
      [this, rec](store::Callback<void> cb) { store_.add_guild_member(rec, std::move(cb)); },
      std::move(done));
}

void Guilds::remove(const UserView& me, int64_t guild_id, const std::string& member_name,
                    RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto g = member_guild(me, guild_id);
  if (!g.ok()) return done(g.error());
  if (g->owner_id != me.id) return done(Errc::kNotGuildOwner);
  auto other = directory_.user_by_name(member_name);
  if (!other || !g->has_member(other->id))
    return done(Error{Errc::kUserNotFound, "no member of this guild has that name."});
  if (other->id == me.id)
    return done(Error{Errc::kSelfTarget, "the owner cannot remove themselves; leave instead."});
  Directory::GuildState after = *g;
  std::erase_if(after.members, [&](const auto& m) { return m.user_id == other->id; });
  std::vector<int64_t> recipients = member_ids(after);
  recipients.push_back(other->id);
  GuildEvent event{GuildAction::kLeft,
                   Directory::summary_of(after),
                   *other,
                   me,
                   {},
                   std::move(recipients),
                   origin};
  int64_t uid = other->id;
  apply_locked(
      *g, after, std::move(event),
      [this, guild_id, uid](store::Callback<void> cb) {
        store_.remove_guild_member(guild_id, uid, std::nullopt, std::move(cb));
      },
      std::move(done));
}

void Guilds::leave(const UserView& me, int64_t guild_id, RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto g = member_guild(me, guild_id);
  if (!g.ok()) return done(g.error());
  Directory::GuildState after = *g;
  std::erase_if(after.members, [&](const auto& m) { return m.user_id == me.id; });
  if (after.members.empty()) {
    // The last member left: the guild is deleted. The leaver is told `left` with no members.
    GuildEvent event{GuildAction::kLeft, Directory::summary_of(after), me, me, {}, {me.id}, origin};
    apply_locked(
        *g, std::nullopt, std::move(event),
        [this, guild_id](store::Callback<void> cb) {
          store_.delete_guild(guild_id, std::move(cb));
        },
        std::move(done));
    return;
  }
  std::optional<int64_t> new_owner;
  if (g->owner_id == me.id) {
    // Members are kept in joining order (ties by id): the first one inherits.
    new_owner = after.members.front().user_id;
    after.owner_id = *new_owner;
  }
  std::vector<int64_t> recipients = member_ids(after);
  recipients.push_back(me.id);
  GuildEvent event{
      GuildAction::kLeft, Directory::summary_of(after), me, me, {}, std::move(recipients), origin};
  if (new_owner) event.new_owner = directory_.user(*new_owner);
  apply_locked(
      *g, after, std::move(event),
      [this, guild_id, uid = me.id, new_owner](store::Callback<void> cb) {
        store_.remove_guild_member(guild_id, uid, new_owner, std::move(cb));
      },
      std::move(done));
}

void Guilds::destroy(const UserView& me, int64_t guild_id, RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  std::lock_guard<std::recursive_mutex> lock(mu_);
  auto g = member_guild(me, guild_id);
  if (!g.ok()) return done(g.error());
  if (g->owner_id != me.id) return done(Errc::kNotGuildOwner);
  GuildEvent event{
      GuildAction::kDeleted, Directory::summary_of(*g), me, me, {}, member_ids(*g), origin};
  apply_locked(
      *g, std::nullopt, std::move(event),
      [this, guild_id](store::Callback<void> cb) { store_.delete_guild(guild_id, std::move(cb)); },
      std::move(done));
}

}  // namespace rwd::domain
