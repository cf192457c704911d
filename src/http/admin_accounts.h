#pragma once

#include <string>
#include <string_view>

#include "domain/accounts.h"
#include "http/router.h"

namespace rwd::http {

// Account administration on the admin listener (docs/OPERATIONS.md, "Account
// administration"): find an account, disable and enable it, list and revoke its sessions.
// Every route asks for `Authorization: Bearer <secret>`, the content of --admin-token-file,
// compared in constant time; errors are the public API's JSON errors (Router::error_response).
// AdminRouter hands it every path under /admin/ when the secret is configured.
class AdminAccounts {
 public:
  // `secret` is at least kAdminTokenMin characters (config checked it); `accounts` outlives
  // this.
  AdminAccounts(std::string secret, domain::Accounts& accounts);

  static bool is_admin_path(std::string_view path) { return path.rfind("/admin/", 0) == 0; }
  // Called from any network thread; `respond` runs once, on any thread.
  void handle(const Request& request, Respond respond);

 private:
  bool authorized(std::string_view authorization) const;

  std::string secret_hash_;  // SHA-256 of the secret: compared at a length that never varies
  domain::Accounts& accounts_;
};

}  // namespace rwd::http
