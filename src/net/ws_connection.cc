#include "net/ws_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>

#include "log/access_log.h"
#include "metrics/counters.h"

namespace rwd::net {

using protocol::CloseCode;
using Phase = ConnectionPhase;
using Event = ConnectionEvent;
using Action = ConnectionAction;

namespace {

// The close code Beast sent itself when a read failed on what the peer sent (its "_Fail the
// WebSocket Connection_" in websocket/impl/read.hpp): 1009 for a message over
// read_message_max, 1007 for text that is not UTF-8, 1002 for every other protocol
// violation (a bad opcode, reserved bits, an unmasked frame, a bad close frame...). None
// when no close frame of ours went out: the peer closed, reset or went away.
std::optional<uint16_t> close_code_sent_by_beast(beast::error_code ec) {
  if (ec == websocket::error::message_too_big) return 1009;
  if (ec == websocket::error::bad_frame_payload) return 1007;
  if (ec == websocket::condition::protocol_violation) return 1002;
  return std::nullopt;
}

}  // namespace

WsConnection::WsConnection(Server::Impl& server, Loop& loop, Socket socket,
                           protocol::Version version, std::string address)
    : server_(server),
      loop_(loop),
      ws_(std::move(socket)),
      version_(version),
      address_(std::move(address)),
      opened_us_(loop.clock.now_us()) {
  metrics::add(metrics::counters().connections_open[version_slot()], 1);
}

WsConnection::~WsConnection() {
  // Normally finish() has unlinked it already; when the loops stop with connections open they
  // are destroyed with their loop, on one thread.
  loop_.deadlines.cancel(*this);
  server_.release_address(address_);
  metrics::add(metrics::counters().connections_open[version_slot()], -1);
  set_queued_bytes(0);
}

void WsConnection::start(bhttp::request<bhttp::string_body> request) {
  server_.add_ws(this);
  session_ = std::make_shared<gateway::Session>(server_.services, weak_from_this(), version_);
  websocket::stream_base::timeout t{};
  // Also bounds a close handshake the server starts (Beast arms it in async_close only).
  t.handshake_timeout = std::chrono::seconds(server_.config.ws_handshake_timeout_s);
  t.idle_timeout = websocket::stream_base::none();  // heartbeats decide liveness
  t.keep_alive_pings = false;
  ws_.set_option(t);
  ws_.set_option(
      websocket::stream_base::decorator([node = server_.node_id](websocket::response_type& res) {
        res.set(bhttp::field::server, "rewind");
        res.set("X-Rewind-Node", node);
      }));
  ws_.read_message_max(server_.config.max_message_bytes);
  ws_.auto_fragment(false);
  // The peer asked to close: its session ends here, before Beast answers with our close frame
  // (it calls this first), so that a client whose close handshake completed finds the session
  // gone (its place under --max-sessions-per-user free, its friends told when it was the last)
  // instead of waiting for the TCP connection's lingering end, which a client that keeps its
  // socket open holds for seconds. Capturing only `this` keeps the callable inside Beast's
  // std::function: no allocation per connection.
  // The session's deadlines end with it; the phase entered has the close grace while a frame
  // of ours is in flight (Beast answers after it), else the close-sent backstop.
  ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
    if (kind != websocket::frame_type::close || !session_) return;
    session_->on_closed();
    transition(Event::kPeerClosed);
    // Beast writes nothing of ours after its answer: what waits behind the frame in flight can
    // go now.
    if (phase_ == Phase::kPeerClosing) drop_waiting_frames();
  });
  ws_.async_accept(request,
                   beast::bind_front_handler(&WsConnection::on_accept, shared_from_this()));
}

void WsConnection::on_accept(beast::error_code ec) {
  if (ec) return transition(Event::kEnded);
  // Shutting down: the close frame follows the handshake at once, nothing is read.
  if (server_.stopping) start_close(CloseCode::kGoingAway);
  transition(Event::kAccepted);
}

void WsConnection::read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&WsConnection::on_read, shared_from_this()));
}

void WsConnection::on_read(beast::error_code ec, size_t bytes) {
  if (ec) {
    // Beast has already answered framing errors (1002), bad UTF-8 (1007) and oversized
    // messages (1009) with a close frame; a closed or reset peer ends here too.
    if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
        ec != asio::error::eof)
      spdlog::debug("ws {}: read: {}", address_, ec.message());
    // Counted with the closes the server starts (start_close), unless one of those came
    // first: after our close frame Beast sends no other.
    if (!close_code_ && !beast_close_code_) {
      beast_close_code_ = close_code_sent_by_beast(ec);
      if (beast_close_code_) metrics::count_close(*beast_close_code_);
    }
    return transition(Event::kEnded);
  }
  bytes_in_ += bytes;
  ++frames_in_;
  try {
    if (ws_.got_text()) {
      auto data = buffer_.cdata();
      session_->on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
    } else {
      session_->on_binary();
    }
  } catch (const std::exception& e) {
    // Last resort: a bug while handling this frame closes this session only.
    spdlog::error("ws {}: closing after an internal error: {}", address_, e.what());
    start_close(CloseCode::kInternalError);
  }
  buffer_.consume(buffer_.size());
  // After a large message, give the memory back: idle connections are the many.
  if (buffer_.capacity() > ReadBuffer::kFirstStep) buffer_.shrink_to_fit();
  // Once closing, the close handshake reads what the peer still sends (and discards it).
  if (phase_ == Phase::kOpen) read();
}

