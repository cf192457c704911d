// The password endpoints of the Router (router.h): reset by mail, and change while logged in.
#include <optional>

#include "http/language.h"
#include "http/request_fields.h"
#include "http/router.h"
#include "metrics/counters.h"
#include "protocol/body_decoder.h"

namespace rwd::http {

// Whatever the email, the same 202 and the same message (or the same error): the answer never
// tells whether it has an account.
void Router::post_password_reset(const Request& req, Respond respond) {
  if (over_limit(reset_limit_, req, respond)) return;
  auto fields = protocol::decode_body(req.content_type, req.body);
  if (!fields.ok()) return respond(error_response(fields.error()));
  auto get = [&](const char* k) { return field_or_empty(*fields, k); };
  domain::Language language = choose_language(req.accept_language, get("lang"));
  Status s = accounts_.request_password_reset(get("email"), language);
  if (!s.ok()) {
    if (s.error().code == Errc::kRateLimited)
      metrics::count_rate_limited(metrics::RateScope::kHttpPasswordReset);
    return respond(error_response(s.error()));
  }
  respond(info_response(
      202, "if an account has this email, a link to choose a new password was mailed to it."));
}

void Router::post_password_reset_confirm(const Request& req, Respond respond) {
  if (over_limit(reset_limit_, req, respond)) return;
  auto fields = protocol::decode_body(req.content_type, req.body);
  if (!fields.ok()) return respond(error_response(fields.error()));
  auto get = [&](const char* k) { return field_or_empty(*fields, k); };
  accounts_.reset_password(get("key"), get("new_password"), [respond](Status s) {
    if (!s.ok()) return respond(error_response(s.error()));
    respond(info_response(200, "password changed."));
  });
}

void Router::post_password_change(const Request& req, Respond respond) {
  std::optional<std::string> token = bearer_token(req.authorization);
  if (!token || token->empty()) return respond(error_response(Errc::kUnauthorized));
  // Each attempt checks a password, as a login does: counted against the same limit.
  if (over_limit(login_limit_, req, respond)) return;
  auto fields = protocol::decode_body(req.content_type, req.body);
  if (!fields.ok()) return respond(error_response(fields.error()));
  auto get = [&](const char* k) { return field_or_empty(*fields, k); };
  accounts_.change_password(std::move(*token), get("current_password"), get("new_password"),
                            [respond](Status s) {
                              if (!s.ok()) return respond(error_response(s.error()));
                              respond(info_response(200, "password changed."));
                            });
}

// As password_change: the password is checked on the hashing pool, each attempt counted as a
// login. The answer comes after the deletion committed.
void Router::post_delete_account(const Request& req, Respond respond) {
  std::optional<std::string> token = bearer_token(req.authorization);
  if (!token || token->empty()) return respond(error_response(Errc::kUnauthorized));
  if (over_limit(login_limit_, req, respond)) return;
  auto fields = protocol::decode_body(req.content_type, req.body);
  if (!fields.ok()) return respond(error_response(fields.error()));
  accounts_.delete_own_account(std::move(*token), field_or_empty(*fields, "password"),
                               [respond](Status s) {
                                 if (!s.ok()) return respond(error_response(s.error()));
                                 respond(info_response(200, "account deleted."));
                               });
}

}  // namespace rwd::http
