#include "domain/directory.h"

#include <algorithm>
#include <mutex>

#include "base/crypto.h"
#include "base/text.h"
#include "base/unicode.h"

namespace rwd::domain {

void Directory::load(const store::DirectorySnapshot& s) {
  std::unique_lock lock(mu_);
  load_locked(s);
}

void Directory::load_locked(const store::DirectorySnapshot& s) {
  for (const auto& u : s.users) add_user_locked(u);
  for (const auto& r : s.friend_requests) {
    relations_[r.from_id].outgoing.insert(r.to_id);
    relations_[r.to_id].incoming.insert(r.from_id);
  }
  for (const auto& f : s.friendships) {
    relations_[f.lo].friends.insert(f.hi);
    relations_[f.hi].friends.insert(f.lo);
  }
  for (const auto& c : s.dm_chats) {
    dm_chats_[c.user_lo][c.user_hi] = c.chat_id;
    dm_chats_[c.user_hi][c.user_lo] = c.chat_id;
  }
  for (const auto& t : s.tokens) tokens_[t.token_hash] = {t.token_hash, t.user_id, t.expires_us};
  tokens_after_sweep_ = tokens_.size();
  std::unordered_map<int64_t, GuildState> guilds;
  for (const auto& g : s.guilds)
    guilds[g.id] = GuildState{g.id, g.name, g.owner_id, g.created_us, {}};
  for (const auto& m : s.guild_members)
    if (auto it = guilds.find(m.guild_id); it != guilds.end())
      it->second.members.push_back({m.user_id, m.joined_us});
  for (auto& [id, g] : guilds) put_guild_locked(std::move(g));
  presence_hidden_.insert(s.presence_hidden.begin(), s.presence_hidden.end());
}

void Directory::clear_locked() {
  users_.clear();
  by_name_.clear();
  by_skeleton_.clear();
  by_email_.clear();
  relations_.clear();
  dm_chats_.clear();
  tokens_.clear();
  tokens_after_sweep_ = 0;
  guilds_.clear();
  user_guilds_.clear();
  presence_hidden_.clear();
}

bool Directory::presence_hidden(int64_t user_id) const {
  std::shared_lock lock(mu_);
  return presence_hidden_.contains(user_id);
}

void Directory::set_change_listener(ChangeListener listener) { listener_ = std::move(listener); }

void Directory::apply(const DirectoryChange& change, ChangeSource source) {
  {
    std::unique_lock lock(mu_);
    apply_locked(change);
    if (reloading_) reload_journal_.push_back(change);
  }
  // Outside the lock: the listener encodes and publishes. The store runs its callbacks on
  // one thread, so listeners hear of local changes in commit order.
  if (source == ChangeSource::kLocal && listener_) listener_(change);
}

void Directory::apply_locked(const DirectoryChange& change) {
  struct Visitor {
    Directory& d;
    void operator()(const change::UserAdded& c) { d.add_user_locked(c.user); }
    void operator()(const change::TokenAdded& c) {
      if (d.revoked_.contains(c.token.token_hash)) return;
      d.add_token_locked(c.token.token_hash, c.token.user_id, c.token.expires_us,
                         c.token.created_us);
    }
    void operator()(const change::TokenRemoved& c) {
      d.tokens_.erase(c.token_hash);
      if (!d.revoked_.insert(c.token_hash).second) return;
      d.revoked_order_.push_back(c.token_hash);
      if (d.revoked_order_.size() > kRevokedKept) {
        d.revoked_.erase(d.revoked_order_.front());
        d.revoked_order_.pop_front();
      }
    }
    void operator()(const change::FriendRequestAdded& c) {
      d.add_request_locked(c.from_id, c.to_id);
    }
    void operator()(const change::FriendRequestRemoved& c) {
      d.remove_request_locked(c.from_id, c.to_id);
    }
    void operator()(const change::FriendshipAdded& c) {
      d.add_friendship_locked(c.a, c.b, c.chat_id);
    }
    void operator()(const change::FriendshipRemoved& c) { d.remove_friendship_locked(c.a, c.b); }
    void operator()(const change::GuildPut& c) { d.put_guild_state_locked(c.state); }
    void operator()(const change::GuildErased& c) { d.erase_guild_locked(c.guild_id); }
    void operator()(const change::PresenceHidden& c) {
      if (c.hidden)
        d.presence_hidden_.insert(c.user_id);
      else
        d.presence_hidden_.erase(c.user_id);
    }
  };
  std::visit(Visitor{*this}, change);
}

void Directory::begin_reload() {
  std::unique_lock lock(mu_);
  reloading_ = true;
  reload_journal_.clear();
}

void Directory::finish_reload(const store::DirectorySnapshot& snapshot) {
  std::unique_lock lock(mu_);
  clear_locked();
  load_locked(snapshot);
  // Changes applied since begin_reload may have committed after the snapshot was read: applied
  // again, in the order they came, on top of it. Those the snapshot already holds change
  // nothing (every change is idempotent).
  for (const auto& change : reload_journal_) apply_locked(change);
  reload_journal_.clear();
  reloading_ = false;
}

void Directory::abort_reload() {
  std::unique_lock lock(mu_);
  reload_journal_.clear();
  reloading_ = false;
}

void Directory::add_user_locked(const store::UserRecord& u) {
  if (u.deleted) {
    // A tombstone: shown under a fixed name, found by no name or email (both may already
    // belong to a new account), no password.
    if (auto it = users_.find(u.id); it != users_.end()) {
      const User& old = it->second;
      auto erase_own = [&](auto& index, const std::string& key) {
        if (auto e = index.find(key); e != index.end() && e->second == u.id) index.erase(e);
      };
      erase_own(by_name_, unicode::name_key(old.view.name));
      erase_own(by_skeleton_, unicode::confusable_skeleton(old.view.name));
      erase_own(by_email_, old.email_lower);
    }
    users_[u.id] = User{UserView{u.id, std::string(kDeletedUserName), std::nullopt}, {}, {}};
    return;
  }
  users_[u.id] = User{UserView{u.id, u.name, u.profile}, ascii_lower(u.email), u.password_hash};
  by_name_[unicode::name_key(u.name)] = u.id;
  // Names registered before the lookalike rule may share a skeleton: the first one keeps it.
  by_skeleton_.emplace(unicode::confusable_skeleton(u.name), u.id);
  by_email_[ascii_lower(u.email)] = u.id;
}

std::optional<UserView> Directory::user(int64_t id) const {
  std::shared_lock lock(mu_);
  auto it = users_.find(id);
  if (it == users_.end()) return std::nullopt;
  return it->second.view;
}

std::optional<UserView> Directory::user_by_name(std::string_view name) const {
  std::string key = unicode::name_key(name);
  std::shared_lock lock(mu_);
  auto it = by_name_.find(key);
  if (it == by_name_.end()) return std::nullopt;
  return users_.at(it->second).view;
}

std::optional<Directory::Credentials> Directory::credentials_by_email(
    std::string_view email) const {
  std::shared_lock lock(mu_);
  auto it = by_email_.find(ascii_lower(email));
  if (it == by_email_.end()) return std::nullopt;
  return Credentials{it->second, users_.at(it->second).password_hash};
}

std::optional<std::pair<std::string, Directory::Credentials>> Directory::email_and_credentials(
    int64_t user_id) const {
  std::shared_lock lock(mu_);
  auto it = users_.find(user_id);
  if (it == users_.end()) return std::nullopt;
  return std::pair{it->second.email_lower, Credentials{user_id, it->second.password_hash}};
}

Status Directory::name_available(std::string_view name) const {
  std::string key = unicode::name_key(name), skeleton = unicode::confusable_skeleton(name);
  std::shared_lock lock(mu_);
  if (by_name_.count(key)) return Error{Errc::kNameTaken, "this name is already taken."};
  if (by_skeleton_.count(skeleton))
    return Error{Errc::kNameTaken, "this name looks too much like a name already taken."};
  return {};
}

size_t Directory::user_count() const {
  std::shared_lock lock(mu_);
  return users_.size();
}

bool Directory::are_friends(int64_t a, int64_t b) const {
  std::shared_lock lock(mu_);
  auto it = relations_.find(a);
  return it != relations_.end() && it->second.friends.count(b) > 0;
}

bool Directory::has_request(int64_t from_id, int64_t to_id) const {
  std::shared_lock lock(mu_);
  auto it = relations_.find(from_id);
  return it != relations_.end() && it->second.outgoing.count(to_id) > 0;
}

void Directory::add_request_locked(int64_t from_id, int64_t to_id) {
  relations_[from_id].outgoing.insert(to_id);
  relations_[to_id].incoming.insert(from_id);
}

void Directory::remove_request_locked(int64_t from_id, int64_t to_id) {
  relations_[from_id].outgoing.erase(to_id);
  relations_[to_id].incoming.erase(from_id);
}

void Directory::add_friendship_locked(int64_t a, int64_t b, int64_t chat_id) {
  Relations& ra = relations_[a];
  Relations& rb = relations_[b];
  ra.outgoing.erase(b);
  ra.incoming.erase(b);
  rb.outgoing.erase(a);
  rb.incoming.erase(a);
  ra.friends.insert(b);
  rb.friends.insert(a);
  if (chat_id) {
    dm_chats_[a][b] = chat_id;
    dm_chats_[b][a] = chat_id;
  }
}

void Directory::remove_friendship_locked(int64_t a, int64_t b) {
  relations_[a].friends.erase(b);
  relations_[b].friends.erase(a);
}

std::vector<std::pair<int64_t, int64_t>> Directory::dm_chats_of(int64_t user_id) const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<int64_t, int64_t>> out;
  auto it = dm_chats_.find(user_id);
  if (it == dm_chats_.end()) return out;
  out.assign(it->second.begin(), it->second.end());
  return out;
}

