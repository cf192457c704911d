#include "net/listener.h"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <utility>

namespace rwd::net {

namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;

Result<Listener> Listener::bind(const std::string& address_text, uint16_t port) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(address_text, ec);
  if (ec) return Error{Errc::kInternal, "--listen: '" + address_text + "' is not an IP address"};
  tcp::endpoint endpoint(address, port);
  // The acceptor only binds here; the Server's first loop adopts the socket.
  asio::io_context ioc(1);
  tcp::acceptor acceptor(ioc);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  uint16_t bound_port = 0;
  if (!ec) bound_port = acceptor.local_endpoint(ec).port();
  if (ec)
    return Error{Errc::kInternal, "cannot listen on " + address_text + ":" + std::to_string(port) +
                                      ": " + ec.message()};
  int fd = acceptor.release(ec);
  if (ec)
    return Error{Errc::kInternal, "cannot listen on " + address_text + ":" + std::to_string(port) +
                                      ": " + ec.message()};
  return Listener(fd, bound_port, address.is_v6());
}

Listener::Listener(Listener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(other.port_), ipv6_(other.ipv6_) {}

Listener& Listener::operator=(Listener&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    port_ = other.port_;
    ipv6_ = other.ipv6_;
  }
  return *this;
}

Listener::~Listener() {
  if (fd_ >= 0) ::close(fd_);
}

int Listener::release() { return std::exchange(fd_, -1); }

}  // namespace rwd::net
