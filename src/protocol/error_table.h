#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "base/error.h"

// The one table of failures: every Errc's HTTP status, machine code, gateway code and
// default human text, and every WebSocket close code the server uses. docs/PROTOCOL.md
// lists all of them; error_table_test checks that it does.
namespace rwd::protocol {

struct ErrorInfo {
  Errc code;
  int http_status;
  const char* http_code;     // payload.code of an HTTP error
  const char* gateway_code;  // payload.code of a gateway error frame ("4000" ...)
  const char* message;       // default human text (HTTP message, gateway reason)
};

const ErrorInfo& error_info(Errc code);
// The text a client may read for an error: its detail, except where the detail is the
// server's own business (an internal error's detail can hold a database message), and then
// the table's text. The caller logs what it withholds.
std::string_view public_reason(const Error& error);
inline bool withholds_detail(const Error& error) { return error.code == Errc::kInternal; }
std::span<const ErrorInfo> all_errors();

// WebSocket close codes (RFC 6455 range 1000-1015, ours 4100-4199).
enum class CloseCode : uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,         // server shutting down
  kProtocolError = 1002,     // WebSocket framing violation
  kInvalidData = 1007,       // text frame with invalid UTF-8
  kMessageTooBig = 1009,     // message over --max-message-bytes
  kHeartbeatTimeout = 4100,  // no heartbeat within --heartbeat-timeout
  kAuthBeforeHeartbeat = 4101,
  kAuthTimeout = 4102,  // not authenticated within --auth-timeout
  kTooManyInvalidFrames = 4103,
  kRateLimited = 4104,         // kept sending past the rate limit
  kSlowConsumer = 4105,        // outgoing queue passed --send-queue-bytes
  kTooManySessions = 4106,     // user has --max-sessions-per-user open
  kTooManyConnections = 4107,  // address has --max-connections-per-address open
  kTokenRevoked = 4108,        // the token this session authenticated with was revoked
  kInternalError = 4109,       // last resort: a bug closed this session only
  kAccountDisabled = 4110,     // an operator disabled the user's account: all its sessions end
  kAccountDeleted = 4111,      // the user's account was deleted: all its sessions end
};

struct CloseInfo {
  CloseCode code;
  const char* reason;
};

std::span<const CloseInfo> all_close_codes();
const char* close_reason(CloseCode code);

}  // namespace rwd::protocol
