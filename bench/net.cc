#include "bench/net.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <stdexcept>

namespace rwd::bench {

using net::use_awaitable;

Task<tcp::socket> connect_tcp(const Options& o, uint64_t source, uint16_t port) {
  auto ex = co_await net::this_coro::executor;
  tcp::socket s(ex);
  auto addr = net::ip::make_address_v4(o.host);
  s.open(tcp::v4());
  if (o.source_addrs > 0 && addr.is_loopback()) {
    int one = 1;
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    uint32_t first = net::ip::address_v4::loopback().to_uint();
    s.bind(tcp::endpoint(
        net::ip::address_v4(first + static_cast<uint32_t>(source % uint64_t(o.source_addrs))), 0));
  }
  co_await s.async_connect(tcp::endpoint(addr, port), use_awaitable);
  s.set_option(tcp::no_delay(true));
  co_return s;
}

void abort_socket(tcp::socket& s) {
  boost::system::error_code ec;
  if (!s.is_open()) return;
  s.set_option(net::socket_base::linger(true, 0), ec);
  s.close(ec);
}

bool Frame::parse(std::string_view text) {
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return false;
  auto t = doc.FindMember("type");
  if (t == doc.MemberEnd() || !t->value.IsString()) return false;
  type = std::string_view(t->value.GetString(), t->value.GetStringLength());
  auto p = doc.FindMember("payload");
  payload = p == doc.MemberEnd() ? nullptr : &p->value;
  return true;
}

bool FrameParser::parse(std::string_view text) {
  doc_.SetNull();
  pool_.Clear();
  doc_.Parse(text.data(), text.size());
  if (doc_.HasParseError() || !doc_.IsObject()) return false;
  auto t = doc_.FindMember("type");
  if (t == doc_.MemberEnd() || !t->value.IsString()) return false;
  type = std::string_view(t->value.GetString(), t->value.GetStringLength());
  auto p = doc_.FindMember("payload");
  payload = p == doc_.MemberEnd() ? nullptr : &p->value;
  return true;
}

std::string Frame::payload_str(const char* key) const {
  if (!payload || !payload->IsObject()) return "";
  auto m = payload->FindMember(key);
  if (m == payload->MemberEnd() || !m->value.IsString()) return "";
  return std::string(m->value.GetString(), m->value.GetStringLength());
}

Task<std::shared_ptr<WsConn>> WsConn::open(const Options& o, uint64_t source,
                                           std::string_view path) {
  const uint16_t port = o.ws_ports.empty() ? o.port : o.ws_ports[source % o.ws_ports.size()];
  auto conn = std::make_shared<WsConn>(co_await connect_tcp(o, source, port));
  conn->ws_.auto_fragment(false);
  conn->ws_.read_message_max(16 << 20);
  conn->ws_.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::user_agent, "rewind-bench"); }));
  co_await conn->ws_.async_handshake(o.host + ":" + std::to_string(port), std::string(path),
                                     use_awaitable);
  co_return conn;
}

void WsConn::send(std::string frame) {
  if (closed_) return;
  out_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    net::co_spawn(
        ws_.get_executor(), [self = shared_from_this()] { return self->drain(); }, net::detached);
  }
}

Task<void> WsConn::drain() {
  boost::system::error_code ec;
  while (!out_.empty() && !closed_) {
    co_await ws_.async_write(net::buffer(out_.front()), net::redirect_error(use_awaitable, ec));
    if (ec) {
      closed_ = true;
      out_.clear();
      break;
    }
    out_.pop_front();
  }
  writing_ = false;
}

Task<std::string_view> WsConn::read() {
  in_.consume(in_.size());
  boost::system::error_code ec;
  co_await ws_.async_read(in_, net::redirect_error(use_awaitable, ec));
  if (ec) {
    closed_ = true;
    throw boost::system::system_error(ec);
  }
  auto d = in_.data();
  co_return std::string_view(static_cast<const char*>(d.data()), d.size());
}

Task<Frame> WsConn::read_until(std::string_view want) {
  for (;;) {
    std::string_view text = co_await read();
    Frame f;
    if (!f.parse(text)) throw std::runtime_error("malformed frame: " + std::string(text));
    if (f.type == "error" || f.type == want) co_return f;
  }
}

