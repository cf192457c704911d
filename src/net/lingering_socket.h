#pragma once

// Internal to src/net: includes Beast; never include this outside src/net.

#include <array>
#include <boost/asio/compose.hpp>
#include <chrono>
#include <memory>
#include <utility>

#include "net/server_state.h"

namespace rwd::net {

// The stream under every WebSocket connection: a plain socket whose teardown — the last step
// of every close, whoever started it — is a lingering close.
//
// Why: Beast 1.74's own teardown for a TCP socket shuts down the sending side, reads once and
// closes (its loop tests a byte count it never sets). A peer still sending when the server
// closes (a message over --max-message-bytes refused on its header, a flood cut by a rate
// limit) then has unread bytes in the server's receive buffer, so the close becomes a reset:
// the peer's write fails and its library reports an abnormal closure instead of the close
// code the server sent.
//
// The lingering close: once the close frame is written, shut down the sending side (the peer
// reads the close frame, then end of stream), then read and discard what arrives until the
// peer closes its side, and only then close the socket, which then ends with FIN. Bounded:
// it stops after kLingerBytes discarded, after kLingerIdle without a byte, or after
// kLingerTotal in all, whichever comes first (a socket closed at a bound with bytes unread
// still resets; that is the price of not holding a descriptor for a peer that never stops).
class LingeringSocket {
 public:
  static constexpr size_t kLingerBytes = size_t{4} << 20;
  static constexpr std::chrono::milliseconds kLingerIdle{2'000};
  static constexpr std::chrono::milliseconds kLingerTotal{10'000};

  using executor_type = Executor;

  explicit LingeringSocket(Socket socket) : socket_(std::move(socket)) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  // The socket itself (also what beast::get_lowest_layer finds).
  Socket& next_layer() { return socket_; }
  const Socket& next_layer() const { return socket_; }

  template <typename MutableBuffers, typename Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    return socket_.async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <typename ConstBuffers, typename Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    return socket_.async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  Socket socket_;
};

namespace detail {

// The lingering close of one socket, as an Asio composed operation. It always completes
// asynchronously (its first step is a read), with success when the peer closed its side or a
// bound was reached: either way the close frame went out and the socket is closed.
class LingerOp {
 public:
  explicit LingerOp(Socket& socket) : socket_(socket), state_(std::make_shared<State>(socket)) {}

  template <typename Self>
  void operator()(Self& self) {
    using namespace std::chrono;
    beast::error_code ignored;
    // The peer reads our close frame, then end of stream. An error (the peer reset already)
    // shows up in the first read.
    socket_.shutdown(asio::socket_base::shutdown_send, ignored);
    state_->started = steady_clock::now();
    state_->last_read = state_->started;
    arm_timer(&socket_, state_, state_->started + LingeringSocket::kLingerIdle);
    read(self);
  }

  template <typename Self>
  void operator()(Self& self, beast::error_code ec, size_t n) {
    state_->discarded += n;
    state_->last_read = std::chrono::steady_clock::now();
    // End of stream is the goal; any other error (reset, or the timer cancelled the read)
    // ends the linger as well. A read that completed just as the time ran out (too late for
    // the cancel) is the last.
    if (ec || state_->expired || state_->discarded >= LingeringSocket::kLingerBytes)
      return finish(self);
    read(self);
  }

 private:
  struct State {
    explicit State(Socket& s) : timer(s.get_executor()) {}
    Timer timer;
    std::array<char, 8192> discard;
    size_t discarded = 0;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point last_read;
    bool expired = false;  // a time bound passed
    bool done = false;
  };

  template <typename Self>
  void read(Self& self) {
    socket_.async_read_some(asio::buffer(state_->discard), std::move(self));
  }

  template <typename Self>
  void finish(Self& self) {
    state_->done = true;
    state_->timer.cancel();
    beast::error_code ignored;
    socket_.close(ignored);
    self.complete(beast::error_code{});
  }

  // One timer for both time bounds: when it fires it either cancels the read (a bound has
  // passed) or waits again until the nearer of the two bounds, which reads push back.
  static void arm_timer(Socket* socket, std::shared_ptr<State> state,
                        std::chrono::steady_clock::time_point at) {
    state->timer.expires_at(at);
    state->timer.async_wait([socket, state](beast::error_code ec) {
      // The socket lives as long as the read is pending; once the operation is done it may be
      // gone.
      if (ec || state->done) return;
      auto due = std::min(state->started + LingeringSocket::kLingerTotal,
                          state->last_read + LingeringSocket::kLingerIdle);
      if (std::chrono::steady_clock::now() < due) return arm_timer(socket, state, due);
      state->expired = true;
      beast::error_code ignored;
      socket->cancel(ignored);
    });
  }

  Socket& socket_;
  std::shared_ptr<State> state_;
};

}  // namespace detail

// Beast's customisation point for the end of a close, found by argument-dependent lookup;
// see LingeringSocket. The role does not matter: a client's teardown would also wait for the
// server's end of stream, and this server is always the accepting side.
template <typename Handler>
void async_teardown(beast::role_type, LingeringSocket& stream, Handler&& handler) {
  Socket& socket = stream.next_layer();
  asio::async_compose<Handler, void(beast::error_code)>(detail::LingerOp(socket), handler, socket);
}

}  // namespace rwd::net
