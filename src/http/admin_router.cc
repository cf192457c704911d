#include "http/admin_router.h"

#include <utility>

namespace rwd::http {

namespace {

Response text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

}  // namespace

AdminRouter::AdminRouter(Scrape scrape, std::string content_type, const Readiness& readiness,
                         AdminAccounts* accounts)
    : scrape_(std::move(scrape)),
      content_type_(std::move(content_type)),
      readiness_(readiness),
      accounts_(accounts) {}

void AdminRouter::handle(Request req, Respond respond) {
  std::string_view path(req.target);
  path = path.substr(0, path.find('?'));
  if (accounts_ && AdminAccounts::is_admin_path(path)) return accounts_->handle(req, respond);
  if (path != "/metrics" && path != "/healthz" && path != "/readyz")
    return respond(text(404, "not found\n"));
  if (req.method != "GET" && req.method != "HEAD") {
    Response r = text(405, "method not allowed\n");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return respond(std::move(r));
  }
  if (path == "/healthz") return respond(text(200, "ok\n"));
  if (path == "/readyz") {
    // The same answer as the public /readyz (http/router.cc).
    std::vector<Readiness::Failure> failures = readiness_.failures_for(req.target);
    if (failures.empty()) return respond(text(200, "ready\n"));
    std::string body = "not ready\n";
    for (const auto& f : failures) body += f.name + ": " + f.reason + "\n";
    return respond(text(503, std::move(body)));
  }
  Response r = text(200, scrape_());
  r.content_type = content_type_;
  respond(std::move(r));
}

}  // namespace rwd::http