Task<std::string> WsConn::hello(const std::string& token) {
  send(R"({"type":"heartbeat","payload":{"count":0}})");
  co_await read_until("heartbeat");
  send(R"({"type":"auth","payload":{"auth":")" + token + "\"}}");
  Frame f = co_await read_until("auth");
  if (f.type == "error") {
    if (f.error_code() == "4000") co_return "";
    throw std::runtime_error("auth failed: error " + f.error_code() + " " +
                             f.payload_str("reason"));
  }
  auto su = f.payload->FindMember("self_user");
  if (su == f.payload->MemberEnd() || !su->value.IsObject())
    throw std::runtime_error("auth response without self_user");
  auto id = su->value.FindMember("id");
  if (id == su->value.MemberEnd()) throw std::runtime_error("self_user without id");
  if (id->value.IsString()) co_return std::string(id->value.GetString());
  if (id->value.IsUint64()) co_return std::to_string(id->value.GetUint64());
  throw std::runtime_error("self_user.id is neither a string nor an integer");
}

void WsConn::abort() {
  closed_ = true;
  abort_socket(ws_.next_layer());
}

Task<HttpClient::Response> HttpClient::post_form(std::string target, std::string body) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::content_type, "application/x-www-form-urlencoded");
  req.body() = std::move(body);
  co_return co_await exchange(std::move(req));
}

Task<HttpClient::Response> HttpClient::get(std::string target) {
  co_return co_await exchange(http::request<http::string_body>{http::verb::get, target, 11});
}

Task<HttpClient::Response> HttpClient::exchange(http::request<http::string_body> req) {
  req.set(http::field::host, o_.host + ":" + std::to_string(o_.port));
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "rewind-bench");
  req.keep_alive(true);
  req.prepare_payload();
  // A kept-alive connection may have been closed by the server meanwhile: retry once on a
  // fresh one.
  for (int attempt = 0;; attempt++) {
    bool fresh = false;
    if (!stream_) {
      stream_.emplace(co_await connect_tcp(o_, source_, o_.port));
      buf_.clear();
      fresh = true;
    }
    boost::system::error_code ec;
    http::response<http::string_body> res;
    co_await http::async_write(*stream_, req, net::redirect_error(use_awaitable, ec));
    if (!ec) co_await http::async_read(*stream_, buf_, res, net::redirect_error(use_awaitable, ec));
    if (ec) {
      abort_socket(stream_->socket());
      stream_.reset();
      if (fresh || attempt > 0) throw boost::system::system_error(ec);
      continue;
    }
    if (!res.keep_alive()) {
      boost::system::error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream_.reset();
    }
    co_return Response{res.result_int(), std::move(res.body())};
  }
}

Task<void> Latch::wait() {
  while (n_ > 0) {
    boost::system::error_code ec;
    co_await timer_.async_wait(net::redirect_error(use_awaitable, ec));
  }
}

Task<void> parallel_for(size_t n, int concurrency, std::function<Task<void>(size_t)> fn) {
  auto ex = co_await net::this_coro::executor;
  size_t runners = std::min<size_t>(n, std::max(1, concurrency));
  if (runners == 0) co_return;
  auto next = std::make_shared<size_t>(0);
  auto error = std::make_shared<std::exception_ptr>();
  auto latch = std::make_shared<Latch>(ex, runners);
  for (size_t r = 0; r < runners; r++) {
    net::co_spawn(
        ex,
        [=]() -> Task<void> {
          while (*next < n && !*error) {
            size_t i = (*next)++;
            try {
              co_await fn(i);
            } catch (...) {
              if (!*error) *error = std::current_exception();
            }
          }
          latch->count_down();
        },
        net::detached);
  }
  co_await latch->wait();
  if (*error) std::rethrow_exception(*error);
}

void run_sync(net::io_context& io, Task<void> task) {
  std::exception_ptr error;
  bool done = false;
  net::co_spawn(io, std::move(task), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  if (error) std::rethrow_exception(error);
}

Task<void> sleep_until_ns(int64_t t) {
  net::steady_timer timer(co_await net::this_coro::executor, to_time_point(t));
  co_await timer.async_wait(use_awaitable);
}

Task<void> sleep_for_s(double s) { co_await sleep_until_ns(now_ns() + int64_t(s * 1e9)); }

std::string form_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string base64(std::string_view s) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
  }
  if (size_t rest = s.size() - i) {
    uint32_t v = uint8_t(s[i]) << 16;
    if (rest == 2) v |= uint8_t(s[i + 1]) << 8;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += rest == 2 ? a[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace rwd::bench
