#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "log/logging.h"

// The access log: one record per HTTP request answered and one per WebSocket closed, written
// by the logger "access" (logging.h sets it up; until then, or with --access-log false, these
// do nothing). Fields are structured: in JSON each is a member of the record's object, in text
// `name=value` pairs (strings quoted and escaped as in JSON, so a record stays on one line).
// Nothing secret is passed in: the caller gives the target with its secrets removed
// (http/loggable_target.h) and never a header, a body or a token.
namespace rwd::log {

struct HttpAccess {
  std::string_view method;  // "-" when the request could not be parsed
  std::string_view target;  // path and query, secrets removed
  std::string_view client;  // the client's address (after X-Forwarded-For from a trusted proxy)
  int status = 0;
  uint64_t request_bytes = 0;   // header and body as read
  uint64_t response_bytes = 0;  // header and body as written (0 if the write failed)
  int64_t duration_us = 0;      // from the request read to its answer written
};

struct WsAccess {
  std::string_view client;
  int protocol_version = 1;   // the gateway protocol (?v=)
  int close_code = 0;         // the code of the close frame sent or received; 1006 for none
  std::string_view close_by;  // "server", "client", or "none" (the socket ended without one)
  // The server cut the socket before the close handshake was done (a close grace or the close
  // frame's backstop ran out): the peer got no close frame, or no answer to its own.
  bool cut = false;
  int64_t duration_us = 0;  // from the upgrade request read to the socket closed
  uint64_t bytes_in = 0;    // message payload bytes, each way
  uint64_t bytes_out = 0;
  uint64_t frames_in = 0;  // messages, each way
  uint64_t frames_out = 0;
};

// Whether records are written: checked before gathering the fields of one.
bool access_log_enabled();

void log_http_access(const HttpAccess& access);
void log_ws_access(const WsAccess& access);

// The payload of a record in `format` (exposed for tests).
std::string format_http_access(const HttpAccess& access, LogFormat format);
std::string format_ws_access(const WsAccess& access, LogFormat format);

}  // namespace rwd::log
