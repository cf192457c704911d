#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "gateway/session.h"
#include "gateway/transport.h"
#include "net/connection_phase.h"
#include "net/lingering_socket.h"
#include "net/server_state.h"

namespace rwd::net {

// The read buffer of one connection. Beast's read loop sizes its first step from
// max_size() - size() (up to 1,536 bytes) and prepares that much before any byte arrives, so
// every idle connection would hold that much; reporting a small headroom makes it hold
// kFirstStep instead. Later steps of a message ask for exactly the bytes left in the frame,
// so a large message still arrives in few steps (its size limit is read_message_max).
#ifdef BOOST_NO_EXCEPTIONS
// Without exceptions Beast checks every prepare against max_size(), which ReadBuffer keeps
// deliberately small.
#error "ReadBuffer needs Beast built with exceptions"
#endif
class ReadBuffer {
 public:
  static constexpr size_t kFirstStep = 64;
  using const_buffers_type = beast::flat_buffer::const_buffers_type;
  using mutable_buffers_type = beast::flat_buffer::mutable_buffers_type;

  size_t size() const { return buffer_.size(); }
  size_t max_size() const { return buffer_.size() + kFirstStep; }
  size_t capacity() const { return buffer_.capacity(); }
  const_buffers_type data() const { return buffer_.data(); }
  const_buffers_type cdata() const { return buffer_.cdata(); }
  mutable_buffers_type data() { return buffer_.data(); }
  mutable_buffers_type prepare(size_t n) { return buffer_.prepare(n); }
  void commit(size_t n) { buffer_.commit(n); }
  void consume(size_t n) { buffer_.consume(n); }
  void shrink_to_fit() { buffer_.shrink_to_fit(); }

 private:
  beast::flat_buffer buffer_;
};

// One WebSocket connection: Beast's stream, a read loop feeding the gateway Session, and a
// bounded write queue. Everything runs on the connection's loop (one thread); send goes
// through the loop's inbox and close/post are posted to it from other threads.
//
// Life: one ConnectionPhase (connection_phase.h), moved only by transition(), which also arms
// the phase's one deadline (the session's while open, the close grace while a close waits for
// the frame in flight, a backstop once the close frame is on its way).
//
// Backpressure: at most one write is in flight; queued frames are counted in bytes, and a
// connection whose queue passes --send-queue-bytes is closed (4105) so that one reader that
// stopped reading never holds memory or delays anybody else.
class WsConnection final : public gateway::Transport,
                           public std::enable_shared_from_this<WsConnection>,
                           private DeadlineHook {
 public:
  WsConnection(Server::Impl& server, Loop& loop, Socket socket, protocol::Version version,
               std::string address);
  ~WsConnection() override;

  void start(bhttp::request<bhttp::string_body> request);

  void send(gateway::Frame frame) override;
  void close(protocol::CloseCode code) override;
  void post(std::function<void()> fn) override;

  // Queues a frame; on the loop's thread only (Loop::deliver calls it).
  void enqueue(gateway::Frame frame);
  // The deadline scheduled in the loop's wheel has come; loop thread only.
  void on_deadline_due();
  static WsConnection& from_hook(DeadlineHook& h) { return static_cast<WsConnection&>(h); }

 private:
  void on_accept(beast::error_code ec);
  void read();
  void on_read(beast::error_code ec, size_t bytes);
  void write_next();
  // Forgets every queued frame; never while one is being written (Beast reads its bytes).
  void drop_queue();
  // Forgets the queued frames but the one being written, if any.
  void drop_waiting_frames();
  void set_corked(bool on);
  void on_write(beast::error_code ec, size_t bytes);
  // Asks for the close handshake with `code`; the first request's code is the one sent.
  void start_close(protocol::CloseCode code);
  // The only place phase_ changes: takes the step next_step() gives, arms the deadline of the
  // phase entered and runs the step's action.
  void transition(ConnectionEvent event);
  void run(ConnectionAction action);
  void arm_deadline();
  void send_close();
  void finish();
  // Metrics: queued_bytes_ with the process's send-queue gauge; the version's label slot.
  void set_queued_bytes(size_t bytes);
  size_t version_slot() const;
  void log_access();  // log/access_log.h

  Server::Impl& server_;
  Loop& loop_;
  // Over a plain socket, not beast::tcp_stream: the WebSocket layer has its own handshake
  // timer and heartbeats decide liveness, so tcp_stream's per-connection timers would only
  // cost memory on every idle connection. The socket's wrapper makes every close linger.
  websocket::stream<LingeringSocket, /*deflateSupported=*/false> ws_;
  ReadBuffer buffer_;
  std::shared_ptr<gateway::Session> session_;
  const protocol::Version version_;
  const std::string address_;
  // Frames waiting to be written, oldest at queue_head_. A vector, reset when drained, costs
  // nothing for the idle majority of connections (a std::deque allocates 512 bytes up front).
  std::vector<gateway::Frame> queue_;
  size_t queue_head_ = 0;
  size_t queued_bytes_ = 0;  // changed only through set_queued_bytes (the metrics gauge)
  ConnectionPhase phase_ = ConnectionPhase::kHandshake;
  // The write queue's own state, in any phase that writes.
  bool writing_ = false;  // one async_write in flight
  bool corked_ = false;   // TCP_CORK set while a burst of frames is written
  std::optional<protocol::CloseCode> close_code_;  // of the first close request
  std::optional<uint16_t> beast_close_code_;       // sent by Beast on a protocol error
  bool cut_ = false;  // the socket was cut before the close handshake was done (access log)
  // For the access log's record, written when the connection finishes.
  int64_t opened_us_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  uint32_t frames_in_ = 0;
  uint32_t frames_out_ = 0;
};

}  // namespace rwd::net
