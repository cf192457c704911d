// The Router's endpoints for one's own sessions (router.h): list them, revoke one.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <vector>

#include "base/time_format.h"
#include "http/request_fields.h"
#include "http/router.h"

namespace rwd::http {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

Response sessions_response(const std::vector<domain::SessionInfo>& sessions) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  put(w, "type", "sessions");
  w.Key("payload");
  w.StartObject();
  w.Key("sessions");
  w.StartArray();
  for (const auto& s : sessions) {
    w.StartObject();
    put(w, "id", s.id);
    put(w, "created", format_utc_rfc3339(s.created_us));
    put(w, "last_seen", format_utc_rfc3339(s.last_seen_us));
    put(w, "expires", format_utc_rfc3339(s.expires_us));
    put(w, "client", s.client);
    w.Key("current");
    w.Bool(s.current);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  Response r;
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

// The token of the request; an answer was sent when there is none.
std::optional<std::string> caller_token(const Request& req, const Respond& respond) {
  std::optional<std::string> token = bearer_token(req.authorization);
  if (token && !token->empty()) return token;
  Response r = Router::error_response(Errc::kUnauthorized);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  respond(std::move(r));
  return std::nullopt;
}

// A token that is not live is answered as a missing one: these routes are the HTTP API's,
// where invalid_token (the gateway's "log out" code 4000) has no place.
Error over_http(Error e) {
  if (e.code == Errc::kInvalidToken) return Error{Errc::kUnauthorized, {}};
  return e;
}

}  // namespace

void Router::get_sessions(const Request& req, Respond respond) {
  std::optional<std::string> token = caller_token(req, respond);
  if (!token) return;
  if (over_limit(sessions_limit_, req, respond)) return;
  accounts_.my_sessions(std::move(*token), [respond](Result<std::vector<domain::SessionInfo>> r) {
    if (!r.ok()) return respond(error_response(over_http(r.error())));
    respond(sessions_response(r.value()));
  });
}

void Router::delete_session(const Request& req, std::string_view session_id, Respond respond) {
  std::optional<std::string> token = caller_token(req, respond);
  if (!token) return;
  if (over_limit(sessions_limit_, req, respond)) return;
  if (!domain::Accounts::is_session_id(session_id))
    return respond(
        error_response(Error{Errc::kBadRequest, "a session id is 16 lower-case hex digits."}));
  accounts_.revoke_my_session(std::move(*token), std::string(session_id), [respond](Status s) {
    if (!s.ok()) return respond(error_response(over_http(s.error())));
    Response r;
    r.status = 204;
    r.content_type.clear();
    respond(std::move(r));
  });
}

}  // namespace rwd::http
