#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "domain/directory_change.h"
#include "domain/types.h"
#include "store/store.h"

namespace rwd::domain {

// The in-memory cache of users, friendships, friend requests, direct-message chats, guilds
// and live tokens: what a gateway request reads (its lookups, lists and routing) without
// touching the disk. The store is the source of truth and takes every decision (see
// store/store.h); this cache is loaded from it at start-up and changed only from what a
// write returned after it committed, inside the store's callbacks, which run on one thread in
// commit order. So it never holds a change the database did not commit, and it holds the
// database's state as of the last callback run.
//
// The services may read it to resolve a name or to pick which error to answer first, never
// to decide a change. Thread-safe (a reader-writer lock): lookups from every thread; changes
// from the store's callbacks (and load() at start-up).
//
// With several server processes every change is data (DirectoryChange): the services apply
// their committed results with apply(), the change listener (the cluster event bus) carries
// each one to the other processes, and they apply it as kRemote. After a gap in that stream
// (the link between processes was down) the cache is reloaded from the store
// (begin_reload / finish_reload).
class Directory {
 public:
  struct Credentials {
    int64_t user_id;
    std::string password_hash;
  };

  Directory() = default;
  // Filled from the store's snapshot at start-up.
  explicit Directory(const store::DirectorySnapshot& snapshot) { load(snapshot); }

  void load(const store::DirectorySnapshot& snapshot);

  // The one way to change the cache after load(): a committed result (kLocal, from a store
  // callback) or one another process committed (kRemote, from the bus). Every change is
  // idempotent: applying it twice leaves what applying it once did.
  void apply(const DirectoryChange& change, ChangeSource source = ChangeSource::kLocal);
  // Told of each kLocal change after it was applied (outside the cache's lock, on the thread
  // that applied it, so in the store's commit order), never of kRemote ones. Set before the
  // first change; must not block.
  using ChangeListener = std::function<void(const DirectoryChange&)>;
  void set_change_listener(ChangeListener listener);

  // A reload from the store that loses no change made while the snapshot was read: from
  // begin_reload() on, every applied change is also journaled; finish_reload() replaces the
  // whole cache with the snapshot (read after begin_reload) and applies the journal again on
  // top of it, all under the lock. abort_reload() drops the journal (the read failed).
  void begin_reload();
  void finish_reload(const store::DirectorySnapshot& snapshot);
  void abort_reload();

  std::optional<UserView> user(int64_t id) const;
  // By the name as typed: any case, NFC or not (unicode::name_key).
  std::optional<UserView> user_by_name(std::string_view name) const;
  std::optional<Credentials> credentials_by_email(std::string_view email) const;
  // A user's lower-case email and credentials (a password change checks the password, and
  // counts the attempt against the account's login limit).
  std::optional<std::pair<std::string, Credentials>> email_and_credentials(int64_t user_id) const;
  // kNameTaken when a user has this name under case folding, or one that looks the same
  // (the same confusable skeleton); the reason says which.
  Status name_available(std::string_view name) const;
  size_t user_count() const;

  bool are_friends(int64_t a, int64_t b) const;
  bool has_request(int64_t from_id, int64_t to_id) const;
  std::optional<int64_t> dm_chat(int64_t a, int64_t b) const;
  // Every direct-message chat of user_id, a former friend's too: (other user, chat id).
  std::vector<std::pair<int64_t, int64_t>> dm_chats_of(int64_t user_id) const;
  FriendState friend_state(int64_t user_id) const;
  std::vector<UserView> friends(int64_t user_id) const;

  // Guilds, each with its members in joining order (ties by id), with a user -> guilds index.
  struct GuildMember {
    int64_t user_id;
    int64_t joined_us;
  };
  struct GuildState {
    int64_t id = 0;
    std::string name;
    int64_t owner_id = 0;
    int64_t created_us = 0;
    std::vector<GuildMember> members;  // joining order, ties by id
    bool has_member(int64_t user_id) const;
  };
  std::optional<GuildState> guild(int64_t guild_id) const;
  bool is_guild(int64_t guild_id) const;
  // The guild's member ids when user_id is one of them.
  std::optional<std::vector<int64_t>> guild_members_if_member(int64_t guild_id,
                                                              int64_t user_id) const;
  // The guild with its members, when user_id is one of them.
  std::optional<GuildView> guild_view_for_member(int64_t guild_id, int64_t user_id) const;
  static GuildSummary summary_of(const GuildState& state);
  // The guilds user_id belongs to, by id: with their members, and as summaries.
  std::vector<GuildView> guilds_of(int64_t user_id) const;
  std::vector<GuildSummary> guild_summaries_of(int64_t user_id) const;

