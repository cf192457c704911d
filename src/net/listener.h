#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"

namespace rwd::net {

// A TCP socket bound and listening, before anything accepts on it. It exists apart from the
// Server so that the program binds first and builds what depends on the bound port (the
// public base URL of verification links, with --port 0) knowing it, instead of patching it
// in after construction. Connections that arrive before the Server runs wait in the
// kernel's backlog.
//
// Owns the socket until a Server takes it; closes it when destroyed otherwise.
class Listener {
 public:
  // Binds address:port (port 0: the kernel picks one) with SO_REUSEADDR and listens. Errors
  // name the address.
  static Result<Listener> bind(const std::string& address, uint16_t port);

  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&& other) noexcept;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

  uint16_t port() const { return port_; }
  bool ipv6() const { return ipv6_; }
  // Hands the socket over: the caller closes it from now on. -1 once taken.
  int release();

 private:
  Listener(int fd, uint16_t port, bool ipv6) : fd_(fd), port_(port), ipv6_(ipv6) {}

  int fd_ = -1;
  uint16_t port_ = 0;
  bool ipv6_ = false;
};

}  // namespace rwd::net
