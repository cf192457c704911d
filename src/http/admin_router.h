#pragma once

#include <functional>
#include <string>

#include "base/readiness.h"
#include "http/admin_accounts.h"
#include "http/router.h"

namespace rwd::http {

// The routes of the admin listener (--admin-listen/--admin-port): GET /metrics (the
// Prometheus text format), /healthz and /readyz, and, with --admin-token-file, account
// administration under /admin/ (admin_accounts.h); nothing else: not the API, not the web
// client, no WebSocket. The public listener, for its part, has none of them.
class AdminRouter {
 public:
  // Renders the metrics; runs on a network thread for each scrape.
  using Scrape = std::function<std::string()>;

  // `readiness` and `accounts` (null: no account administration, its paths are unknown)
  // outlive the router.
  AdminRouter(Scrape scrape, std::string content_type, const Readiness& readiness,
              AdminAccounts* accounts = nullptr);

  void handle(Request request, Respond respond);

 private:
  Scrape scrape_;
  std::string content_type_;
  const Readiness& readiness_;
  AdminAccounts* accounts_;
};

}  // namespace rwd::http
