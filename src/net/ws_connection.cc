#include "net/ws_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>

namespace rwd::net {

using protocol::CloseCode;

WsConnection::WsConnection(Server::Impl& server, Loop& loop, Socket socket,
                           protocol::Version version, std::string address)
    : server_(server),
      loop_(loop),
      ws_(std::move(socket)),
      version_(version),
      address_(std::move(address)) {}

WsConnection::~WsConnection() {
  // Normally finish() has unlinked it already; when the loops stop with connections open they
  // are destroyed with their loop, on one thread.
  loop_.deadlines.cancel(*this);
  server_.release_address(address_);
}

void WsConnection::start(bhttp::request<bhttp::string_body> request) {
  server_.add_ws(this);
  session_ = std::make_shared<gateway::Session>(server_.services, weak_from_this(), version_);
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(5);    // also bounds the close handshake
  t.idle_timeout = websocket::stream_base::none();  // heartbeats decide liveness
  t.keep_alive_pings = false;
  ws_.set_option(t);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(bhttp::field::server, "rewind"); }));
  ws_.read_message_max(server_.config.max_message_bytes);
  ws_.auto_fragment(false);
  ws_.async_accept(request,
                   beast::bind_front_handler(&WsConnection::on_accept, shared_from_this()));
}

void WsConnection::on_accept(beast::error_code ec) {
  if (ec) return finish();
  accepted_ = true;
  if (server_.stopping) return start_close(CloseCode::kGoingAway);
  arm_deadline();
  read();
  if (queue_head_ < queue_.size() && !writing_) write_next();
}

void WsConnection::read() {
  ws_.async_read(buffer_, beast::bind_front_handler(&WsConnection::on_read, shared_from_this()));
}

void WsConnection::on_read(beast::error_code ec, size_t) {
  if (ec) {
    // Beast has already answered framing errors (1002), bad UTF-8 (1007) and oversized
    // messages (1009) with a close frame; a closed or reset peer ends here too.
    if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
        ec != asio::error::eof)
      spdlog::debug("ws {}: read: {}", address_, ec.message());
    return finish();
  }
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
  if (!closing_) read();
}

void WsConnection::arm_deadline() {
  if (closing_) return;
  loop_.deadlines.schedule(*this, session_->deadline_us());
}

void WsConnection::on_deadline_due() {
  if (finished_) return;
  auto self = shared_from_this();
  if (closing_) {
    // The close grace period ran out with a frame still in flight: cut the socket.
    if (!close_sent_) {
      beast::error_code ec;
      beast::get_lowest_layer(ws_).close(ec);
    }
    return;
  }
  session_->on_deadline();
  arm_deadline();  // the deadline moved on (a heartbeat came): wait again
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
    if (!self->finished_) fn();
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
  if (closing_ || finished_) return;
  queued_bytes_ += frame->size();
  if (queued_bytes_ > server_.config.send_queue_bytes) {
    spdlog::info("ws {}: closing a slow consumer ({} bytes queued)", address_, queued_bytes_);
    // Drop what waits, but not the frame being written: Beast is still reading its bytes.
    if (writing_ && queue_head_ < queue_.size()) {
      queue_.resize(queue_head_ + 1);
      queued_bytes_ = queue_[queue_head_]->size();
    } else {
      queue_.clear();
      queue_head_ = 0;
      queued_bytes_ = 0;
    }
    return start_close(CloseCode::kSlowConsumer);
  }
  queue_.push_back(std::move(frame));
  if (!writing_ && accepted_) write_next();
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
  if (queue_head_ == queue_.size()) {
    if (corked_) set_corked(false);
    // Drained: keep a small array for the next frames, give a large one back.
    if (queue_.capacity() > 8) std::vector<gateway::Frame>().swap(queue_);
    queue_.clear();
    queue_head_ = 0;
    if (closing_ && !close_sent_) start_close(close_code_);
    return;
  }
  if (!corked_ && queue_.size() - queue_head_ > 1) set_corked(true);
  writing_ = true;
  ws_.text(true);
  const gateway::Frame& f = queue_[queue_head_];
  ws_.async_write(asio::buffer(*f),
                  beast::bind_front_handler(&WsConnection::on_write, shared_from_this()));
}

void WsConnection::on_write(beast::error_code ec, size_t) {
  writing_ = false;
  if (queue_head_ < queue_.size()) {
    queued_bytes_ -= queue_[queue_head_]->size();
    queue_[queue_head_++].reset();
    // A connection that never quite drains would otherwise grow dead slots forever.
    if (queue_head_ >= 64 && queue_head_ * 2 >= queue_.size()) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(queue_head_));
      queue_head_ = 0;
    }
  }
  if (ec) {
    queue_.clear();
    queue_head_ = 0;
    queued_bytes_ = 0;
    return finish();
  }
  write_next();
}

void WsConnection::start_close(CloseCode code) {
  if (finished_ || close_sent_) return;
  if (!closing_) {
    closing_ = true;
    close_code_ = code;
    loop_.deadlines.cancel(*this);
  }
  if (!accepted_) return;  // on_accept will close
  if (writing_) {
    // Let the frame in flight finish, but not forever: a peer that stopped reading never
    // completes it, so cut the socket after the grace period.
    if (!DeadlineHook::linked())  // the first request starts the grace period; later ones wait
      loop_.deadlines.schedule(*this, loop_.clock.now_us() + 5'000'000);
    return;
  }
  close_sent_ = true;
  websocket::close_reason reason(static_cast<websocket::close_code>(close_code_),
                                 protocol::close_reason(close_code_));
  ws_.async_close(reason, [self = shared_from_this()](beast::error_code) { self->finish(); });
}

void WsConnection::finish() {
  if (finished_) return;
  finished_ = true;
  loop_.deadlines.cancel(*this);
  beast::error_code ec;
  beast::get_lowest_layer(ws_).close(ec);
  if (session_) session_->on_closed();
  server_.remove_ws(this);
}

void start_ws_connection(Server::Impl& server, Loop& loop, Socket socket,
                         bhttp::request<bhttp::string_body> request, protocol::Version version,
                         std::string address) {
  auto conn =
      std::make_shared<WsConnection>(server, loop, std::move(socket), version, std::move(address));
  conn->start(std::move(request));
}

}  // namespace rwd::net
