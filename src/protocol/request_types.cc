#include "protocol/request_types.h"

#include <iterator>
#include <type_traits>
#include <utility>
#include <variant>

#include "protocol/request_decoders.h"

namespace rwd::protocol {

namespace {

// The index of T among Request's alternatives; variant_size when T is not one.
template <typename T, size_t I = 0>
constexpr size_t alternative_index() {
  if constexpr (I == std::variant_size_v<Request>)
    return I;
  else if constexpr (std::is_same_v<std::variant_alternative_t<I, Request>, T>)
    return I;
  else
    return alternative_index<T, I + 1>();
}

template <typename T, Result<T> (*decode)(const FrameParts&)>
Result<Request> decode_as_request(const FrameParts& frame) {
  auto r = decode(frame);
  if (!r.ok()) return r.error();
  return Request(std::move(r).value());
}

// A row for T: its decoder must return a T, so a row cannot decode into another type.
template <typename T, Result<T> (*decode)(const FrameParts&)>
constexpr RequestType row(std::string_view name, std::string_view kind, Versions versions,
                          bool needs_auth) {
  static_assert(alternative_index<T>() < std::variant_size_v<Request>,
                "not an alternative of Request");
  return {name, kind, versions, needs_auth, &decode_as_request<T, decode>, alternative_index<T>()};
}

constexpr Versions kBoth{.v1 = true, .v2 = true};
// v1 is the published app's protocol, which has no guilds: it answers these frames as it did
// before they existed.
constexpr Versions kV2Only{.v1 = false, .v2 = true};

constexpr RequestType kRequestTypes[] = {
    row<HeartbeatRequest, decode_heartbeat>("heartbeat", "", kBoth, false),
    row<AuthRequest, decode_auth>("auth", "", kBoth, false),
    row<ChatRequest, decode_chat>("chat", "", kBoth, true),
    row<LoadChatRequest, decode_load_chat>("load", "chat", kBoth, true),
    row<LoadFriendsRequest, decode_load_friends>("load", "mutual_users", kBoth, true),
    row<FriendRequest, decode_friend>("mutual_users", "", kBoth, true),
    row<GuildRequest, decode_guild>("guild", "", kV2Only, true),
    row<LoadGuildsRequest, decode_load_guilds>("load", "guilds", kBoth, true),
    row<LoadGuildMembersRequest, decode_load_guild_members>("load", "guild_members", kV2Only, true),
    row<BlockRequest, decode_block>("block", "", kV2Only, true),
    row<LoadBlockedRequest, decode_load_blocked>("load", "blocked_users", kV2Only, true),
    row<TypingRequest, decode_typing>("typing", "", kV2Only, true),
    row<ReadRequest, decode_read>("read", "", kV2Only, true),
    row<LoadChatsRequest, decode_load_chats>("load", "chats", kV2Only, true),
    row<PresenceRequest, decode_presence>("presence", "", kV2Only, true),
    row<SearchRequest, decode_search>("search", "", kV2Only, true),
};

static_assert(std::size(kRequestTypes) == std::variant_size_v<Request>,
              "every alternative of Request needs exactly one row");

constexpr bool rows_in_variant_order() {
  for (size_t i = 0; i < std::size(kRequestTypes); ++i)
    if (kRequestTypes[i].alternative != i) return false;
  return true;
}
static_assert(rows_in_variant_order(), "row i must describe Request's i-th alternative");

// A name is either one type (no kind) or several told apart by distinct kinds.
constexpr bool names_are_unambiguous() {
  for (const auto& a : kRequestTypes)
    for (const auto& b : kRequestTypes)
      if (&a != &b && a.name == b.name && (a.kind.empty() || b.kind.empty() || a.kind == b.kind))
        return false;
  return true;
}
static_assert(names_are_unambiguous(), "two rows answer to the same frame");

}  // namespace

std::span<const RequestType> request_types() { return kRequestTypes; }

const RequestType& request_type(const Request& request) { return kRequestTypes[request.index()]; }

const char* request_type_name(const Request& request) {
  return request_type(request).name.data();  // each name is a string literal
}

}  // namespace rwd::protocol
