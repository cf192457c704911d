#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/error.h"
#include "domain/types.h"

// Frames of the WebSocket gateway: decoding requests and encoding responses and events,
// for both protocol versions. Which request types exist, their names on the wire, the
// versions that accept them and whether they wait for auth are rows of request_types.h.
// Implemented in request_decoders.cc (with payload_copier.cc for heartbeats) and
// frame_encoders.cc, the only gateway files that include the JSON library.
namespace rwd::protocol {

// v1: what the published app speaks at /ws. v2: /ws?v=2, the same messages with clean
// arrays in the auth response, plus a completion frame after history loads.
enum class Version { kV1 = 1, kV2 = 2 };

inline constexpr int kMaxJsonDepth = 16;

struct HeartbeatRequest {
  std::string payload_json;  // the payload, re-serialized: echoed back as the same value
};
// The most chats a v2 auth's `since` may name: more than a chat list shows at once.
inline constexpr size_t kMaxCatchUpChats = 1000;

struct AuthRequest {
  std::string token;
  // v2: the position last seen in each chat the client holds (docs/PROTOCOL.md, "Catch-up");
  // none: no catch-up asked.
  std::optional<std::vector<domain::ChatPosition>> since;
};
struct ChatRequest {
  domain::ChatAction action;
  int64_t chat_id;
  int64_t message_id;  // edit only
  std::string content;
  std::string nonce;  // v2 send only; empty: none
};
struct LoadChatRequest {
  int64_t chat_id;
  std::string datetime_b64;
  int count;
};
struct LoadFriendsRequest {};
struct FriendRequest {
  domain::FriendAction action;
  std::string name;
};

// v2 only (v1 answers kUnknownType): `guild` operations.
enum class GuildOp { kCreate, kRename, kAdd, kRemove, kLeave, kDelete };
struct GuildRequest {
  GuildOp op;
  int64_t guild_id = 0;  // all but create
  std::string name;      // create, rename: the guild's name; add, remove: a user's name
};
// Both versions: `load {"type":"guilds"}`.
struct LoadGuildsRequest {};
// v2 only (v1 answers as before it existed): `load {"type":"guild_members","guild_id":...}`.
struct LoadGuildMembersRequest {
  int64_t guild_id = 0;
};

// v2 only (v1 answers kUnknownType): `block {"type":"block"|"unblock","name":...}`.
struct BlockRequest {
  bool block = true;  // false: unblock
  std::string name;
};
// v2 only (v1 answers as before it existed): `load {"type":"blocked_users"}`.
struct LoadBlockedRequest {};
// v2 only (v1 answers kUnknownType): `typing {"chat_id":...}`, I am typing in that chat.
struct TypingRequest {
  int64_t chat_id = 0;
};

// v2 only (v1 answers kUnknownType): `read {"chat_id":...,"message_id":...}`, I have read
// the chat up to that message.
struct ReadRequest {
  int64_t chat_id = 0;
  int64_t message_id = 0;
};
// v2 only (v1 answers as before it existed): `load {"type":"chats"}`, my chats' summaries.
struct LoadChatsRequest {};
// v2 only (v1 answers kUnknownType): `presence {"visible":true|false}`, whether my friends
// see when I am online.
struct PresenceRequest {
  bool visible = true;
};

// v2 only (v1 answers kUnknownType): `search {"query":...,"chat_id"?:...,"offset"?:...}`,
// my messages that have the query's words; chat_id (absent: all my chats) narrows it to one.
struct SearchRequest {
  std::string query;
  std::optional<int64_t> chat_id;
  int offset = 0;  // absent: 0; larger than any page is clamped here, refused by the domain
};

// A new alternative needs its row in request_types.cc, which does not compile without it.
using Request =
    std::variant<HeartbeatRequest, AuthRequest, ChatRequest, LoadChatRequest, LoadFriendsRequest,
                 FriendRequest, GuildRequest, LoadGuildsRequest, LoadGuildMembersRequest,
                 BlockRequest, LoadBlockedRequest, TypingRequest, ReadRequest, LoadChatsRequest,
                 PresenceRequest, SearchRequest>;

// v2: the id a client may give a request, at the frame's top level next to `type` and
// `payload` ("request_id": 1 to 64 printable ASCII characters). Every frame that answers the
// request carries it back (with_request_id); v1 never reads it.
inline constexpr size_t kMaxRequestIdLength = 64;

// A decoded frame: its request, or why it was refused, and the request id to answer with
// (empty when the frame has none, gave an invalid one, is v1, or is not a JSON object
// without repeated keys).
struct DecodedFrame {
  std::string request_id;
  Result<Request> request;
};

// Decodes one text frame of the given protocol version. Errors: kMalformedFrame (not JSON,
// not an object, no string "type", nesting deeper than kMaxJsonDepth, a key repeated in the
// frame or its payload object), kUnknownType (also a type the version does not accept,
// such as `guild` on v1), kInvalidPayload (a required field missing, null or of the wrong
// type, a load kind the version does not accept; detail names the field; on v2 also a
// request_id that is not a string of 1 to kMaxRequestIdLength printable ASCII characters,
// checked after the frame's type is known to be a string). The rule of each field is the
// "Request fields" table of docs/PROTOCOL.md. Empty strings are values: what "" means is
// decided by the request's own rule, and a request that decodes carries every field its type
// needs.
DecodedFrame decode_frame(std::string_view frame, Version version);
// decode_frame's request alone.
Result<Request> decode_request(std::string_view frame, Version version);

// An encoded frame with the request id of the request it answers added at its top level;
// unchanged when request_id is empty (always so on v1).
std::string with_request_id(std::string frame, std::string_view request_id);
// A v2 chat frame (encode_chat) with the send's nonce added as the last field of its payload;
// unchanged when nonce is empty. Before with_request_id, which appends after the payload.
std::string with_nonce(std::string frame, std::string_view nonce);

// The name of a request's type, for logs and error context.
const char* request_type_name(const Request& request);

std::string encode_heartbeat(const std::string& payload_json);
std::string encode_ok();
// reason empty: the table's default text. retry_after_ms > 0 adds "retry_after" (seconds).
std::string encode_error(Errc code, std::string_view reason = {}, int64_t retry_after_ms = 0);
// What v2's auth answer adds to v1's, beyond the friend state.
struct AuthExtras {
  std::vector<domain::GuildSummary> guilds;                 // `guilds`, as summaries
  const std::vector<domain::ChatSummary>* chats = nullptr;  // `chats`; null: not read
  std::vector<int64_t> online;                              // `online`: friends shown online
  bool show_presence = true;                                // `show_presence`: my own setting
  int utc_offset_s = 0;
};
// v2 adds AuthExtras; v1's response never changes.
std::string encode_auth(Version v, const domain::UserView& self, const domain::FriendState& state,
                        const AuthExtras& extras = {});
std::string encode_friend_list(const std::vector<domain::UserView>& friends);
// To the target of a friend operation (both versions): `user` is the actor. With `self`
// (v2 only), to the actor's other connections: `user` is the target, and "self":true marks
// the event as the reader's own action.
std::string encode_friend_event(domain::FriendAction action, const domain::UserView& user,
                                bool self = false);
// v2 adds "edited_at": the last edit's time in created_at's format, null when never edited.
// v1's event never changes.
std::string encode_chat(Version v, domain::ChatAction action, const domain::ChatMessage& message,
                        int utc_offset_s);
// v2's frame of a chat change (a live event, a catch-up's replay): encode_chat's v2 frame with
// "seq", the change's place in its chat, after edited_at.
std::string encode_chat_change(domain::ChatAction action, const domain::ChatMessage& message,
                               int utc_offset_s);
// v2 only: the end of a catch-up (after the auth answer and the changes replayed): each chat
// asked that is mine, with the position it is now at and whether to reload it; chats null:
// the store could not be read, and every chat asked is to be reloaded.
std::string encode_catch_up(const std::vector<domain::ChatCatchUp>* chats);
// v2 only: a guild event. Its size does not depend on the guild's: the guild is a summary
// (with "members":[user] for kCreated, the creator being the only member), and new_owner is
// written only when given (kLeft, the owner left).
std::string encode_guild_event(domain::GuildAction action, const domain::GuildSummary& guild,
                               const domain::UserView& user, const domain::UserView& actor,
                               const std::optional<domain::UserView>& new_owner = std::nullopt);
// v1's answer to `load guilds`: each guild with its members (unchanged since v1 had it).
std::string encode_guild_list(const std::vector<domain::GuildView>& guilds);
// v2's answer to `load guilds`: summaries; members come from `load guild_members`.
std::string encode_guild_summaries(const std::vector<domain::GuildSummary>& guilds);
// v2's answer to `load guild_members`: one frame with every member (at most the guild's
// member cap).
std::string encode_guild_members(const domain::GuildView& guild);
// v2's answer to `load blocked_users`: the users I block, oldest block first.
std::string encode_blocked_users(const std::vector<domain::UserView>& users);
// v2 only: user_id is typing in wire_chat_id (a guild's id, or the pair's XOR) and is shown
// so for expires_in_s seconds unless another comes (or their message).
std::string encode_typing(int64_t wire_chat_id, int64_t user_id, int expires_in_s);
// v2 only: whether user_id shows as online to the friend who receives it.
std::string encode_presence(int64_t user_id, bool online);
// v2 only: my read mark in wire_chat_id, the answer to `read` and the event that tells my
// other connections.
std::string encode_read(int64_t wire_chat_id, int64_t message_id);
// v2's answer to `load chats`: each chat's read mark, unread count and newest message.
std::string encode_chat_summaries(const std::vector<domain::ChatSummary>& chats, int utc_offset_s);
// v2's answer to `search`: a page of results (chat payloads as events carry them), best
// first, the offset it starts at and whether more follow.
std::string encode_search_results(const domain::SearchPage& page, int offset, int utc_offset_s);
// v2 only: sent after the chat events of a history load.
std::string encode_load_complete(int64_t chat_id, size_t count, bool more);

// Decodes a load cursor: base64 of a local date-time (SPEC §2 formats) in the given offset.
// Returns unix microseconds, or kInvalidCursor.
Result<int64_t> decode_cursor(std::string_view datetime_b64, int utc_offset_s);

}  // namespace rwd::protocol
