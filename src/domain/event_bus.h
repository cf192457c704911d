#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "domain/types.h"

// The seam between the domain and the gateway. Domain services publish what happened,
// after it was committed; the gateway hub subscribes and delivers to connections. Today
// one process delivers to itself (InProcessEventBus); with several processes the cluster bus
// (cluster/cluster_event_bus.h) also publishes to the other processes through a broker and
// calls its local subscribers with what they publish.
namespace rwd::domain {

struct ChatEvent {
  ChatAction action = ChatAction::kSend;
  ChatMessage message;  // message.seq: this change's seq in the stored chat
  // The stored chat (a direct-message chat's wire id is not its id): with message.seq, what
  // tells a process receiving events from others that it missed one (store::Store's
  // load_chat_changes replays the gap).
  int64_t chat_id = 0;
  std::vector<int64_t> recipients;  // user ids: every member of the chat, author included
  // A guild chat's event: only clients that know guilds (v2) may receive it.
  bool guild = false;
  // The request that caused it: its connection gets the event with the request's id.
  RequestOrigin origin;
};

// A committed friend operation. The target's connections are told what the actor did; the
// actor's other connections (not the one that asked, which is answered on its own) are told
// too, so every device of the actor shows the change at once. `action` is what happened
// (kResponse when a request crossed theirs and made us friends).
struct FriendEvent {
  FriendAction action = FriendAction::kRequest;
  UserView target;  // whom it was about
  UserView actor;   // who did it
  // The connection that asked (Social's caller names it; 0: none): skipped when the actor's
  // connections are told. Unique within one process: a bus between processes delivers
  // another process's event with 0 here.
  uint64_t origin = 0;
  // Which sides this delivery tells. Both, in one process; a bus between processes delivers
  // each side from that user's own channel, so that a process holding both users' sessions
  // tells each side once.
  bool tell_target = true;
  bool tell_actor = true;
};

// A committed guild change. `guild` is the guild after the change (before it, for a
// deletion), without its members: an event's size does not grow with the guild. Recipients
// are its members after the change, plus the member who left or was removed.
struct GuildEvent {
  GuildAction action = GuildAction::kCreated;
  GuildSummary guild;
  UserView user;   // the member who joined or left; otherwise the actor (for kCreated, the
                   // creator, who is the only member)
  UserView actor;  // who did it
  std::optional<UserView> new_owner;  // kLeft: whom the guild passed to, when the owner left
  std::vector<int64_t> recipients;
  // The request that caused it: its connection gets the event with the request's id.
  RequestOrigin origin;
};

// Why sessions end on a TokenRevokedEvent.
enum class RevokeReason {
  kToken,            // one token was revoked (a logout, an operator's revocation): close 4108
  kAccountDisabled,  // an operator disabled the account: every session of the user, 4110
  kAccountDeleted,   // the account was deleted: every session of the user, 4111
};

// A login token was revoked (logout, or an operator's revocation of it): sessions opened with
// it must end. For kAccountDisabled and kAccountDeleted, token_hash is empty and every session of
// user_id ends (all its tokens were revoked in the same commit).
struct TokenRevokedEvent {
  int64_t user_id = 0;
  std::string token_hash;
  RevokeReason reason = RevokeReason::kToken;
};

// Someone is typing in a chat: ephemeral (never stored), to the other members' v2 connections
// only, and shown by them until it expires (kTypingShownS) or the typer's message arrives.
struct TypingEvent {
  int64_t wire_chat_id = 0;         // a guild's id, or the pair's XOR (the same for both members)
  int64_t user_id = 0;              // who is typing
  std::vector<int64_t> recipients;  // the chat's other members
  bool guild = false;
};

// I moved my read mark in a chat (Chats::mark_read): my other v2 connections move theirs.
// The connection that asked is answered on its own.
struct ReadEvent {
  int64_t user_id = 0;
  int64_t wire_chat_id = 0;
  int64_t message_id = 0;  // the mark: the newest message read
  // The connection that asked (0: none), skipped. Unique within one process: a bus between
  // processes delivers another process's event with 0 here.
  uint64_t origin = 0;
};

// What user_id's friends see of their presence may have changed (they turned it on or off):
// the friends' connections are told the state as it is now.
struct PresenceEvent {
  int64_t user_id = 0;
  std::vector<int64_t> recipients;  // the user's friends
};

using Event = std::variant<ChatEvent, FriendEvent, GuildEvent, TokenRevokedEvent, TypingEvent,
                           ReadEvent, PresenceEvent>;

class EventBus {
 public:
  virtual ~EventBus() = default;
  // Called from any thread. Subscribers must not block.
  virtual void publish(const Event& event) = 0;
  // Subscribe before the first publish (start-up); subscriptions live as long as the bus.
  virtual void subscribe(std::function<void(const Event&)> handler) = 0;
  // The gateway's interest in a user's events: watch_user when the user's first session on
  // this process opens, unwatch_user after the last one closed. Called in that order for one
  // user (the hub calls them under its lock), from any thread; must not block nor call back
  // into the hub. A bus between processes receives only the events of watched users (and
  // of the guilds they belong to); one process receives everything anyway.
  virtual void watch_user(int64_t user_id) {}
  virtual void unwatch_user(int64_t user_id) {}
  // After watch_user: whether this process receives the user's events now. True: it does
  // (one process always does), and `ready` is not called. False: `ready` will be called
  // once, on any thread, when it does, or when the bus gave up waiting (its bound passed, or
  // it stopped); it must not block nor call back into the bus. Any thread.
  virtual bool when_receiving(int64_t user_id, std::function<void()> ready) { return true; }
};

class InProcessEventBus final : public EventBus {
 public:
  void publish(const Event& event) override;
  void subscribe(std::function<void(const Event&)> handler) override;
  void watch_user(int64_t) override {}
  void unwatch_user(int64_t) override {}

 private:
  std::vector<std::function<void(const Event&)>> handlers_;  // fixed after start-up
};

}  // namespace rwd::domain
