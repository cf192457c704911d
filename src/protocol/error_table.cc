#include "protocol/error_table.h"

namespace rwd::protocol {

namespace {

constexpr ErrorInfo kErrors[] = {
    {Errc::kBadRequest, 400, "bad_request", "4030", "the request body could not be read."},
    {Errc::kInvalidName, 400, "invalid_name", "4031", "name is not valid."},
    {Errc::kInvalidEmail, 400, "invalid_email", "4032", "email address is not valid."},
    {Errc::kInvalidPassword, 400, "invalid_password", "4033", "password is not valid."},
    {Errc::kNameTaken, 409, "name_taken", "4034", "this name is already taken."},
    {Errc::kInvalidCredentials, 401, "invalid_credentials", "4035",
     "email or password is incorrect."},
    {Errc::kEmailNotVerified, 403, "email_not_verified", "4036",
     "this email address is not verified yet: open the link in the mail we sent."},
    {Errc::kAccountDisabled, 403, "account_disabled", "4044",
     "this account has been disabled by an operator."},
    {Errc::kLinkInvalid, 410, "link_invalid", "4037",
     "this verification link is invalid, already used or expired."},
    {Errc::kRateLimited, 429, "rate_limited", "4029", "too many requests; try again later."},
    {Errc::kPayloadTooLarge, 413, "payload_too_large", "4038", "the request body is too large."},
    {Errc::kHeadersTooLarge, 431, "headers_too_large", "4039",
     "the request headers are too large."},
    {Errc::kRouteNotFound, 404, "not_found", "4040", "no such endpoint."},
    {Errc::kMethodNotAllowed, 405, "method_not_allowed", "4041",
     "this method is not allowed on this endpoint."},
    {Errc::kForbiddenOrigin, 403, "forbidden_origin", "4042", "this origin is not allowed."},
    {Errc::kUnauthorized, 401, "unauthorized", "4043", "a valid bearer token is required."},
    {Errc::kSessionNotFound, 404, "session_not_found", "4045",
     "this user has no live session with that id."},
    {Errc::kInvalidToken, 401, "invalid_token", "4000", "the token is not valid."},
    {Errc::kMalformedFrame, 400, "malformed_frame", "4001",
     "a frame must be a JSON object {\"type\": string, \"payload\": any}."},
    {Errc::kUnknownType, 400, "unknown_type", "4002", "unknown type."},
    {Errc::kInvalidPayload, 400, "invalid_payload", "4003",
     "the payload is missing fields or has wrong types."},
    {Errc::kBinaryFrame, 400, "binary_frame", "4004",
     "binary frames are not supported; send text."},
    {Errc::kPendingQueueFull, 429, "pending_queue_full", "4005",
     "too many requests before auth; this one was dropped."},
    {Errc::kAlreadyAuthenticated, 409, "already_authenticated", "4006",
     "this connection is authenticated as another user."},
    {Errc::kUserNotFound, 404, "user_not_found", "4010", "no user has that name."},
    {Errc::kSelfTarget, 400, "self_target", "4011", "you cannot do that to yourself."},
    {Errc::kAlreadyFriends, 409, "already_friends", "4012", "you are already friends."},
    {Errc::kAlreadyRequested, 409, "already_requested", "4013",
     "you have already asked this user."},
    // The published app matches this exact text.
    {Errc::kNotRequested, 404, "not_requested", "4014", "targeted name was not requested."},
    {Errc::kNotFriends, 403, "not_friends", "4015", "you are not friends with this user."},
    {Errc::kUserBlocked, 409, "user_blocked", "4016", "you blocked this user: unblock them first."},
    {Errc::kChatNotFound, 404, "chat_not_found", "4020", "no such chat, or you are not a member."},
    {Errc::kMessageNotFound, 404, "message_not_found", "4021",
     "no such message of yours in this chat."},
    {Errc::kContentTooLong, 400, "content_too_long", "4022", "the message is too long."},
    {Errc::kInvalidContent, 400, "invalid_content", "4023", "the message text is not valid."},
    {Errc::kInvalidCursor, 400, "invalid_cursor", "4024",
     "datetime must be base64 of a date-time like 2026-3-7 09:05:01.4000."},
    {Errc::kGuildNotFound, 404, "guild_not_found", "4050",
     "no such guild, or you are not a member."},
    {Errc::kNotGuildOwner, 403, "not_guild_owner", "4051", "only the guild's owner may do that."},
    {Errc::kGuildFull, 409, "guild_full", "4052", "the guild is full."},
    {Errc::kAlreadyMember, 409, "already_member", "4053", "already a member of this guild."},
    {Errc::kInvalidGuildName, 400, "invalid_guild_name", "4054",
     "a guild name is 1 to 64 characters, without control characters."},
    {Errc::kStorageUnavailable, 503, "storage_unavailable", "5031",
     "the server cannot store this right now; nothing was saved. Try again later."},
    {Errc::kOverloaded, 503, "overloaded", "5003", "the server is busy; try again."},
    {Errc::kInternal, 500, "internal", "5000", "internal server error."},
};

constexpr CloseInfo kCloses[] = {
    {CloseCode::kNormal, "normal closure"},
    {CloseCode::kGoingAway, "server shutting down"},
    {CloseCode::kProtocolError, "websocket protocol error"},
    {CloseCode::kInvalidData, "invalid UTF-8 in a text frame"},
    {CloseCode::kMessageTooBig, "message too big"},
    {CloseCode::kHeartbeatTimeout, "heartbeat timeout"},
    {CloseCode::kAuthBeforeHeartbeat, "auth before heartbeat"},
    {CloseCode::kAuthTimeout, "not authenticated in time"},
    {CloseCode::kTooManyInvalidFrames, "too many invalid frames"},
    {CloseCode::kRateLimited, "rate limit exceeded"},
    {CloseCode::kSlowConsumer, "too slow reading"},
    {CloseCode::kTooManySessions, "too many sessions for this user"},
    {CloseCode::kTooManyConnections, "too many connections from this address"},
    {CloseCode::kTokenRevoked, "token revoked"},
    {CloseCode::kInternalError, "internal error"},
    {CloseCode::kAccountDisabled, "account disabled by an operator"},
    {CloseCode::kAccountDeleted, "account deleted"},
};

}  // namespace

const ErrorInfo& error_info(Errc code) {
  for (const ErrorInfo& e : kErrors)
    if (e.code == code) return e;
  return kErrors[std::size(kErrors) - 1];  // kInternal
}

std::string_view public_reason(const Error& e) {
  if (e.detail.empty() || withholds_detail(e)) return error_info(e.code).message;
  return e.detail;
}

std::span<const ErrorInfo> all_errors() { return kErrors; }
std::span<const CloseInfo> all_close_codes() { return kCloses; }

const char* close_reason(CloseCode code) {
  for (const CloseInfo& c : kCloses)
    if (c.code == code) return c.reason;
  return "";
}

}  // namespace rwd::protocol
