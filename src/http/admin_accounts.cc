#include "http/admin_accounts.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "base/crypto.h"
#include "base/text.h"
#include "base/time_format.h"
#include "http/request_fields.h"
#include "metrics/counters.h"
#include "protocol/body_decoder.h"

namespace rwd::http {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void put_account(Writer& w, const domain::AccountInfo& a) {
  w.StartObject();
  put(w, "id", std::to_string(a.id));
  put(w, "name", a.name);
  put(w, "email", a.email);
  // An account exists only once its email was verified (a pending sign-up is not one).
  w.Key("verified");
  w.Bool(true);
  w.Key("disabled");
  w.Bool(a.disabled);
  w.Key("deleted");
  w.Bool(a.deleted);
  put(w, "created", format_utc_rfc3339(a.created_us));
  w.EndObject();
}

Response json(int status, const rapidjson::StringBuffer& sb) {
  Response r;
  r.status = status;
  r.body.assign(sb.GetString(), sb.GetSize());
  return r;
}

Response account_response(const domain::AccountInfo& a) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  put(w, "type", "user");
  w.Key("payload");
  put_account(w, a);
  w.EndObject();
  return json(200, sb);
}

Response sessions_response(int64_t user_id, const std::vector<domain::SessionInfo>& sessions) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  put(w, "type", "sessions");
  w.Key("payload");
  w.StartObject();
  put(w, "user_id", std::to_string(user_id));
  w.Key("sessions");
  w.StartArray();
  for (const auto& s : sessions) {
    w.StartObject();
    put(w, "id", s.id);
    put(w, "created", format_utc_rfc3339(s.created_us));
    put(w, "expires", format_utc_rfc3339(s.expires_us));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return json(200, sb);
}

// A user id as the API writes it: decimal digits of a positive int64.
std::optional<int64_t> parse_user_id(std::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (char ch : text)
    if (ch < '0' || ch > '9') return std::nullopt;
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    size_t slash = std::min(path.find('/', start), path.size());
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

// The value of `key` in a query string, percent-decoded; nullopt when absent.
std::optional<std::string> query_value(std::string_view query, std::string_view key,
                                       bool* malformed) {
  for (size_t start = 0; start < query.size();) {
    size_t amp = std::min(query.find('&', start), query.size());
    std::string_view pair = query.substr(start, amp - start);
    start = amp + 1;
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) != key) continue;
    std::string value;
    if (eq == std::string_view::npos || !protocol::url_decode(pair.substr(eq + 1), value)) {
      *malformed = true;
      return std::nullopt;
    }
    return value;
  }
  return std::nullopt;
}

Response method_not_allowed(const char* allowed) {
  Response r = Router::error_response(Errc::kMethodNotAllowed);
  r.headers.emplace_back("Allow", allowed);
  return r;
}

const Error kBadUserId{Errc::kBadRequest, "a user id is a positive decimal number."};

}  // namespace

AdminAccounts::AdminAccounts(std::string secret, domain::Accounts& accounts)
    : secret_hash_(crypto::sha256_hex(secret)), accounts_(accounts) {}

bool AdminAccounts::authorized(std::string_view authorization) const {
  std::optional<std::string> token = bearer_token(authorization);
  return token && crypto::equal_constant_time(crypto::sha256_hex(*token), secret_hash_);
}

