#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/rate_limiter.h"
#include "base/snowflake.h"
#include "base/thread_pool.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "store/store.h"

namespace rwd::domain {

// How long a send's nonce stands for its message: a retry with it within this time answers
// the message the first send stored. A day covers a phone that was off overnight.
inline constexpr int64_t kNonceWindowUs = int64_t{24} * 3600 * 1'000'000;

// Typing: how long a member is shown as typing after one `typing` event, and how often one
// user's typing in one chat goes out at most: kTypingBurst at once (a client sends one as
// each of several quick messages is begun), then one per kTypingIntervalUs; more is dropped
// (clients repeat it every few seconds while the person types).
inline constexpr int kTypingShownS = 8;
inline constexpr int kTypingBurst = 3;
inline constexpr int64_t kTypingIntervalUs = 2'000'000;

// Unread counts stop here (ChatSummary::unread): a count past it says "this many or more",
// and counting a long unread history costs no more than this many rows.
inline constexpr int kUnreadCap = 1000;

// Search (Chats::search): a page of results, at most this many, from a rank of at most
// kSearchMaxOffset; and what a query may be.
inline constexpr int kSearchPageSize = 20;
inline constexpr int kSearchMaxOffset = 1000;
inline constexpr size_t kSearchMaxQueryChars = 200;
inline constexpr size_t kSearchMaxWords = 8;  // the words past it are not looked for

// Catch-up (Chats::catch_up): a chat that missed more changes than this is reloaded instead
// of replayed; replaying it would cost more than its newest page of history.
inline constexpr int kCatchUpMaxChanges = 500;
// What a change's frame holds besides its text, about (ids, times, names): the catch-up's
// estimate of its size.
inline constexpr size_t kCatchUpChangeOverhead = 220;

struct ChatSettings {
  size_t max_content_chars = 2000;
  int history_max_count = 100;
  int sends_per_window = 60;  // per user
  int64_t window_us = 60'000'000;
};

// Direct messages and guild chats: send, edit, delete and history.
//
// A wire chat id that is a guild's id, of which the caller is a member, names that guild's
// chat; recipients are its members at that moment, so a removed member stops receiving at
// once. Should a guild id ever equal a direct-message XOR value, the guild wins for its
// members. A guild's non-members get kGuildNotFound for reads and writes.
//
// Otherwise a direct-message chat between a and b is named on the wire by a XOR b. Two
// pairs can share that value, so the service always resolves it against the caller: the
// other member is chat_id XOR caller, and the pair's own chat (stored by the pair) is used.
//
// Durable before visible: a message's event is published only after its write committed,
// so whatever a client has seen survives a crash.
class Chats {
 public:
  using Done = std::function<void(Status)>;
  // A send's outcome that the asking connection is told itself: nothing (the message's event
  // answers the send; or it was empty), or, for a nonce an earlier send stored its message
  // with, that message as it is now (edited, or deleted: empty content), whose event went
  // out then.
  using Sent = std::function<void(Result<std::optional<ChatMessage>>)>;
  using Loaded = std::function<void(Result<std::vector<ChatMessage>>)>;
  using MarkedRead = std::function<void(Result<int64_t>)>;
  using Summarized = std::function<void(Result<std::vector<ChatSummary>>)>;
  using Searched = std::function<void(Result<SearchPage>)>;
  using CaughtUp = std::function<void(Result<std::vector<ChatCatchUp>>)>;

  Chats(ChatSettings settings, store::Store& store, Directory& directory, EventBus& bus,
        ThreadPool& read_pool, SnowflakeGenerator& ids, const Clock& clock);