void WsConnection::transition(Event event) {
  ConnectionStep step = next_step(phase_, event, writing_, close_code_.has_value());
  if (step.next != phase_) {
    const Phase from = phase_;
    phase_ = step.next;
    if (!keeps_deadline(from, phase_)) arm_deadline();
  }
  run(step.action);
  // The action may have moved the phase on (the session closed on its timeout): then that
  // transition armed its own deadline.
  if (step.rearm && phase_ == step.next) arm_deadline();
}

void WsConnection::run(Action action) {
  switch (action) {
    case Action::kNone:
      return;
    case Action::kStartReading:
      read();
      if (queue_head_ < queue_.size() && !writing_) write_next();
      return;
    case Action::kCheckSession:
      return session_->on_deadline();
    case Action::kSendClose:
      return send_close();
    case Action::kCutSocket: {
      if (phase_ == Phase::kCloseSent)
        spdlog::info("ws {}: the close frame was not taken in time; cutting the socket", address_);
      else
        spdlog::info("ws {}: the close grace ran out with a frame in flight; cutting the socket",
                     address_);
      cut_ = true;
      metrics::add(metrics::counters().sockets_cut);
      beast::error_code ec;
      beast::get_lowest_layer(ws_).close(ec);
      return;
    }
    case Action::kFinish:
      return finish();
  }
}

void WsConnection::arm_deadline() {
  switch (deadline_for(phase_)) {
    case ConnectionDeadline::kNone:
      return loop_.deadlines.cancel(*this);
    case ConnectionDeadline::kSession:
      // A session that has closed has no timeout left to watch; a past one would fire every
      // wheel tick.
      if (session_->closing()) return loop_.deadlines.cancel(*this);
      return loop_.deadlines.schedule(*this, session_->deadline_us());
    case ConnectionDeadline::kCloseGrace:
      return loop_.deadlines.schedule(
          *this, loop_.clock.now_us() + int64_t{server_.config.ws_close_grace_s} * 1'000'000);
    case ConnectionDeadline::kCloseBackstop:
      return loop_.deadlines.schedule(
          *this, loop_.clock.now_us() + int64_t{server_.config.ws_handshake_timeout_s} * 1'000'000 +
                     std::chrono::microseconds(LingeringSocket::kLingerTotal).count());
  }
}

void WsConnection::on_deadline_due() {
  auto self = shared_from_this();
  transition(Event::kDeadline);
}

void WsConnection::send(gateway::Frame frame) {
  // From the connection's own loop (the session answering a request) the frame is queued at
  // once: it goes out ahead of hub events still waiting in the inbox, so an auth answer
  // always precedes the events of the hub the session has just joined.
  if (loop_.ioc.get_executor().running_in_this_thread())
    enqueue(std::move(frame));
  else
    loop_.deliver(shared_from_this(), std::move(frame));
}

void WsConnection::post(std::function<void()> fn) {
  asio::post(ws_.get_executor(), [self = shared_from_this(), fn = std::move(fn)] {
    if (self->phase_ != Phase::kDone) fn();
  });
}

void WsConnection::close(CloseCode code) {
  // On the connection's own loop (the session refusing a flood) the close starts at once, so
  // the read loop stops before it takes the peer's next message: the peer gets this close
  // code, not the verdict on whatever it sent next.
  if (loop_.ioc.get_executor().running_in_this_thread())
    start_close(code);
  else
    asio::post(ws_.get_executor(), [self = shared_from_this(), code] { self->start_close(code); });
}

void WsConnection::enqueue(gateway::Frame frame) {
  if (!accepts_frames(phase_)) return;
  set_queued_bytes(queued_bytes_ + frame->size());
  if (queued_bytes_ > server_.config.send_queue_bytes) {
    spdlog::info("ws {}: closing a slow consumer ({} bytes queued)", address_, queued_bytes_);
    drop_waiting_frames();
    return start_close(CloseCode::kSlowConsumer);
  }
  queue_.push_back(std::move(frame));
  if (!writing_ && phase_ == Phase::kOpen) write_next();
}

void WsConnection::drop_waiting_frames() {
  // Not the frame being written: Beast is still reading its bytes.
  if (writing_ && queue_head_ < queue_.size()) {
    queue_.resize(queue_head_ + 1);
    set_queued_bytes(queue_[queue_head_]->size());
  } else {
    drop_queue();
  }
}

void WsConnection::drop_queue() {
  queue_.clear();
  queue_head_ = 0;
  set_queued_bytes(0);
}