std::optional<int64_t> Directory::dm_chat(int64_t a, int64_t b) const {
  std::shared_lock lock(mu_);
  auto it = dm_chats_.find(a);
  if (it == dm_chats_.end()) return std::nullopt;
  auto jt = it->second.find(b);
  if (jt == it->second.end()) return std::nullopt;
  return jt->second;
}

std::vector<UserView> Directory::views_locked(const std::unordered_set<int64_t>& ids) const {
  std::vector<UserView> out;
  out.reserve(ids.size());
  for (int64_t id : ids)
    if (auto it = users_.find(id); it != users_.end()) out.push_back(it->second.view);
  std::sort(out.begin(), out.end(),
            [](const UserView& a, const UserView& b) { return a.id < b.id; });
  return out;
}

FriendState Directory::friend_state(int64_t user_id) const {
  std::shared_lock lock(mu_);
  auto it = relations_.find(user_id);
  if (it == relations_.end()) return {};
  return {views_locked(it->second.incoming), views_locked(it->second.outgoing),
          views_locked(it->second.friends)};
}

std::vector<UserView> Directory::friends(int64_t user_id) const {
  std::shared_lock lock(mu_);
  auto it = relations_.find(user_id);
  if (it == relations_.end()) return {};
  return views_locked(it->second.friends);
}