void AdminAccounts::handle(const Request& req, Respond respond) {
  if (!authorized(req.authorization)) {
    Response r = Router::error_response(
        Error{Errc::kUnauthorized, "the admin secret (Authorization: Bearer) is required."});
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return respond(std::move(r));
  }
  std::string_view target(req.target);
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query =
      path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view{};
  std::vector<std::string_view> parts = split_path(path);  // "admin", "users", ...
  const std::string& m = req.method;
  bool get = m == "GET" || m == "HEAD";
  if (parts.size() < 2 || parts[1] != "users" || parts.size() > 5)
    return respond(Router::error_response(Errc::kRouteNotFound));

  auto answer_account = [respond](Result<domain::AccountInfo> r) {
    if (!r.ok()) return respond(Router::error_response(r.error()));
    respond(account_response(r.value()));
  };

  // GET /admin/users?name=N | ?email=E
  if (parts.size() == 2) {
    if (!get) return respond(method_not_allowed("GET"));
    bool malformed = false;
    auto name = query_value(query, "name", &malformed);
    auto email = query_value(query, "email", &malformed);
    if (malformed || name.has_value() == email.has_value() ||
        (name ? name->empty() : email->empty()))
      return respond(Router::error_response(
          Error{Errc::kBadRequest, "give exactly one of ?name= and ?email=."}));
    if (name) return accounts_.find_account_by_name(std::move(*name), answer_account);
    return accounts_.find_account_by_email(std::string(trim(*email)), answer_account);
  }

  auto user_id = parse_user_id(parts[2]);
  if (parts.size() == 3 && m == "DELETE") {  // DELETE /admin/users/{id}
    if (!user_id) return respond(Router::error_response(kBadUserId));
    int64_t id = *user_id;
    return accounts_.delete_account(id, [this, id, respond](Status s) {
      if (!s.ok()) return respond(Router::error_response(s.error()));
      metrics::count_admin_action(metrics::AdminAction::kDelete);
      spdlog::info("account {} deleted on the admin listener", id);
      accounts_.find_account_by_id(id, [respond](Result<domain::AccountInfo> r) {
        if (!r.ok()) return respond(Router::error_response(r.error()));
        respond(account_response(r.value()));
      });
    });
  }
  if (parts.size() == 3) {  // GET /admin/users/{id}
    if (!get) return respond(method_not_allowed("GET, DELETE"));
    if (!user_id) return respond(Router::error_response(kBadUserId));
    return accounts_.find_account_by_id(*user_id, answer_account);
  }

  std::string_view action = parts[3];
  if (parts.size() == 4 && (action == "disable" || action == "enable")) {
    if (m != "POST") return respond(method_not_allowed("POST"));
    if (!user_id) return respond(Router::error_response(kBadUserId));
    // An optional JSON object; its "reason" goes to the log beside the action.
    std::string reason;
    if (!trim(req.body).empty()) {
      auto fields = protocol::decode_json_fields(req.body);
      if (!fields.ok()) return respond(Router::error_response(fields.error()));
      if (auto it = fields->find("reason"); it != fields->end()) reason = it->second;
      // It goes to the log as one line: no control characters.
      bool one_line = std::none_of(reason.begin(), reason.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      });
      if (reason.size() > 500 || !is_valid_utf8(reason) || !one_line)
        return respond(Router::error_response(
            Error{Errc::kBadRequest,
                  "reason is at most 500 bytes of UTF-8, without control characters."}));
    }
    bool disable = action == "disable";
    int64_t id = *user_id;
    return accounts_.set_disabled(
        id, disable, [this, id, disable, reason, respond](Result<bool> changed) {
          if (!changed.ok()) return respond(Router::error_response(changed.error()));
          metrics::count_admin_action(disable ? metrics::AdminAction::kDisable
                                              : metrics::AdminAction::kEnable);
          if (!reason.empty())
            spdlog::info("account {} {} by an operator: reason: {}", id,
                         disable ? "disabled" : "enabled", reason);
          accounts_.find_account_by_id(id, [respond](Result<domain::AccountInfo> r) {
            if (!r.ok()) return respond(Router::error_response(r.error()));
            respond(account_response(r.value()));
          });
        });
  }

  if (action == "sessions" && parts.size() == 4) {  // GET /admin/users/{id}/sessions
    if (!get) return respond(method_not_allowed("GET"));
    if (!user_id) return respond(Router::error_response(kBadUserId));
    int64_t id = *user_id;
    return accounts_.sessions_of(id, [id, respond](Result<std::vector<domain::SessionInfo>> r) {
      if (!r.ok()) return respond(Router::error_response(r.error()));
      respond(sessions_response(id, r.value()));
    });
  }

  if (action == "sessions" && parts.size() == 5) {  // DELETE /admin/users/{id}/sessions/{sid}
    if (m != "DELETE") return respond(method_not_allowed("DELETE"));
    if (!user_id) return respond(Router::error_response(kBadUserId));
    if (!domain::Accounts::is_session_id(parts[4]))
      return respond(Router::error_response(
          Error{Errc::kBadRequest, "a session id is 16 lower-case hex digits."}));
    return accounts_.revoke_session(*user_id, std::string(parts[4]), [respond](Status s) {
      if (!s.ok()) return respond(Router::error_response(s.error()));
      metrics::count_admin_action(metrics::AdminAction::kRevokeSession);
      respond(Router::info_response(200, "session revoked."));
    });
  }

  respond(Router::error_response(Errc::kRouteNotFound));
}

}  // namespace rwd::http
