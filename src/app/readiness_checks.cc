#include "app/readiness_checks.h"

#include <string>

namespace rwd::app {

void add_readiness_checks(Readiness& readiness, const store::Store& store,
                          const net::Server& server) {
  readiness.add("store", [&store]() -> std::optional<std::string> {
    if (store.can_write()) return std::nullopt;
    return "cannot write";
  });
  readiness.add("shutdown", [&server]() -> std::optional<std::string> {
    if (!server.stopping()) return std::nullopt;
    return "shutting down, draining connections";
  });
}

void add_mail_readiness_check(Readiness& readiness, const mail::OutboxSender& outbox,
                              int64_t limit) {
  if (limit <= 0) return;
  readiness.add("mail", [&outbox, limit]() -> std::optional<std::string> {
    int64_t backlog = outbox.backlog();
    if (backlog <= limit) return std::nullopt;
    return std::to_string(backlog) + " mails waiting to be sent (limit " + std::to_string(limit) +
           ")";
  });
}

}  // namespace rwd::app