bool Directory::GuildState::has_member(int64_t user_id) const {
  for (const auto& m : members)
    if (m.user_id == user_id) return true;
  return false;
}

std::optional<Directory::GuildState> Directory::guild(int64_t guild_id) const {
  std::shared_lock lock(mu_);
  auto it = guilds_.find(guild_id);
  if (it == guilds_.end()) return std::nullopt;
  return it->second;
}

void Directory::put_guild_state_locked(const store::GuildState& state) {
  GuildState g{state.guild.id, state.guild.name, state.guild.owner_id, state.guild.created_us, {}};
  g.members.reserve(state.members.size());
  for (const auto& m : state.members) g.members.push_back({m.user_id, m.joined_us});
  put_guild_locked(std::move(g));
}

void Directory::erase_guild_locked(int64_t guild_id) {
  auto it = guilds_.find(guild_id);
  if (it == guilds_.end()) return;
  for (const auto& m : it->second.members) {
    auto ug = user_guilds_.find(m.user_id);
    if (ug == user_guilds_.end()) continue;
    ug->second.erase(guild_id);
    if (ug->second.empty()) user_guilds_.erase(ug);
  }
  guilds_.erase(it);
}

void Directory::put_guild_locked(GuildState g) {
  erase_guild_locked(g.id);
  std::sort(g.members.begin(), g.members.end(), [](const GuildMember& a, const GuildMember& b) {
    return a.joined_us != b.joined_us ? a.joined_us < b.joined_us : a.user_id < b.user_id;
  });
  for (const auto& m : g.members) user_guilds_[m.user_id].insert(g.id);
  int64_t id = g.id;
  guilds_[id] = std::move(g);
}