  // Whether user_id shows their friends no presence (they turned it off).
  bool presence_hidden(int64_t user_id) const;

  size_t token_count() const;
  // The user a live token belongs to. The map is keyed by the token's hash; the stored
  // hash is also compared in constant time.
  std::optional<int64_t> token_user(const std::string& token_hash, int64_t now_us) const;

 private:
  struct User {
    UserView view;
    std::string email_lower;
    std::string password_hash;
  };
  struct Relations {
    std::unordered_set<int64_t> friends;
    std::unordered_set<int64_t> incoming;  // asked me
    std::unordered_set<int64_t> outgoing;  // I asked
  };
  struct Token {
    std::string hash;
    int64_t user_id;
    int64_t expires_us;
  };

  // The changes, each under mu_ held by the caller. add_token also drops the expired tokens
  // once the map has doubled since the last sweep, so that tokens nobody logs out of do not
  // pile up in memory (the store prunes its own rows). add_friendship makes a and b friends,
  // drops their requests both ways and records their chat.
  void apply_locked(const DirectoryChange& change);
  void load_locked(const store::DirectorySnapshot& snapshot);
  void clear_locked();
  void add_user_locked(const store::UserRecord& user);
  void add_token_locked(const std::string& token_hash, int64_t user_id, int64_t expires_us,
                        int64_t now_us);
  void add_request_locked(int64_t from_id, int64_t to_id);
  void remove_request_locked(int64_t from_id, int64_t to_id);
  void add_friendship_locked(int64_t a, int64_t b, int64_t chat_id);
  void remove_friendship_locked(int64_t a, int64_t b);
  void put_guild_state_locked(const store::GuildState& state);
  std::vector<UserView> views_locked(const std::unordered_set<int64_t>& ids) const;
  void put_guild_locked(GuildState state);
  void erase_guild_locked(int64_t guild_id);
  GuildView view_locked(const GuildState& state) const;

  mutable std::shared_mutex mu_;
  std::unordered_map<int64_t, User> users_;               // guarded by mu_
  std::unordered_map<std::string, int64_t> by_name_;      // unicode::name_key; mu_
  std::unordered_map<std::string, int64_t> by_skeleton_;  // confusable skeleton; mu_
  std::unordered_map<std::string, int64_t> by_email_;     // lower-case email; mu_
  std::unordered_map<int64_t, Relations> relations_;      // guarded by mu_
  std::unordered_map<int64_t, std::unordered_map<int64_t, int64_t>> dm_chats_;  // a -> b -> chat
  std::unordered_map<std::string, Token> tokens_;                               // guarded by mu_
  size_t tokens_after_sweep_ = 0;                                               // guarded by mu_
  // The last kRevokedKept tokens removed, whose TokenAdded is ignored from then on: a node that
  // read a token from the store (Accounts, read-through) may add it after the revocation
  // that followed its read arrived, and the revoked token must not live on in this cache.
  static constexpr size_t kRevokedKept = 4096;
  std::unordered_set<std::string> revoked_;                               // guarded by mu_
  std::deque<std::string> revoked_order_;                                 // oldest first; mu_
  std::unordered_map<int64_t, GuildState> guilds_;                        // guarded by mu_
  std::unordered_map<int64_t, std::unordered_set<int64_t>> user_guilds_;  // guarded by mu_
  std::unordered_set<int64_t> presence_hidden_;                           // guarded by mu_
  bool reloading_ = false;                                                // guarded by mu_
  std::vector<DirectoryChange> reload_journal_;                           // guarded by mu_
  ChangeListener listener_;  // set before the first change
};

}  // namespace rwd::domain
