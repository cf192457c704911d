#pragma once

#include <cstdint>

#include "base/readiness.h"
#include "mail/outbox_sender.h"
#include "net/server.h"
#include "store/store.h"

namespace rwd::app {

// The checks of GET /readyz that every node has: "store" (store.can_write()) and "shutdown"
// (from SIGTERM/SIGINT while the connections drain). Other parts add their own (a broker:
// "broker"). Both objects outlive `readiness`'s last use.
void add_readiness_checks(Readiness& readiness, const store::Store& store,
                          const net::Server& server);

// "mail": more than `limit` unsent mails wait in the outbox (the SMTP server is away or too
// slow for the sign-ups). 0 adds no check. `outbox` outlives `readiness`'s last use.
void add_mail_readiness_check(Readiness& readiness, const mail::OutboxSender& outbox,
                              int64_t limit);

}  // namespace rwd::app
