#include "http/router.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "base/text.h"
#include "http/language.h"
#include "http/pages.h"
#include "http/request_fields.h"
#include "http/routes.h"
#include "http/static_files.h"
#include "metrics/counters.h"
#include "protocol/body_decoder.h"
#include "protocol/error_table.h"

namespace rwd::http {

namespace {

std::string envelope(std::string_view type,
                     std::initializer_list<std::pair<const char*, std::string_view>> fields) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("type");
  w.String(type.data(), static_cast<rapidjson::SizeType>(type.size()));
  w.Key("payload");
  w.StartObject();
  for (const auto& [k, v] : fields) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

// True when the client prefers HTML to JSON (a browser opening the mail's link).
bool prefers_html(std::string_view accept) {
  size_t html = accept.find("text/html");
  if (html == std::string_view::npos) return false;
  size_t json = accept.find("application/json");
  return json == std::string_view::npos || html < json;
}

std::string path_of(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}

Response html(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  // As the web client's files (static_files.cc): no framing (clickjacking of the forms), no
  // content sniffing, no script or style but the page's own, no referrer.
  r.headers = {
      {"Content-Security-Policy", page_security_policy()},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
  };
  return r;
}

}  // namespace

Router::Router(RouterSettings settings, domain::Accounts& accounts, const MonotonicClock& clock,
               const Readiness& readiness)
    : settings_(std::move(settings)),
      accounts_(accounts),
      clock_(clock),
      readiness_(readiness),
      register_limit_(settings_.register_per_window, settings_.window_us),
      login_limit_(settings_.login_per_window, settings_.window_us),
      reset_limit_(settings_.reset_per_window, settings_.window_us),
      sessions_limit_(settings_.sessions_per_window, settings_.window_us) {}

Response Router::error_response(const Error& e) {
  metrics::count_error(e.code);
  const auto& info = protocol::error_info(e.code);
  Response r;
  r.status = info.http_status;
  std::string_view message = protocol::public_reason(e);
  if (protocol::withholds_detail(e))
    spdlog::error("internal error answered over HTTP: {}", e.detail);
  r.body = envelope("error", {{"message", message}, {"code", info.http_code}});
  if (e.code == Errc::kRateLimited)
    r.headers.emplace_back("Retry-After",
                           std::to_string(std::max<int64_t>(1, (e.retry_after_ms + 999) / 1000)));
  return r;
}

Response Router::info_response(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = envelope("info", {{"message", message}});
  return r;
}

bool Router::over_limit(RateLimiter& limiter, const Request& req, const Respond& respond) {
  if (settings_.rate_limit_exempt.contains(req.client_address)) return false;
  int64_t wait = limiter.acquire(address_bucket(req.client_address), clock_.now_us());
  if (wait == 0) return false;
  metrics::count_rate_limited(&limiter == &register_limit_ ? metrics::RateScope::kHttpRegister
                              : &limiter == &reset_limit_  ? metrics::RateScope::kHttpPasswordReset
                              : &limiter == &sessions_limit_ ? metrics::RateScope::kHttpSessions
                                                             : metrics::RateScope::kHttpLogin);
  Error e{Errc::kRateLimited, {}};
  e.retry_after_ms = wait / 1000 + 1;
  respond(error_response(e));
  return true;
}

void Router::handle(Request req, Respond respond) {
  std::string path = path_of(req.target);
  const std::string& m = req.method;
  auto only = [&](const char* allowed) {
    if (m == allowed || (std::string_view(allowed) == "GET" && m == "HEAD")) return true;
    Response r = error_response(Errc::kMethodNotAllowed);
    r.headers.emplace_back("Allow", allowed);
    respond(std::move(r));
    return false;
  };
  if (path == "/api/v1/auth/register") {
    if (only("POST")) post_register(req, std::move(respond));
  } else if (path == "/api/v1/auth/login") {
    if (only("POST")) post_login(req, std::move(respond));
  } else if (path == "/api/v1/auth/logout") {
    if (only("POST")) post_logout(req, std::move(respond));
  } else if (path == kPasswordResetPath) {
    if (only("POST")) post_password_reset(req, std::move(respond));
  } else if (path == kPasswordResetConfirmPath) {
    if (only("POST")) post_password_reset_confirm(req, std::move(respond));
  } else if (path == kPasswordChangePath) {
    if (only("POST")) post_password_change(req, std::move(respond));
  } else if (path == kDeleteAccountPath) {
    if (only("POST")) post_delete_account(req, std::move(respond));
  } else if (path == kSessionsPath) {
    if (only("GET")) get_sessions(req, std::move(respond));
  } else if (path.size() > kSessionsPath.size() && path.rfind(kSessionsPath, 0) == 0 &&
             path[kSessionsPath.size()] == '/') {
    if (only("DELETE"))
      delete_session(req, std::string_view(path).substr(kSessionsPath.size() + 1),
                     std::move(respond));
  } else if (path.rfind(kVerifyPrefix, 0) == 0) {
    // Only a real GET opens the link: a HEAD (link checkers, previews) must not use it up.
    if (m == "HEAD") {
      Response r = error_response(Errc::kMethodNotAllowed);
      r.headers.emplace_back("Allow", "GET");
      respond(std::move(r));
    } else if (only("GET")) {
      get_verify(req, path.substr(kVerifyPrefix.size()), std::move(respond));
    }
  } else if (path == "/register") {
    if (only("GET")) respond(html(200, register_page()));
  } else if (path == "/login") {
    if (only("GET")) respond(html(200, login_page()));
  } else if (path == "/api/v1/about") {
    if (only("GET")) get_about(std::move(respond));
  } else if (path == "/healthz") {
    if (only("GET")) respond(info_response(200, "ok"));
  } else if (path == "/readyz") {
    if (only("GET")) get_ready(req.target, std::move(respond));
  } else if (path == "/ws") {
    respond(
        error_response(Error{Errc::kBadRequest, "/ws is a WebSocket endpoint: send an upgrade."}));
  } else if (const WebAsset* asset = find_web_asset(path)) {
    if (only("GET")) respond(web_asset_response(*asset, req.if_none_match));
  } else {
    respond(error_response(Errc::kRouteNotFound));
  }
}

void Router::get_about(Respond respond) {
  int offset = settings_.utc_offset_s;
  char utc_offset[16];  // "+HH:MM"; room for any int so the compiler can prove no truncation
  std::snprintf(utc_offset, sizeof utc_offset, "%c%02d:%02d", offset < 0 ? '-' : '+',
                std::abs(offset) / 3600, std::abs(offset) / 60 % 60);
  Response out;
  out.body = envelope(
      "about", {{"mail", settings_.mail_to_log ? "log" : "smtp"}, {"utc_offset", utc_offset}});
  respond(std::move(out));
}

// Plain text, as proxies and operators read it: "ready", or "not ready" and a line per part
// that fails ("store: cannot write").
void Router::get_ready(std::string_view target, Respond respond) {
  Response out;
  out.content_type = "text/plain; charset=utf-8";
  std::vector<Readiness::Failure> failures = readiness_.failures_for(target);
  if (failures.empty()) {
    out.body = "ready\n";
  } else {
    out.status = 503;
    out.body = "not ready\n";
    for (const auto& f : failures) out.body += f.name + ": " + f.reason + "\n";
  }
  respond(std::move(out));
}

void Router::post_register(const Request& req, Respond respond) {
  if (over_limit(register_limit_, req, respond)) return;
  auto fields = protocol::decode_body(req.content_type, req.body);
  if (!fields.ok()) return respond(error_response(fields.error()));
  auto get = [&](const char* k) { return field_or_empty(*fields, k); };
  domain::Language language = choose_language(req.accept_language, get("lang"));
  accounts_.register_account(
      get("name"), get("email"), get("password"), language, [respond](Status s) {
        if (!s.ok()) {
          metrics::add(metrics::counters().registrations_failed);
          return respond(error_response(s.error()));
        }
        metrics::add(metrics::counters().registrations_ok);
        respond(info_response(201, "successfully created an account creation request."));
      });
}

void Router::post_login(const Request& req, Respond respond) {
  if (over_limit(login_limit_, req, respond)) return;
  auto fields = protocol::decode_body(req.content_type, req.body);
  if (!fields.ok()) return respond(error_response(fields.error()));
  auto get = [&](const char* k) { return field_or_empty(*fields, k); };
  accounts_.login(get("email"), get("password"), req.user_agent, [respond](Result<std::string> r) {
    if (!r.ok()) {
      metrics::add(metrics::counters().logins_failed);
      return respond(error_response(r.error()));
    }
    metrics::add(metrics::counters().logins_ok);
    Response out;
    out.status = 201;
    out.body = envelope("auth", {{"token", r.value()}});
    respond(std::move(out));
  });
}

void Router::post_logout(const Request& req, Respond respond) {
  std::optional<std::string> token = bearer_token(req.authorization);
  if (!token) return respond(error_response(Errc::kUnauthorized));
  accounts_.logout(std::move(*token), [respond](Status s) {
    if (!s.ok()) return respond(error_response(s.error()));
    respond(info_response(200, "logged out."));
  });
}

void Router::get_verify(const Request& req, std::string key, Respond respond) {
  bool want_html = prefers_html(req.accept);
  domain::Language language = choose_language(req.accept_language);
  accounts_.verify_email(
      std::move(key), [respond, want_html, language](Result<domain::UserView> r) {
        if (!want_html) {
          if (!r.ok()) return respond(error_response(r.error()));
          return respond(info_response(200, "account successfully created."));
        }
        if (!r.ok()) {
          const auto& info = protocol::error_info(r.error().code);
          return respond(
              html(info.http_status, verify_failed_page(language, r.error().code, info.message)));
        }
        respond(html(200, verified_page(language, r->name)));
      });
}

}  // namespace rwd::http
