#include "app/readiness_checks.h"

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

}  // namespace rwd::app
