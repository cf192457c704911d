#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "base/address_set.h"
#include "base/shared_gauge.h"
#include "metrics/counters.h"
#include "net/server_state.h"
#include "net/ws_connection.h"

namespace rwd::net {

namespace {

std::vector<std::unique_ptr<Loop>> make_loops(int n, const MonotonicClock& clock) {
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < std::max(1, n); ++i) loops.push_back(std::make_unique<Loop>(i, clock));
  return loops;
}

}  // namespace

Loop::Loop(int index, const MonotonicClock& clock)
    : index(index),
      clock(clock),
      ioc(1),
      work(asio::make_work_guard(ioc)),
      tick_timer_(ioc.get_executor()) {}

void Loop::start_ticking() {
  asio::post(ioc, [this] { tick(); });
}

void Loop::tick() {
  for (DeadlineHook* h : deadlines.take_due(clock.now_us()))
    WsConnection::from_hook(*h).on_deadline_due();
  tick_timer_.expires_after(std::chrono::microseconds(DeadlineWheel::kSlotUs));
  tick_timer_.async_wait([this](beast::error_code ec) {
    if (!ec) tick();
  });
}

void Loop::deliver(std::shared_ptr<WsConnection> conn, gateway::Frame frame) {
  // The wake-up is posted under the lock: a thread that finds the inbox non-empty and then
  // posts something else for the same connection (a close) must find the drain queued
  // ahead of it, or the frame would be dropped by the close it preceded.
  std::lock_guard lock(inbox_mu_);
  bool wake = inbox_.empty();
  inbox_.emplace_back(std::move(conn), std::move(frame));
  if (wake) asio::post(ioc, [this] { drain(); });
}

void Loop::drain() {
  std::vector<std::pair<std::shared_ptr<WsConnection>, gateway::Frame>> batch;
  {
    std::lock_guard lock(inbox_mu_);
    batch.swap(inbox_);
  }
  for (auto& [conn, frame] : batch) conn->enqueue(std::move(frame));
}

Server::Impl::Impl(const Config& c, http::Router& r, gateway::Services& s)
    : config(c),
      router(r),
      services(s),
      loops(make_loops(c.threads, s.monotonic)),
      acceptor(loops[0]->ioc.get_executor()),
      admin_acceptor(loops[0]->ioc.get_executor()),
      signals(loops[0]->ioc.get_executor(), SIGINT, SIGTERM),
      accept_backoff(loops[0]->ioc.get_executor()),
      shutdown_timer(loops[0]->ioc.get_executor()) {}

Server::Server(const Config& config, Listener listener, http::Router& router,
               gateway::Services& services)
    : impl_(std::make_unique<Impl>(config, router, services)) {
  // Registering a descriptor with the loop's reactor fails only when the process is out of
  // resources; the throw then stops start-up.
  int fd = listener.release();
  beast::error_code ec;
  impl_->acceptor.assign(listener.ipv6() ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    throw beast::system_error(ec, "cannot accept on the listening socket");
  }
}

Server::~Server() {
  impl_->stop_loops();
  for (auto& t : impl_->threads)
    if (t.joinable()) t.join();
}

void Server::Impl::stop_loops() {
  for (auto& loop : loops) loop->ioc.stop();
}

uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::run() {
  Impl& s = *impl_;
  s.signals.async_wait([&s](beast::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", sig);
    s.begin_shutdown();  // the signal set runs on the first loop, with the acceptor
  });
  asio::dispatch(s.acceptor.get_executor(), [&s] {
    s.accept();
    s.accept_admin();
  });
  for (auto& loop : s.loops) loop->start_ticking();
  for (size_t i = 1; i < s.loops.size(); ++i)
    s.threads.emplace_back([&s, i] {
      std::string name = "net-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      s.loops[i]->ioc.run();
    });
  pthread_setname_np(pthread_self(), "net-0");
  s.loops[0]->ioc.run();
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
  s.threads.clear();
}

void Server::stop() {
  asio::post(impl_->acceptor.get_executor(), [s = impl_.get()] { s->begin_shutdown(); });
}

bool Server::stopping() const { return impl_->stopping; }

void Server::set_node_id(int worker_id) { impl_->node_id = std::to_string(worker_id); }
void Server::count_connections_in(SharedGauge* gauge) { impl_->shared_connections = gauge; }

void Server::serve_admin(Listener listener, http::AdminRouter& admin) {
  int fd = listener.release();
  beast::error_code ec;
  impl_->admin_acceptor.assign(listener.ipv6() ? tcp::v6() : tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    throw beast::system_error(ec, "cannot accept on the admin listening socket");
  }
  impl_->admin_router = &admin;
}

void Server::Impl::accept_admin() {
  if (!admin_acceptor.is_open()) return;
  // Scrapes are rare and cheap: every admin connection lives on the first loop.
  Loop& loop = *loops[0];
  admin_acceptor.async_accept(
      loop.ioc.get_executor(), [this, &loop](beast::error_code ec, Socket socket) {
        if (ec == asio::error::operation_aborted || !admin_acceptor.is_open()) return;
        if (!ec) {
          start_http_connection(*this, loop, std::move(socket), /*admin=*/true);
          return accept_admin();
        }
        // Out of descriptors or another transient failure: try again shortly.
        spdlog::debug("admin accept: {}", ec.message());
        auto retry = std::make_shared<Timer>(loop.ioc.get_executor());
        retry->expires_after(std::chrono::milliseconds(100));
        retry->async_wait([this, retry](beast::error_code) { accept_admin(); });
      });
}

