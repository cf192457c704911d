#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "store/store.h"

// A committed change of what the Directory caches, as data: the one way the Directory is
// changed after it was loaded, so that the change can also be carried to the other server
// processes, whose caches must follow the same commits.
namespace rwd::domain {

namespace change {

// A user whose verification committed, with the password hash: a login works on every node.
// Also a user whose password changed (reset or change): the record replaces the cached one,
// so the new password works, and the old one stops working, on every node.
struct UserAdded {
  store::UserRecord user;
};
// A login token was stored. Its created_us also serves as "now" for the cache's sweep of
// expired tokens, so every node sweeps alike without a clock of its own.
struct TokenAdded {
  store::TokenRecord token;
};
struct TokenRemoved {
  std::string token_hash;
};
struct FriendRequestAdded {
  int64_t from_id = 0, to_id = 0;
};
struct FriendRequestRemoved {
  int64_t from_id = 0, to_id = 0;
};
// a and b became friends (their requests both ways are gone); chat_id is their chat (0: none).
struct FriendshipAdded {
  int64_t a = 0, b = 0, chat_id = 0;
};
struct FriendshipRemoved {
  int64_t a = 0, b = 0;
};
// A guild's whole state as the store returned it, replacing what was cached.
struct GuildPut {
  store::GuildState state;
};
struct GuildErased {
  int64_t guild_id = 0;
};
// A user's choice to show their friends when they are online, or not.
struct PresenceHidden {
  int64_t user_id = 0;
  bool hidden = false;
};

}  // namespace change

using DirectoryChange = std::variant<change::UserAdded, change::TokenAdded, change::TokenRemoved,
                                     change::FriendRequestAdded, change::FriendRequestRemoved,
                                     change::FriendshipAdded, change::FriendshipRemoved,
                                     change::GuildPut, change::GuildErased, change::PresenceHidden>;

// Where a change was committed: by this process (its listener hears of it, to pass it on) or
// by another one (it came over the bus and goes no further).
enum class ChangeSource { kLocal, kRemote };

}  // namespace rwd::domain
