// Prepared accounts: created through the public protocol (register, verification mail, link,
// login, friend request and response) and cached in a JSON file keyed by server URL, so the
// next run against the same server and data directory skips the set-up.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bench/common.h"

namespace rwd::bench {

struct Account {
  std::string name, email, password, token, id;
};

struct Pool {
  std::vector<Account> accounts;
  // Accounts 2k and 2k+1 are friends for every k < friend_pairs.
  size_t friend_pairs = 0;
  // Accounts 1..star_friends are friends of account 0 (the fanout scenario's sender).
  size_t star_friends = 0;
  // Messages known to be in the chat of pair 0 (the history scenario's chat).
  int64_t history_messages = 0;
  // Messages the search scenario put in the chats of pairs 0..search_pairs-1, in all.
  int64_t search_messages = 0;
  size_t search_pairs = 0;

  const Account& a(size_t pair) const { return accounts[2 * pair]; }
  const Account& b(size_t pair) const { return accounts[2 * pair + 1]; }
  // A direct-message chat is named by the XOR of its members' ids.
  std::string chat_id(size_t pair) const;
};

// Loads the pool cached for o.url, checks that its tokens still work (the server may have
// been restarted on a fresh data directory), and creates what is missing: at least
// `accounts` accounts and `pairs` friend pairs. Saves the cache.
Pool prepare_pool(net::io_context& io, const Options& o, size_t accounts, size_t pairs);

// Makes accounts 1..members-1 friends of account 0 (a star: friend requests from account 0,
// responses from each), unless the cache says they are. Saves the cache.
void prepare_star(net::io_context& io, const Options& o, Pool& pool, size_t members);

// Creates a guild owned by account 0 and adds accounts 1..members-1 to it (v2 `guild create`
// and `add`, waiting for every `joined` event). Returns the guild's id, also its chat id.
std::string make_guild(net::io_context& io, const Options& o, const Pool& pool, size_t members);

// Deletes that guild again (account 0 is its owner), so guilds do not pile up across runs.
void delete_guild(net::io_context& io, const Options& o, const Pool& pool,
                  const std::string& guild);

// Fills the chat of pair 0 until it holds at least `messages` messages. Saves the cache.
void prefill_history(net::io_context& io, const Options& o, Pool& pool, int64_t messages);

// Fills the chats of pairs 0..pairs-1 until they hold `messages` messages in all (an equal
// share each), the i-th message of all with the text text(i), unless the cache says they do.
// Saves the cache.
void prefill_search(net::io_context& io, const Options& o, Pool& pool, int64_t messages,
                    size_t pairs, const std::function<std::string(int64_t)>& text);

}  // namespace rwd::bench
