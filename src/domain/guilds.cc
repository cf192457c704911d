#include "domain/guilds.h"

#include <algorithm>

#include "domain/validation.h"
#include "metrics/counters.h"

namespace rwd::domain {

namespace {

std::vector<int64_t> member_ids(const store::GuildState& g) {
  std::vector<int64_t> out;
  out.reserve(g.members.size());
  for (const auto& m : g.members) out.push_back(m.user_id);
  return out;
}

GuildSummary summary_of(const store::GuildState& g) {
  return GuildSummary{g.guild.id, g.guild.name, g.guild.owner_id, g.members.size()};
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
    metrics::count_rate_limited(metrics::RateScope::kUser);
    Error e{Errc::kRateLimited, "too many guild operations."};
    e.retry_after_ms = wait / 1000 + 1;
    return e;
  }
  return {};
}

Error Guilds::cached_refusal(const UserView& me, int64_t guild_id, bool owner_only,
                             Error otherwise) const {
  auto g = directory_.guild(guild_id);
  if (!g || !g->has_member(me.id)) return Errc::kGuildNotFound;
  if (owner_only && g->owner_id != me.id) return Errc::kNotGuildOwner;
  return otherwise;
}

void Guilds::committed(const store::GuildState& state, GuildEvent event, const Done& done) {
  directory_.apply(change::GuildPut{state});
  bus_.publish(event);
  done({});
}

void Guilds::create(const UserView& me, const std::string& name, RequestOrigin origin, Done done) {
  auto valid = validate_guild_name(name);
  if (!valid.ok()) return done(valid.error());
  if (Status s = check_rate(me); !s.ok()) return done(s);
  store::GuildRecord rec{ids_.next(), valid.value(), me.id, clock_.now_us()};
  store_.create_guild(rec, [this, me, origin, done](Result<store::GuildState> r) {
    if (!r.ok()) return done(r.error());
    GuildEvent event{GuildAction::kCreated, summary_of(*r), me, me, {}, member_ids(*r), origin};
    committed(*r, std::move(event), done);
  });
}

void Guilds::rename(const UserView& me, int64_t guild_id, const std::string& name,
                    RequestOrigin origin, Done done) {
  auto valid = validate_guild_name(name);
  if (Status s = check_rate(me); !s.ok()) return done(s);
  // An invalid name is answered after "not found" and "not the owner", as it always was.
  if (!valid.ok()) return done(cached_refusal(me, guild_id, true, valid.error()));
  store_.rename_guild(
      guild_id, me.id, valid.value(), [this, me, origin, done](Result<store::GuildState> r) {
        if (!r.ok()) return done(r.error());
        GuildEvent event{GuildAction::kRenamed, summary_of(*r), me, me, {}, member_ids(*r), origin};
        committed(*r, std::move(event), done);
      });
}

void Guilds::add(const UserView& me, int64_t guild_id, const std::string& friend_name,
                 RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  auto other = directory_.user_by_name(friend_name);
  if (!other) return done(cached_refusal(me, guild_id, false, Errc::kUserNotFound));
  UserView added = *other;
  store_.add_guild_member(
      guild_id, me.id, added.id, clock_.now_us(), static_cast<int64_t>(settings_.max_members),
      [this, me, added, origin, done](Result<store::GuildState> r) {
        if (!r.ok()) {
          if (r.error().code == Errc::kGuildFull)
            return done(Error{
                Errc::kGuildFull,
                "the guild already has " + std::to_string(settings_.max_members) + " members."});
          return done(r.error());
        }
        GuildEvent event{GuildAction::kJoined, summary_of(*r), added, me, {},
                         member_ids(*r),       origin};
        committed(*r, std::move(event), done);
      });
}

void Guilds::remove(const UserView& me, int64_t guild_id, const std::string& member_name,
                    RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  const Error not_a_member{Errc::kUserNotFound, "no member of this guild has that name."};
  auto other = directory_.user_by_name(member_name);
  if (!other) return done(cached_refusal(me, guild_id, true, not_a_member));
  UserView removed = *other;
  store_.remove_guild_member(
      guild_id, me.id, removed.id,
      [this, me, removed, not_a_member, origin, done](Result<store::GuildState> r) {
        if (!r.ok()) {
          if (r.error().code == Errc::kUserNotFound) return done(not_a_member);
          if (r.error().code == Errc::kSelfTarget)
            return done(
                Error{Errc::kSelfTarget, "the owner cannot remove themselves; leave instead."});
          return done(r.error());
        }
        std::vector<int64_t> recipients = member_ids(*r);
        recipients.push_back(removed.id);
        GuildEvent event{GuildAction::kLeft,    summary_of(*r), removed, me, {},
                         std::move(recipients), origin};
        committed(*r, std::move(event), done);
      });
}

void Guilds::leave(const UserView& me, int64_t guild_id, RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  store_.leave_guild(
      guild_id, me.id, [this, me, guild_id, origin, done](Result<store::GuildLeaveOutcome> r) {
        if (!r.ok()) return done(r.error());
        if (!r->after) {
          // The last member left and the guild is deleted: the leaver is told `left` with no
          // members. Callbacks run in commit order, so the cache still holds the guild as it was
          // just before this commit.
          auto before = directory_.guild(guild_id);
          GuildSummary summary{guild_id, before ? before->name : std::string(),
                               before ? before->owner_id : me.id, 0};
          directory_.apply(change::GuildErased{guild_id});
          bus_.publish(GuildEvent{GuildAction::kLeft, summary, me, me, {}, {me.id}, origin});
          return done({});
        }
        const store::GuildState& after = *r->after;
        std::vector<int64_t> recipients = member_ids(after);
        recipients.push_back(me.id);
        GuildEvent event{
            GuildAction::kLeft, summary_of(after), me, me, {}, std::move(recipients), origin};
        if (r->new_owner) event.new_owner = directory_.user(*r->new_owner);
        committed(after, std::move(event), done);
      });
}

void Guilds::destroy(const UserView& me, int64_t guild_id, RequestOrigin origin, Done done) {
  if (Status s = check_rate(me); !s.ok()) return done(s);
  store_.delete_guild(
      guild_id, me.id, [this, me, guild_id, origin, done](Result<store::GuildState> r) {
        if (!r.ok()) return done(r.error());
        directory_.apply(change::GuildErased{guild_id});
        bus_.publish(
            GuildEvent{GuildAction::kDeleted, summary_of(*r), me, me, {}, member_ids(*r), origin});
        done({});
      });
}

}  // namespace rwd::domain
