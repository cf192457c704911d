#pragma once

#include "base/readiness.h"
#include "net/server.h"
#include "store/store.h"

namespace rwd::app {

// The checks of GET /readyz that every node has: "store" (store.can_write()) and "shutdown"
// (from SIGTERM/SIGINT while the connections drain). Other parts add their own (a broker:
// "broker"). Both objects outlive `readiness`'s last use.
void add_readiness_checks(Readiness& readiness, const store::Store& store,
                          const net::Server& server);

}  // namespace rwd::app
