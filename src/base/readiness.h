#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rwd {

// Whether this process should get new clients (GET /readyz; a proxy's health check): a list
// of named checks that the program fills at start-up, one per part that can stop it from
// serving ("store", "shutdown", "broker", ...). Liveness (/healthz) is another question: a
// node that is not ready is still alive and keeps serving the clients it has.
//
// Thread-safe: checks may be added at any time, and failures() runs on network threads.
class Readiness {
 public:
  // Empty when the part can serve, else a short reason in a few words. Shown on the public
  // listener: no secrets, no addresses, no error text from a library. Runs on a network
  // thread for every probe: it must answer from memory (an atomic), never block.
  using Check = std::function<std::optional<std::string>()>;

  struct Failure {
    std::string name;
    std::string reason;
  };

  // Adds a check; a check of the same name is replaced.
  void add(std::string name, Check check);
  // Every failing check, in the order they were added; empty when ready.
  std::vector<Failure> failures() const;
  // The same, for a probe's request target: `/readyz?exclude=mail` (or `exclude=a,b`, or the
  // parameter repeated) leaves those parts out, as Kubernetes' /readyz does. A load
  // balancer's check excludes mail: a node whose mail is stuck still serves chat, and taking
  // every node out for it would end every session.
  std::vector<Failure> failures_for(std::string_view target) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, Check>> checks_;  // guarded by mu_
};

}  // namespace rwd
