#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/address_set.h"
#include "base/clock.h"
#include "base/rate_limiter.h"
#include "base/readiness.h"
#include "domain/accounts.h"

// The REST API and the HTML forms, independent of the HTTP library: the network layer
// turns each parsed request into an http::Request and writes back the Response.
namespace rwd::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  std::string content_type;
  std::string accept;
  std::string accept_language;  // chooses the language of pages and mail (language.h)
  std::string authorization;
  std::string user_agent;     // a login keeps it as the label of its session
  std::string if_none_match;  // for the web client's files: answered 304 when it matches
  std::string body;
  std::string client_address;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Called exactly once per request, from any thread.
using Respond = std::function<void(Response)>;

struct RouterSettings {
  AddressSet rate_limit_exempt;
  int register_per_window = 10;
  int login_per_window = 20;
  int reset_per_window = 5;      // password reset requests and uses
  int sessions_per_window = 60;  // lists and revocations of one's own sessions
  int64_t window_us = 60'000'000;
  // Whether verification mail goes to an SMTP server or to the log: the web client tells a
  // new user where to find the link (GET /api/v1/about).
  bool mail_to_log = true;
  // --utc-offset, the zone of created_at and history cursors: the web client shows times in
  // the reader's own zone.
  int utc_offset_s = 9 * 3600;
};

class Router {
 public:
  // `clock` measures the per-address rate limits (the only time the router reads).
  // `readiness` answers GET /readyz; it outlives the router.
  Router(RouterSettings settings, domain::Accounts& accounts, const MonotonicClock& clock,
         const Readiness& readiness);

  void handle(Request request, Respond respond);

  // {"type":"error","payload":{"message","code"}} with the table's status (and Retry-After
  // for kRateLimited). Also used by the network layer for 413/431/timeouts.
  static Response error_response(const Error& error);
  static Response info_response(int status, std::string_view message);

  // Several nodes share them (broker/cluster_limits.h): attempts per client address.
  RateLimiter& register_limiter() { return register_limit_; }
  RateLimiter& login_limiter() { return login_limit_; }
  RateLimiter& reset_limiter() { return reset_limit_; }
  RateLimiter& sessions_limiter() { return sessions_limit_; }

 private:
  void post_register(const Request& req, Respond respond);
  void post_login(const Request& req, Respond respond);
  void post_logout(const Request& req, Respond respond);
  void get_verify(const Request& req, std::string key, Respond respond);
  // Passwords (password_routes.cc).
  void post_password_reset(const Request& req, Respond respond);
  void post_password_reset_confirm(const Request& req, Respond respond);
  void post_password_change(const Request& req, Respond respond);
  void post_delete_account(const Request& req, Respond respond);
  // One's own sessions (session_routes.cc): `session_id` is the path's last part.
  void get_sessions(const Request& req, Respond respond);
  void delete_session(const Request& req, std::string_view session_id, Respond respond);
  void get_about(Respond respond);
  void get_ready(std::string_view target, Respond respond);
  // 0 when allowed; else a ready 429 was sent.
  bool over_limit(RateLimiter& limiter, const Request& req, const Respond& respond);

  RouterSettings settings_;
  domain::Accounts& accounts_;
  const MonotonicClock& clock_;
  const Readiness& readiness_;
  RateLimiter register_limit_;
  RateLimiter login_limit_;
  RateLimiter reset_limit_;
  RateLimiter sessions_limit_;
};

}  // namespace rwd::http