bool Directory::is_guild(int64_t guild_id) const {
  std::shared_lock lock(mu_);
  return guilds_.count(guild_id) > 0;
}

std::optional<std::vector<int64_t>> Directory::guild_members_if_member(int64_t guild_id,
                                                                       int64_t user_id) const {
  std::shared_lock lock(mu_);
  auto it = guilds_.find(guild_id);
  if (it == guilds_.end() || !it->second.has_member(user_id)) return std::nullopt;
  std::vector<int64_t> out;
  out.reserve(it->second.members.size());
  for (const auto& m : it->second.members) out.push_back(m.user_id);
  return out;
}

GuildView Directory::view_locked(const GuildState& g) const {
  GuildView v{g.id, g.name, g.owner_id, {}};
  v.members.reserve(g.members.size());
  for (const auto& m : g.members)
    if (auto it = users_.find(m.user_id); it != users_.end()) v.members.push_back(it->second.view);
  return v;
}

GuildSummary Directory::summary_of(const GuildState& g) {
  return GuildSummary{g.id, g.name, g.owner_id, g.members.size()};
}

std::optional<GuildView> Directory::guild_view_for_member(int64_t guild_id, int64_t user_id) const {
  std::shared_lock lock(mu_);
  auto it = guilds_.find(guild_id);
  if (it == guilds_.end() || !it->second.has_member(user_id)) return std::nullopt;
  return view_locked(it->second);
}

std::vector<GuildView> Directory::guilds_of(int64_t user_id) const {
  std::shared_lock lock(mu_);
  std::vector<GuildView> out;
  auto it = user_guilds_.find(user_id);
  if (it == user_guilds_.end()) return out;
  std::vector<int64_t> ids(it->second.begin(), it->second.end());
  std::sort(ids.begin(), ids.end());
  for (int64_t id : ids) out.push_back(view_locked(guilds_.at(id)));
  return out;
}

std::vector<GuildSummary> Directory::guild_summaries_of(int64_t user_id) const {
  std::shared_lock lock(mu_);
  std::vector<GuildSummary> out;
  auto it = user_guilds_.find(user_id);
  if (it == user_guilds_.end()) return out;
  out.reserve(it->second.size());
  for (int64_t id : it->second) out.push_back(summary_of(guilds_.at(id)));
  std::sort(out.begin(), out.end(),
            [](const GuildSummary& a, const GuildSummary& b) { return a.id < b.id; });
  return out;
}

void Directory::add_token_locked(const std::string& token_hash, int64_t user_id, int64_t expires_us,
                                 int64_t now_us) {
  tokens_[token_hash] = {token_hash, user_id, expires_us};
  // Amortized: a sweep costs the map's size and runs after as many insertions.
  if (tokens_.size() < 2 * tokens_after_sweep_ + 64) return;
  std::erase_if(tokens_, [now_us](const auto& kv) { return kv.second.expires_us <= now_us; });
  tokens_after_sweep_ = tokens_.size();
}

size_t Directory::token_count() const {
  std::shared_lock lock(mu_);
  return tokens_.size();
}

std::optional<int64_t> Directory::token_user(const std::string& token_hash, int64_t now_us) const {
  std::shared_lock lock(mu_);
  auto it = tokens_.find(token_hash);
  if (it == tokens_.end() || !crypto::equal_constant_time(it->second.hash, token_hash) ||
      it->second.expires_us <= now_us)
    return std::nullopt;
  return it->second.user_id;
}

}  // namespace rwd::domain
