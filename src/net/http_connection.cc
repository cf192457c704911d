#include <spdlog/spdlog.h>

#include <optional>

#include "base/client_address.h"
#include "http/loggable_target.h"
#include "log/access_log.h"
#include "metrics/counters.h"
#include "net/server_state.h"

namespace rwd::net {

namespace {

// One HTTP/1.1 connection: keep-alive, one request at a time, a fresh parser with header
// and body limits and a deadline for each request. A WebSocket upgrade to /ws hands the
// socket over to a WsConnection.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(Server::Impl& server, Loop& loop, Socket socket, bool admin)
      : server_(server), loop_(loop), stream_(std::move(socket)), admin_(admin) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped())
        addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
      peer_ = addr.to_string();
    }
  }

  // A connection accepted while the server drains still gets its one request answered (a
  // proxy's readiness probe must read 503, not a refused connection).
  void start() { read(true); }

 private:
  void read(bool first = false) {
    if (server_.stopping && !first) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.config.max_header_bytes));
    parser_->body_limit(server_.config.max_body_bytes);
    stream_.expires_after(std::chrono::seconds(server_.config.http_read_timeout_s));
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&HttpConnection::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t bytes) {
    begin_access(bytes);
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return close();
    // The deadline covers the whole request, so a peer trickling its headers is cut off like
    // an idle keep-alive one. Beast has already closed the socket: nothing can be answered.
    if (ec == beast::error::timeout) return close();
    if (ec == bhttp::error::header_limit) return fail(Errc::kHeadersTooLarge);
    if (ec == bhttp::error::body_limit) return fail(Errc::kPayloadTooLarge);
    if (ec) return fail(Error{Errc::kBadRequest, "malformed HTTP request: " + ec.message()});

    auto& req = parser_->get();
    client_ = client_of(req);
    note_access(req);
    if (admin_ && websocket::is_upgrade(req)) return fail(Errc::kRouteNotFound);
    if (websocket::is_upgrade(req)) return upgrade(parser_->release());

    http::Request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.content_type = std::string(req[bhttp::field::content_type]);
    r.accept = std::string(req[bhttp::field::accept]);
    r.accept_language = std::string(req[bhttp::field::accept_language]);
    r.authorization = std::string(req[bhttp::field::authorization]);
    r.user_agent = std::string(req[bhttp::field::user_agent]);
    r.if_none_match = std::string(req[bhttp::field::if_none_match]);
    r.body = std::move(req.body());
    r.client_address = client_;
    bool keep_alive = req.keep_alive();
    bool head = req.method() == bhttp::verb::head;
    unsigned version = req.version();
    ++server_.http_in_flight;
    stream_.expires_never();
    auto respond = [self = shared_from_this(), keep_alive, head,
                    version](http::Response res) mutable {
      asio::post(self->stream_.get_executor(), [self, res = std::move(res), keep_alive, head,
                                                version]() mutable {
        self->write(std::move(res), keep_alive && !self->server_.stopping, head, version, true);
      });
    };
    if (admin_)
      server_.admin_router->handle(std::move(r), std::move(respond));
    else
      server_.router.handle(std::move(r), std::move(respond));
  }

  void upgrade(bhttp::request<bhttp::string_body> req) {
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query =
        target.find('?') == std::string_view::npos ? "" : target.substr(target.find('?') + 1);
    if (path != "/ws") return fail(Errc::kRouteNotFound);
    protocol::Version version = protocol::Version::kV1;
    for (size_t start = 0; start <= query.size();) {
      size_t amp = query.find('&', start);
      std::string_view kv = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
      if (kv == "v=2")
        version = protocol::Version::kV2;
      else if (kv == "v=1" || kv.empty()) {
      } else if (kv.rfind("v=", 0) == 0)
        return fail(Error{Errc::kBadRequest, "unknown protocol version; use v=1 or v=2."});
      if (amp == std::string_view::npos) break;
      start = amp + 1;
    }
    const auto& allowed = server_.config.allowed_origins;
    auto origin = req[bhttp::field::origin];
    if (!allowed.empty() && !origin.empty() &&
        std::find(allowed.begin(), allowed.end(), std::string(origin)) == allowed.end())
      return fail(Errc::kForbiddenOrigin);
    if (server_.stopping) return fail(Error{Errc::kOverloaded, "the server is shutting down."});
    if (!server_.acquire_address(client_)) {
      spdlog::info("refusing a WebSocket from {}: too many connections", client_);
      metrics::count_rate_limited(metrics::RateScope::kAddress);
      return fail(Error{Errc::kRateLimited, "too many connections from this address."});
    }
    start_ws_connection(server_, loop_, stream_.release_socket(), std::move(req), version, client_);
  }

  // The client's address for this request: the peer's, or behind a trusted proxy the one its
  // X-Forwarded-For names (base/client_address.h). Every value of the header counts, in order.
  std::string client_of(const bhttp::request<bhttp::string_body>& req) {
    const AddressSet& trusted = server_.config.trusted_proxies;
    if (trusted.empty()) return peer_;
    std::string forwarded_for;
    for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it) {
      if (!forwarded_for.empty()) forwarded_for += ',';
      forwarded_for.append(it->value().data(), it->value().size());
    }
    ClientAddress client = client_address(peer_, forwarded_for, trusted);
    if (client.malformed_forwarded_for)
      spdlog::debug("a malformed X-Forwarded-For from proxy {}: using the proxy's address", peer_);
    return std::move(client.address);
  }

  void fail(const Error& e) {
    http::Response res = http::Router::error_response(e);
    linger_ = true;  // the rest of the refused request may still be arriving
    write(std::move(res), false, false, 11, false);
  }

  void write(http::Response res, bool keep_alive, bool head, unsigned version, bool counted) {
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(res.status), version);
    msg->set(bhttp::field::server, "rewind");
    msg->set("X-Rewind-Node", server_.node_id);
    if (!res.content_type.empty()) msg->set(bhttp::field::content_type, res.content_type);
    msg->set(bhttp::field::cache_control, "no-store");
    for (auto& [k, v] : res.headers) msg->set(k, v);
    msg->keep_alive(keep_alive);
    size_t length = res.body.size();
    msg->body() = head ? std::string() : std::move(res.body);
    msg->prepare_payload();
    if (head) msg->content_length(length);
    // A 304 has no body, and a Content-Length on it would have to be the full file's.
    if (res.status == 304 || res.status == 204) msg->erase(bhttp::field::content_length);
    stream_.expires_after(std::chrono::seconds(server_.config.http_write_timeout_s));
    bhttp::async_write(
        stream_, *msg,
        [self = shared_from_this(), msg, keep_alive, counted](beast::error_code ec, size_t bytes) {
          self->log_access(msg->result_int(), ec ? 0 : bytes);
          if (counted && --self->server_.http_in_flight == 0 && self->server_.stopping)
            self->server_.check_shutdown();
          if (ec) return self->close();
          if (!keep_alive) return self->linger_ ? self->linger() : self->close();
          self->read();
        });
  }

  // After refusing a request whose rest may still be arriving (a body past the limit), stop
  // sending and drop input for a moment before closing: closing a socket with unread input
  // sends a reset, and the peer would lose the answer.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->close();
                              self->drain();
                            });
  }

  // The access log's record of the request being answered (log/access_log.h): begun when its
  // read ends, written when its answer is. Gathered only while the access log is on.
  void begin_access(size_t bytes) {
    access_on_ = log::access_log_enabled();
    if (!access_on_) return;
    access_method_ = "-";
    access_target_ = "-";
    access_request_bytes_ = bytes;
    access_start_us_ = loop_.clock.now_us();
  }

  void note_access(const bhttp::request<bhttp::string_body>& req) {
    if (!access_on_) return;
    access_method_ = std::string(req.method_string());
    access_target_ =
        http::loggable_target(std::string_view(req.target().data(), req.target().size()));
  }

  void log_access(unsigned status, size_t response_bytes) {
    if (!access_on_) return;
    access_on_ = false;
    log::HttpAccess a;
    a.method = access_method_;
    a.target = access_target_;
    a.client = client_.empty() ? peer_ : client_;
    a.status = static_cast<int>(status);
    a.request_bytes = access_request_bytes_;
    a.response_bytes = response_bytes;
    a.duration_us = loop_.clock.now_us() - access_start_us_;
    log::log_http_access(a);
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  Server::Impl& server_;
  Loop& loop_;
  HttpStream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string peer_;    // the TCP peer
  std::string client_;  // the current request's client (client_of)
  const bool admin_;    // on the admin listener: the admin routes only
  bool linger_ = false;
  bool access_on_ = false;
  std::string access_method_;
  std::string access_target_;
  uint64_t access_request_bytes_ = 0;
  int64_t access_start_us_ = 0;
};

}  // namespace

void start_http_connection(Server::Impl& server, Loop& loop, Socket socket, bool admin) {
  std::make_shared<HttpConnection>(server, loop, std::move(socket), admin)->start();
}

}  // namespace rwd::net
