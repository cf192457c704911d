// Deleting an account (accounts.h): by its owner, who gives the password, or by an operator.
#include <spdlog/spdlog.h>

#include "base/text.h"
#include "domain/accounts.h"
#include "domain/validation.h"

namespace rwd::domain {

void Accounts::delete_own_account(std::string token, std::string password, Callback<void> done) {
  authenticate_async(std::move(token), [this, password = std::move(password),
                                        done](Result<UserView> user) mutable {
    if (!user.ok())
      return done(user.error().code == Errc::kInvalidToken ? Error{Errc::kUnauthorized, {}}
                                                           : user.error());
    const int64_t user_id = user->id;
    auto account = directory_.email_and_credentials(user_id);
    if (!account) return done(Error{Errc::kUnauthorized, {}});
    // As a login of the account: guessing the password through here is as slow.
    if (int64_t wait = login_per_account_.acquire(account->first, clock_.now_us()); wait > 0) {
      Error e{Errc::kRateLimited, "too many login attempts for this account."};
      e.retry_after_ms = wait / 1000 + 1;
      return done(e);
    }
    if (password.empty() || password.size() > kPasswordMax)
      return done(Error{Errc::kInvalidCredentials, {}});
    bool submitted = hash_pool_.try_submit([this, user_id, password = std::move(password),
                                            hash = account->second.password_hash, done] {
      if (!crypto::verify_password(password, hash))
        return done(Error{Errc::kInvalidCredentials, {}});
      // The store decides against the hash that was checked: a password change or reset that
      // committed since then wins, and this deletion answers kInvalidCredentials.
      delete_account_checked(user_id, hash, "by its owner", std::move(done));
    });
    if (!submitted) done(Error{Errc::kOverloaded, "too many requests at once; try again."});
  });
}

void Accounts::delete_account(int64_t user_id, Callback<void> done) {
  delete_account_checked(user_id, {}, "by an operator", std::move(done));
}

void Accounts::delete_account_checked(int64_t user_id, std::string verified_password_hash,
                                      const char* by, Callback<void> done) {
  store_.delete_user(user_id, std::move(verified_password_hash), clock_.now_us(),
                     [this, by, done](Result<store::AccountDeleted> r) {
                       if (!r.ok()) return done(r.error());
                       apply_account_deletion(r.value());
                       spdlog::info(
                           "account {} deleted {}: {} tokens revoked, {} friends, {} requests, "
                           "{} guilds left",
                           r->user.id, by, r->revoked_token_hashes.size(), r->former_friends.size(),
                           r->removed_requests.size(), r->guilds.size());
                       done({});
                     });
}

void Accounts::apply_account_deletion(const store::AccountDeleted& d) {
  const int64_t id = d.user.id;
  // Every change goes into the cache (and, through its listener, to the other nodes) before
  // the events that depend on it, as each service does for its own changes.
  directory_.apply(change::UserAdded{d.user});
  for (const std::string& hash : d.revoked_token_hashes)
    directory_.apply(change::TokenRemoved{hash});
  // Every session of the account ends (4111), on every node; also one that opened while the
  // deletion was on its way.
  bus_.publish(TokenRevokedEvent{id, {}, RevokeReason::kAccountDeleted});
  // The deleted account as the others are told of it: its id, the fixed name.
  const UserView gone =
      directory_.user(id).value_or(UserView{id, std::string(kDeletedUserName), std::nullopt});
  auto others_view = [&](int64_t other) {
    return directory_.user(other).value_or(UserView{other, {}, std::nullopt});
  };
  for (int64_t other : d.former_friends) {
    directory_.apply(change::FriendshipRemoved{id, other});
    // As an unfriending by the deleted account: the former friend is told `delete`.
    FriendEvent e{FriendAction::kDelete, others_view(other), gone};
    e.tell_actor = false;
    bus_.publish(e);
  }
  for (const store::FriendRequestRecord& r : d.removed_requests) {
    directory_.apply(change::FriendRequestRemoved{r.from_id, r.to_id});
    // As a withdrawal (or a decline) by the deleted account: the other side is told `remove`.
    int64_t other = r.from_id == id ? r.to_id : r.from_id;
    FriendEvent e{FriendAction::kRemove, others_view(other), gone};
    e.tell_actor = false;
    bus_.publish(e);
  }
  for (const store::GuildDeparture& g : d.guilds) {
    if (!g.outcome.after) {  // it was the last member: the guild went with it, no one to tell
      directory_.apply(change::GuildErased{g.guild_id});
      continue;
    }
    const store::GuildState& after = *g.outcome.after;
    directory_.apply(change::GuildPut{after});
    // As a leave: the members are told `left`, with the new owner when the guild passed on.
    GuildEvent e;
    e.action = GuildAction::kLeft;
    e.guild =
        GuildSummary{after.guild.id, after.guild.name, after.guild.owner_id, after.members.size()};
    e.user = gone;
    e.actor = gone;
    if (g.outcome.new_owner) e.new_owner = directory_.user(*g.outcome.new_owner);
    for (const auto& m : after.members) e.recipients.push_back(m.user_id);
    bus_.publish(e);
  }
}

}  // namespace rwd::domain
