#pragma once

#include "base/error.h"
#include "protocol/gateway_codec.h"
#include "protocol/request_types.h"

// The decoder of each request type, for the registry's rows (request_types.cc); callers
// decode through decode_frame. Each reads the payload of a frame whose type (and kind) named
// it; the decoders of a kind are called only once the payload is known to be an object.
namespace rwd::protocol {

Result<HeartbeatRequest> decode_heartbeat(const FrameParts& frame);
Result<AuthRequest> decode_auth(const FrameParts& frame);
Result<ChatRequest> decode_chat(const FrameParts& frame);
Result<FriendRequest> decode_friend(const FrameParts& frame);
Result<GuildRequest> decode_guild(const FrameParts& frame);
Result<LoadChatRequest> decode_load_chat(const FrameParts& frame);
Result<LoadFriendsRequest> decode_load_friends(const FrameParts& frame);
Result<LoadGuildsRequest> decode_load_guilds(const FrameParts& frame);
Result<LoadGuildMembersRequest> decode_load_guild_members(const FrameParts& frame);
Result<BlockRequest> decode_block(const FrameParts& frame);
Result<LoadBlockedRequest> decode_load_blocked(const FrameParts& frame);
Result<TypingRequest> decode_typing(const FrameParts& frame);
Result<ReadRequest> decode_read(const FrameParts& frame);
Result<LoadChatsRequest> decode_load_chats(const FrameParts& frame);
Result<SearchRequest> decode_search(const FrameParts& frame);
Result<PresenceRequest> decode_presence(const FrameParts& frame);

}  // namespace rwd::protocol