void Server::Impl::accept() {
  // Accepting goes on while the connections drain; finish_shutdown closes the listener.
  if (!acceptor.is_open()) return;
  // Sockets are dealt to the loops in turn; each stays on its loop for life.
  Loop& loop = *loops[next_loop];
  next_loop = (next_loop + 1) % loops.size();
  acceptor.async_accept(loop.ioc.get_executor(), [this, &loop](beast::error_code ec, Socket sock) {
    on_accept(ec, std::move(sock), loop);
  });
}

void Server::Impl::on_accept(beast::error_code ec, Socket socket, Loop& loop) {
  if (ec) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE ||
        ec == asio::error::no_buffer_space) {
      // Out of file descriptors: pause accepting briefly instead of spinning; the open
      // sessions are unaffected. Counted every time, logged once per episode.
      metrics::add(metrics::counters().accept_pauses);
      int64_t now = loops[0]->clock.now_us();
      end_fd_exhaustion_if_quiet(now);  // a refusal after a quiet second starts a new one
      if (!in_fd_exhaustion) {
        spdlog::warn(
            "cannot accept connections: {} (open-file limit reached); refusing new "
            "connections until descriptors free up",
            ec.message());
        in_fd_exhaustion = true;
        fd_exhaustion_started_us = now;
        fd_exhaustion_pauses = 0;
      }
      fd_exhaustion_last_us = now;
      ++fd_exhaustion_pauses;
      accept_backoff.expires_after(std::chrono::microseconds(kFdPauseUs));
      accept_backoff.async_wait([this](beast::error_code) { accept(); });
      return;
    }
    spdlog::debug("accept: {}", ec.message());
  } else {
    if (in_fd_exhaustion) end_fd_exhaustion_if_quiet(loops[0]->clock.now_us());
    // Chat frames are small and latency-bound: never hold one back waiting for an ACK.
    beast::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    // Started on its own loop's thread: nothing of a connection runs anywhere else.
    asio::post(loop.ioc, [this, &loop, socket = std::move(socket)]() mutable {
      start_http_connection(*this, loop, std::move(socket));
    });
  }
  accept();
}

void Server::Impl::end_fd_exhaustion_if_quiet(int64_t now_us) {
  if (!in_fd_exhaustion || now_us - fd_exhaustion_last_us < kFdEpisodeQuietUs) return;
  spdlog::info(
      "accepting connections again: accepts were refused for {:.1f} s ({} pause(s) of 100 ms)",
      double(fd_exhaustion_last_us - fd_exhaustion_started_us + kFdPauseUs) / 1e6,
      fd_exhaustion_pauses);
  in_fd_exhaustion = false;
}

bool Server::Impl::acquire_address(const std::string& address) {
  std::lock_guard lock(mu);
  std::string bucket = address_bucket(address);
  int& n = per_address[bucket];
  int elsewhere = shared_connections ? shared_connections->others(bucket) : 0;
  if (n + elsewhere >= config.max_connections_per_address) {
    if (n == 0) per_address.erase(bucket);
    return false;
  }
  ++n;
  if (shared_connections) shared_connections->add(bucket);
  return true;
}

void Server::Impl::release_address(const std::string& address) {
  std::lock_guard lock(mu);
  std::string bucket = address_bucket(address);
  auto it = per_address.find(bucket);
  if (it == per_address.end()) return;
  if (shared_connections) shared_connections->remove(bucket);
  if (--it->second <= 0) per_address.erase(it);
}

void Server::Impl::add_ws(WsConnection* c) {
  std::lock_guard lock(mu);
  ws_connections.insert(c);
}

void Server::Impl::remove_ws(WsConnection* c) {
  {
    std::lock_guard lock(mu);
    ws_connections.erase(c);
  }
  if (stopping) check_shutdown();
}

void Server::Impl::check_shutdown() {
  asio::post(acceptor.get_executor(), [this] { maybe_finish_shutdown(); });
}

void Server::Impl::begin_shutdown() {
  if (stopping.exchange(true)) return;
  signals.cancel();
  std::vector<std::shared_ptr<WsConnection>> open;
  {
    std::lock_guard lock(mu);
    for (WsConnection* c : ws_connections)
      if (auto p = c->weak_from_this().lock()) open.push_back(std::move(p));
  }
  spdlog::info("closing {} WebSocket connections", open.size());
  for (auto& c : open) c->close(protocol::CloseCode::kGoingAway);
  shutdown_timer.expires_after(std::chrono::seconds(config.shutdown_timeout_s));
  shutdown_timer.async_wait([this](beast::error_code ec) {
    if (ec) return;
    size_t left;
    {
      std::lock_guard lock(mu);
      left = ws_connections.size();
    }
    if (left || http_in_flight)
      spdlog::warn("shutdown: {} connections and {} HTTP requests still open; stopping anyway",
                   left, http_in_flight.load());
    finish_shutdown();
  });
  maybe_finish_shutdown();
}

void Server::Impl::maybe_finish_shutdown() {
  {
    std::lock_guard lock(mu);
    if (!ws_connections.empty() || http_in_flight != 0) return;
  }
  shutdown_timer.cancel();
  finish_shutdown();
}

void Server::Impl::finish_shutdown() {
  beast::error_code ec;
  acceptor.close(ec);
  admin_acceptor.close(ec);
  accept_backoff.cancel();
  stop_loops();
}

}  // namespace rwd::net