  // Sends `content` to the chat. Empty (or all-space) content is ignored: done({}) with no
  // event. Only friends may write to each other. The event carries `origin`. With a nonce
  // (origin.nonce), a message of mine in this chat with the same nonce that is younger than
  // kNonceWindowUs is answered instead of a new one (store::Store::put_message_once).
  void send(const UserView& me, int64_t wire_chat_id, std::string content, RequestOrigin origin,
            Sent done);
  // Replaces the text of my own message; empty content deletes it. The event carries `origin`.
  void edit(const UserView& me, int64_t wire_chat_id, int64_t message_id, std::string content,
            RequestOrigin origin, Done done);
  // I am typing in the chat: a TypingEvent to its other members, never stored. Needs what a
  // send needs (a friendship, a guild's membership) and answers its errors; past the rate of
  // kTypingBurst / kTypingIntervalUs it is dropped (ok, no event).
  Status typing(const UserView& me, int64_t wire_chat_id);
  // The newest `count` messages created before before_us, oldest first. Members of a chat
  // may read its history even after their friendship ended; a pair that never were
  // friends has no chat (kChatNotFound).
  void load(const UserView& me, int64_t wire_chat_id, int64_t before_us, int count, Loaded done);
  // I have read the chat up to message_id (any message of it, even one deleted since): my read
  // mark moves there unless it is there or past it already. Answers the mark as it is now;
  // when it moved, a ReadEvent tells my other connections (not `connection`). Members may
  // mark what they may read (history): a former friend's chat too.
  void mark_read(const UserView& me, uint64_t connection, int64_t wire_chat_id, int64_t message_id,
                 MarkedRead done);
  // My chats as my list shows them: each friend's direct-message chat and each guild's,
  // newest last message first (those without one after, friends before guilds), each with my
  // read mark, the unread count (at most kUnreadCap) and its newest message. Read on the pool.
  void summaries(const UserView& me, Summarized done);
  // My messages' search: the live messages of my chats (every direct-message chat I have,
  // a former friend's too, and my guilds'; or only wire_chat_id, which must be one I may
  // load) whose text has each word of `query` as the start of one of its words, best match
  // first, a page of kSearchPageSize from rank `offset`. The query has 1 to
  // kSearchMaxQueryChars characters and at least one word (kInvalidPayload otherwise); only
  // its first kSearchMaxWords words are looked for. Read on the pool.
  void search(const UserView& me, std::string query, std::optional<int64_t> wire_chat_id,
              int offset, Searched done);
  // What my chats of `since` missed after each position: for each one that is mine (a
  // direct-message chat I have, a former friend's too, or a guild I am in; the others are
  // left out), in the order given, its committed changes after the position, oldest first,
  // and the position they end at. A message deleted among them comes as its deletion only.
  // Past kCatchUpMaxChanges changes, or from a position the chat never reached (a client
  // that knew another store), the chat is to be reloaded instead: no changes, `reload`, and
  // the chat's position. So is every chat once about max_bytes of changes were read (text and
  // a frame's worth of fields each): what is read stays bounded, whatever was asked. Read on
  // the pool, after the caller started receiving the user's events: every change committed
  // before is in the answer or follows it as an event.
  void catch_up(const UserView& me, const std::vector<ChatPosition>& since, size_t max_bytes,
                CaughtUp done);
  // The largest count load() serves; larger requests are capped to it.
  int history_limit() const { return settings_.history_max_count; }

  // Several nodes share it (broker/cluster_limits.h): sends per user.
  RateLimiter& send_limiter() { return send_limit_; }

 private:
  struct Resolved {
    int64_t other_id = 0;            // direct messages only
    std::optional<int64_t> chat_id;  // none until the pair first became friends
    bool guild = false;
    std::vector<int64_t> recipients;  // every member, me included
  };
  Result<Resolved> resolve(const UserView& me, int64_t wire_chat_id) const;
  // resolve(), and a direct message needs the pair to be friends (kNotFriends): what sending
  // and typing need.
  Result<Resolved> writable(const UserView& me, int64_t wire_chat_id) const;
  Status check_rate(const UserView& me);
  // Who receives a committed message event: a guild's members at that moment (so a member
  // removed meanwhile gets nothing more), the author included; a pair's two members.
  std::vector<int64_t> recipients_now(const UserView& me, const Resolved& chat,
                                      int64_t wire_chat_id) const;

  const ChatSettings settings_;
  store::Store& store_;
  Directory& directory_;
  EventBus& bus_;
  ThreadPool& read_pool_;
  SnowflakeGenerator& ids_;
  const Clock& clock_;
  RateLimiter send_limit_;
  RateLimiter typing_limit_{kTypingBurst, kTypingBurst* kTypingIntervalUs};  // user and chat
  // Stamps a message (id, time) and submits its write as one step, so the writer's order,
  // which is the order events go out, is also the order of ids and times, which history uses.
  std::mutex send_mu_;
};

}  // namespace rwd::domain