void WsConnection::set_corked(bool on) {
  // While several frames wait (a history load is 51), TCP_CORK lets the kernel send them as
  // full segments instead of one segment per frame; uncorking when the queue drains pushes
  // the rest out at once, so nothing waits for the kernel's 200 ms cork limit.
  corked_ = on;
  beast::error_code ec;
  beast::get_lowest_layer(ws_).set_option(
      asio::detail::socket_option::boolean<IPPROTO_TCP, TCP_CORK>(on), ec);
}

void WsConnection::write_next() {
  // The peer closed: Beast writes its answer after the frame in flight and nothing after it.
  if (phase_ == Phase::kPeerClosing) drop_queue();
  if (queue_head_ == queue_.size()) {
    if (corked_) set_corked(false);
    // Drained: keep a small array for the next frames, give a large one back.
    if (queue_.capacity() > 8) std::vector<gateway::Frame>().swap(queue_);
    queue_.clear();
    queue_head_ = 0;
    return transition(Event::kQueueDrained);
  }
  if (!corked_ && queue_.size() - queue_head_ > 1) set_corked(true);
  writing_ = true;
  ws_.text(true);
  const gateway::Frame& f = queue_[queue_head_];
  ws_.async_write(asio::buffer(*f),
                  beast::bind_front_handler(&WsConnection::on_write, shared_from_this()));
}

void WsConnection::on_write(beast::error_code ec, size_t bytes) {
  writing_ = false;
  bytes_out_ += bytes;
  ++frames_out_;
  if (queue_head_ < queue_.size()) {
    set_queued_bytes(queued_bytes_ - queue_[queue_head_]->size());
    queue_[queue_head_++].reset();
    // A connection that never quite drains would otherwise grow dead slots forever.
    if (queue_head_ >= 64 && queue_head_ * 2 >= queue_.size()) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(queue_head_));
      queue_head_ = 0;
    }
  }
  if (ec) {
    drop_queue();
    return transition(Event::kEnded);
  }
  write_next();
}

void WsConnection::start_close(CloseCode code) {
  // Only an open connection (or one in its handshake) starts a close. Later a close frame is
  // already decided: the first close request's, Beast's answer to the peer's, or Beast's own
  // (a hub's close posted from another thread may come after any of them). Recorded, this
  // code would be counted and logged for a close frame that never went out.
  if (!accepts_frames(phase_)) return;
  if (!close_code_) {
    close_code_ = code;
    metrics::count_close(static_cast<uint16_t>(code));
  }
  transition(Event::kCloseRequested);
}

void WsConnection::send_close() {
  // As for a close the peer asks (start): the session ends before its close frame goes out.
  if (session_) session_->on_closed();
  websocket::close_reason reason(static_cast<websocket::close_code>(*close_code_),
                                 protocol::close_reason(*close_code_));
  ws_.async_close(
      reason, [self = shared_from_this()](beast::error_code) { self->transition(Event::kEnded); });
}

void WsConnection::finish() {
  beast::error_code ec;
  beast::get_lowest_layer(ws_).close(ec);
  if (session_) session_->on_closed();
  server_.remove_ws(this);
  log_access();
}

void WsConnection::log_access() {
  if (!log::access_log_enabled()) return;
  log::WsAccess a;
  a.client = address_;
  a.protocol_version = static_cast<int>(version_);
  if (close_code_) {
    a.close_code = static_cast<int>(*close_code_);
    a.close_by = "server";
  } else if (beast_close_code_) {
    a.close_code = static_cast<int>(*beast_close_code_);
    a.close_by = "server";
  } else if (ws_.reason().code != websocket::close_code::none) {
    a.close_code = static_cast<int>(ws_.reason().code);
    a.close_by = "client";
  } else {
    a.close_code = 1006;  // RFC 6455: closed without a close frame
    a.close_by = "none";
  }
  a.cut = cut_;
  a.duration_us = loop_.clock.now_us() - opened_us_;
  a.bytes_in = bytes_in_;
  a.bytes_out = bytes_out_;
  a.frames_in = frames_in_;
  a.frames_out = frames_out_;
  log::log_ws_access(a);
}

void start_ws_connection(Server::Impl& server, Loop& loop, Socket socket,
                         bhttp::request<bhttp::string_body> request, protocol::Version version,
                         std::string address) {
  auto conn =
      std::make_shared<WsConnection>(server, loop, std::move(socket), version, std::move(address));
  conn->start(std::move(request));
}

void WsConnection::set_queued_bytes(size_t bytes) {
  // The process-wide gauge moves by the difference: one relaxed atomic add per frame.
  metrics::add(metrics::counters().send_queue_bytes,
               static_cast<int64_t>(bytes) - static_cast<int64_t>(queued_bytes_));
  queued_bytes_ = bytes;
}

size_t WsConnection::version_slot() const { return version_ == protocol::Version::kV2 ? 1 : 0; }

}  // namespace rwd::net
