#include "bench/scenarios.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "bench/accounts.h"
#include "bench/fleet.h"
#include "bench/net.h"
#include "bench/proc.h"
#include "bench/report.h"

namespace rwd::bench {
namespace {

constexpr int64_t kMs = 1000000;

// This worker's share of `total` items spread over the workers.
size_t share(size_t total, const WorkerCtx& ctx) {
  return total / ctx.count() + (static_cast<size_t>(ctx.index()) < total % ctx.count());
}

std::string ws_path(const Options& o) { return o.ws_version == 2 ? "/ws?v=2" : "/ws"; }

void sleep_s(double s) {
  if (s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

// The app sends a heartbeat every 40 s and the server drops a connection after 45 s of
// silence: keep every bench connection alive the same way.
Task<void> heartbeats(std::shared_ptr<WsConn> c, double interval_s, double first_s) {
  co_await sleep_for_s(first_s);
  for (int64_t n = 1; !c->closed(); n++) {
    c->send(R"({"type":"heartbeat","payload":{"count":)" + std::to_string(n) + "}}");
    co_await sleep_for_s(interval_s);
  }
}

// The parent's side of a run: fork the workers, wait until they are ready, start them,
// sample the server at the edges of the measured window, and merge what they measured.
struct RunResult {
  WorkerOut total;
  std::vector<WorkerOut> each;
  std::vector<std::string> ready_notes;
  // From the workers' start to every worker ready (connected): its length and the server's
  // CPU in it.
  double ready_s = 0, ready_server_cpu_s = 0;
};

RunResult run_fleet(const Options& o, Report& rep, pid_t spid, int workers, WorkerMain main,
                    bool hold) {
  RunResult rr;
  Fleet fleet;
  ProcStats started = read_proc(spid);
  int64_t started_ns = now_ns();
  fleet.start(workers, main);
  rr.ready_notes = fleet.expect_all("ready", 900);
  rr.ready_s = (now_ns() - started_ns) / 1e9;
  rr.ready_server_cpu_s = read_proc(spid).cpu_s - started.cpu_s;
  std::cerr << "run: " << workers << " worker(s) ready, running" << std::endl;
  rep.server_before = read_proc(spid);
  fleet.tell_all("go");
  ProcStats a, b;
  if (hold) {
    // Let the last connections settle before reading the server's memory.
    sleep_s(1);
    a = read_proc(spid);
    int64_t t0 = now_ns();
    sleep_s(o.hold_s);
    b = read_proc(spid);
    rep.measured_s = (now_ns() - t0) / 1e9;
    fleet.tell_all("stop");
  } else {
    sleep_s(o.warmup_s);
    a = read_proc(spid);
    int64_t t0 = now_ns();
    sleep_s(o.duration_s);
    b = read_proc(spid);
    rep.measured_s = (now_ns() - t0) / 1e9;
  }
  auto lines = fleet.expect_all("done", o.warmup_s + o.duration_s + o.hold_s + 300);
  rep.server_after = hold ? a : b;
  rep.server_cpu_s = b.cpu_s - a.cpu_s;
  for (const auto& l : lines) {
    rr.each.push_back(WorkerOut::decode(l));
    rr.total.merge(rr.each.back());
    const auto& w = rr.each.back();
    rep.client_busiest_worker =
        std::max(rep.client_busiest_worker, w.run_wall_s > 0 ? w.run_cpu_s / w.run_wall_s : 0);
  }
  rep.workers = workers;
  rep.client_run_cpu_s = rr.total.run_cpu_s;
  double pu, ps;
  self_cpu(pu, ps);
  rep.client_cpu_s = rr.total.cpu_user_s + rr.total.cpu_sys_s + pu + ps;
  return rr;
}

void common_params(Report& rep, const Options& o, int workers) {
  rep.param("workers", workers);
  rep.param("source_addrs", o.source_addrs);
}

// ---------------------------------------------------------------------------------------
// idle: N authenticated connections that only send heartbeats.

// Reads and drops a connection's frames, so the socket's buffers never fill, counting the
// presence and typing events among them; ends when the connection does.
Task<void> count_events(std::shared_ptr<WsConn> c, double& presence, double& typing) {
  try {
    for (;;) {
      std::string_view text = co_await c->read();
      if (text.find(R"("type":"presence")") != std::string_view::npos) presence++;
      if (text.find(R"("type":"typing")") != std::string_view::npos) typing++;
    }
  } catch (...) {
  }
}

// A person typing to their friend all along: a typing frame in the chat every interval_s (the
// first after first_s), as a client repeats it while its person types.
Task<void> keep_typing(std::shared_ptr<WsConn> c, std::string chat_id, double interval_s,
                       double first_s) {
  co_await sleep_for_s(first_s);
  const std::string frame = R"({"type":"typing","payload":{"chat_id":")" + chat_id + R"("}})";
  while (!c->closed()) {
    c->send(frame);
    co_await sleep_for_s(interval_s);
  }
}

Task<void> idle_worker(WorkerCtx& ctx, const Options& o, const Pool& pool, size_t users) {
  auto ex = co_await net::this_coro::executor;
  std::vector<size_t> mine;
  for (size_t i = ctx.index(); i < size_t(o.connections); i += ctx.count()) mine.push_back(i);
  std::vector<std::shared_ptr<WsConn>> conns(mine.size());
  int64_t failed = 0;
  std::string first_error;
  std::mt19937 rng(ctx.index());
  co_await parallel_for(mine.size(), o.ramp, [&](size_t j) -> Task<void> {
    size_t i = mine[j];
    bool ok = false;
    try {
      auto c = co_await WsConn::open(o, i, ws_path(o));
      if ((co_await c->hello(pool.accounts[i % users].token)).empty())
        throw std::runtime_error("token refused");
      conns[j] = c;
      net::co_spawn(
          ex,
          count_events(c, ctx.out.counters["presence_events"], ctx.out.counters["typing_events"]),
          net::detached);
      size_t account = i % users;
      if (o.typing_every_s > 0 && account < 2 * size_t(o.friend_pairs)) {
        double at = std::uniform_real_distribution<double>(0, o.typing_every_s)(rng);
        net::co_spawn(ex, keep_typing(c, pool.chat_id(account / 2), o.typing_every_s, at),
                      net::detached);
      }
      double first = std::uniform_real_distribution<double>(0, o.heartbeat_s)(rng);
      net::co_spawn(ex, heartbeats(c, o.heartbeat_s, first), net::detached);
      ok = true;
    } catch (const std::exception& e) {
      if (first_error.empty()) first_error = e.what();
    }
    if (!ok) failed++;
  });
  int64_t established = static_cast<int64_t>(mine.size()) - failed;
  ctx.out.counters["established"] = static_cast<double>(established);
  ctx.out.counters["failed"] = static_cast<double>(failed);
  // Built outside the co_await: GCC 12 mishandles a temporary of a ?: inside co_await.
  std::string note =
      std::to_string(established) + " established, " + std::to_string(failed) + " failed";
  if (!first_error.empty()) note += " (first: " + first_error + ")";
  co_await ctx.ready(note);
  ctx.out.counters["typing_events"] = 0;  // those of the hold only
  co_await ctx.wait_stop();
  ctx.run_ended();
  int64_t alive = 0;
  for (auto& c : conns)
    if (c && !c->closed()) alive++;
  ctx.out.counters["alive_at_end"] = static_cast<double>(alive);
  for (auto& c : conns)
    if (c) c->abort();
}

int run_idle(Options& o, Report& rep, pid_t spid) {
  net::io_context io(1);
  size_t users = (o.connections + o.sessions_per_user - 1) / o.sessions_per_user;
  if (o.users > 0) users = std::max(users, size_t(o.users));
  if (size_t(o.friend_pairs) * 2 > users)
    throw std::runtime_error("--friend-pairs needs two accounts per pair");
  Pool pool = prepare_pool(io, o, users, size_t(o.friend_pairs));
  // One process holds at most 20,000 files here: 15,000 connections per worker leaves room.
  int workers = o.workers > 0 ? o.workers : std::max(1, (o.connections + 14999) / 15000);
  rep.param("connections", o.connections);
  rep.param("users", double(users));
  rep.param("hold_s", o.hold_s);
  rep.param("heartbeat_s", o.heartbeat_s);
  rep.param("friend_pairs", o.friend_pairs);
  if (o.typing_every_s > 0) rep.param("typing_every_s", o.typing_every_s);
  rep.param("ws_version", o.ws_version);
  common_params(rep, o, workers);
  ProcStats base = read_proc(spid);
  auto rr = run_fleet(
      o, rep, spid, workers, [&](WorkerCtx& ctx) { return idle_worker(ctx, o, pool, users); },
      true);
  double est = rr.total.counters["established"];
  rep.result("established", est, fmt_num(est) + " of " + fmt_num(o.connections));
  rep.result("failed", rr.total.counters["failed"], fmt_num(rr.total.counters["failed"]));
  // The login storm: every connection opened and authenticated (--ramp at once per worker).
  rep.result("connect_phase_s", rr.ready_s, fmt_num(rr.ready_s, 1) + " s to open them all");
  rep.result("connect_phase_server_cpu_s", rr.ready_server_cpu_s,
             fmt_num(rr.ready_server_cpu_s, 2) + " s of server CPU meanwhile (" +
                 fmt_num(est > 0 ? rr.ready_server_cpu_s * 1e6 / est : 0, 1) +
                 " µs per connection)");
  double presence = rr.total.counters["presence_events"];
  rep.result("presence_events", presence,
             fmt_num(presence) + " presence events received (" +
                 fmt_num(rr.ready_s > 0 ? presence / rr.ready_s : 0) +
                 " a second of the connect phase)");
  if (o.typing_every_s > 0) {
    double typing = rr.total.counters["typing_events"];
    rep.result("typing_events_per_s", typing / rep.measured_s,
               fmt_num(typing / rep.measured_s) + " typing events received a second of the hold");
  }
  rep.result("alive_at_end", rr.total.counters["alive_at_end"],
             fmt_num(rr.total.counters["alive_at_end"]) + " after holding " +
                 fmt_num(rep.measured_s, 1) + " s");
  for (size_t i = 0; i < rr.ready_notes.size(); i++)
    if (rr.ready_notes[i].find("first:") != std::string::npos)
      rep.notes.push_back("worker " + std::to_string(i) + ": " + rr.ready_notes[i]);
  if (rep.server_after.ok && est > 0) {
    double per = (rep.server_after.rss_kib - base.rss_kib) * 1024.0 / est;
    rep.result("server_rss_base_kib", double(base.rss_kib),
               fmt_num(base.rss_kib / 1024.0, 1) + " MiB before connecting");
    rep.result("server_rss_loaded_kib", double(rep.server_after.rss_kib),
               fmt_num(rep.server_after.rss_kib / 1024.0, 1) + " MiB with the connections");
    rep.result("server_bytes_per_conn", per, fmt_num(per) + " bytes of RSS per connection");
    rep.result("server_cpu_us_per_conn_s", rep.server_cpu_s * 1e6 / est / rep.measured_s,
               fmt_num(rep.server_cpu_s * 1e6 / est / rep.measured_s, 2) +
                   " µs of server CPU per connection per second");
  }
  rep.notes.push_back(
      "RSS excludes the kernel's socket buffers (about 3.8 KiB per idle TCP socket)");
  return est == o.connections && rr.total.counters["alive_at_end"] == est ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// connect: TCP + WebSocket handshake + heartbeat + auth, per second.

Task<void> connect_worker(WorkerCtx& ctx, const Options& o, const Pool& pool, size_t users,
                          int concurrency) {
  size_t loops = share(concurrency, ctx);
  co_await ctx.ready();
  int64_t start = now_ns(), warm_end = start + int64_t(o.warmup_s * 1e9),
          end = warm_end + int64_t(o.duration_s * 1e9);
  uint64_t source = uint64_t(ctx.index()) << 40;
  Histogram& h = ctx.out.hists["connect"];
  double ok = 0, errors = 0;
  std::string first_error;
  co_await parallel_for(loops, int(loops), [&](size_t j) -> Task<void> {
    size_t user = (j * ctx.count() + ctx.index()) % users;
    while (now_ns() < end) {
      int64_t t0 = now_ns();
      std::shared_ptr<WsConn> c;
      bool failed = false;
      try {
        c = co_await WsConn::open(o, source++, ws_path(o));
        if ((co_await c->hello(pool.accounts[user].token)).empty())
          throw std::runtime_error("token refused");
      } catch (const std::exception& e) {
        failed = true;
        if (first_error.empty()) first_error = e.what();
      }
      int64_t t1 = now_ns();
      if (c) c->abort();
      if (t0 >= warm_end && t1 <= end) {
        if (failed) {
          errors++;
        } else {
          ok++;
          h.record(t1 - t0);
        }
      }
      if (failed) co_await sleep_for_s(0.01);
    }
  });
  ctx.run_ended();
  ctx.out.counters["ok"] = ok;
  ctx.out.counters["errors"] = errors;
  if (!first_error.empty()) std::cerr << "connect: first error: " << first_error << std::endl;
}

int run_connect(Options& o, Report& rep, pid_t spid) {
  net::io_context io(1);
  int conc = o.concurrency > 0 ? o.concurrency : 64;
  size_t users = o.users > 0 ? o.users : std::max(conc, 16);
  Pool pool = prepare_pool(io, o, users, 0);
  int workers = o.workers > 0 ? o.workers : 1;
  rep.param("concurrency", conc);
  rep.param("users", double(users));
  rep.param("warmup_s", o.warmup_s);
  rep.param("duration_s", o.duration_s);
  common_params(rep, o, workers);
  auto rr = run_fleet(
      o, rep, spid, workers,
      [&](WorkerCtx& ctx) { return connect_worker(ctx, o, pool, users, conc); }, false);
  double ok = rr.total.counters["ok"], errors = rr.total.counters["errors"];
  rep.result("connects_per_s", ok / o.duration_s,
             fmt_num(ok / o.duration_s) + " per second (handshake + heartbeat + auth)");
  rep.result("errors", errors, fmt_num(errors));
  if (ok > 0)
    rep.result("server_cpu_us_per_connect", rep.server_cpu_s * 1e6 / ok,
               fmt_num(rep.server_cpu_s * 1e6 / ok, 1) + " µs of server CPU per connection");
  rep.latency("connect", rr.total.hists["connect"]);
  return ok > 0 && errors == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// dm: friend pairs sending each other direct messages.

struct DmUser {
  std::shared_ptr<WsConn> conn;
  std::string id;
  std::string prefix;  // the chat frame up to the content
  std::string typing;  // the typing frame of its chat (--typing)
};

struct DmRun {
  DmRun(const Options& o, WorkerCtx& ctx) : o(o), ctx(ctx) {}
  const Options& o;
  WorkerCtx& ctx;
  std::vector<DmUser> users;
  int64_t warm_end = 0, end = 0;
  uint64_t seq = 0;
  // Message sequence -> which of its two copies arrived (1 the sender's echo, 2 the
  // recipient's copy); a message counts as delivered once both have.
  std::unordered_map<uint64_t, uint8_t> pending;
  double sent = 0, delivered = 0, errors = 0, recv_events = 0;
  Histogram *lat = nullptr, *ack = nullptr;

  // The content carries the message's sequence and its send time (or, at a fixed rate, its
  // intended send time, so a stall in the client or server counts against the latency
  // instead of silently delaying the schedule).
  void send(size_t u, int64_t t) {
    uint64_t s = seq++;
    pending.emplace(s, 0);
    if (o.typing) users[u].conn->send(users[u].typing);
    users[u].conn->send(users[u].prefix + std::to_string(s) + " " + std::to_string(t) + "\"}}");
    if (t >= warm_end && t < end) sent++;
  }

  Task<void> read_loop(size_t u) {
    DmUser& me = users[u];
    FrameParser f;
    try {
      for (;;) {
        std::string_view text = co_await me.conn->read();
        int64_t now = now_ns();
        if (!f.parse(text)) continue;
        if (f.type == "error") {
          errors++;
          if (o.rate == 0 && now < end) send(u, now);
          continue;
        }
        if (f.type != "chat" || !f.payload || !f.payload->IsObject()) continue;
        auto c = f.payload->FindMember("content");
        auto uid = f.payload->FindMember("user_id");
        if (c == f.payload->MemberEnd() || uid == f.payload->MemberEnd() || !c->value.IsString())
          continue;
        const char* p = c->value.GetString();
        const char* e = p + c->value.GetStringLength();
        uint64_t s = 0;
        int64_t t = 0;
        auto r1 = std::from_chars(p, e, s);
        if (r1.ptr == e) continue;
        std::from_chars(r1.ptr + 1, e, t);
        bool echo = uid->value.IsString() && me.id == uid->value.GetString();
        recv_events++;
        auto it = pending.find(s);
        if (it == pending.end()) continue;
        it->second |= echo ? 1 : 2;
        if (t >= warm_end && t < end) {
          (echo ? ack : lat)->record(now - t);
          if (!echo && o.slow_ms > 0 && now - t > int64_t(o.slow_ms * 1e6))
            std::fprintf(stderr, "slow %.3f %.1f\n", double(t - warm_end) / 1e9,
                         double(now - t) / 1e6);
        }
        if (it->second == 3) {
          pending.erase(it);
          if (now >= warm_end && now < end) delivered++;
        }
        if (echo && o.rate == 0 && now < end) send(u, now);
      }
    } catch (...) {
    }
  }

  Task<void> rate_sender(int64_t start) {
    double r = o.rate / ctx.count();
    double interval = 1e9 / r;
    net::steady_timer timer(co_await net::this_coro::executor);
    for (uint64_t i = 0;;) {
      int64_t due = start + int64_t(double(i) * interval);
      if (due >= end) break;
      if (due > now_ns()) {
        timer.expires_at(to_time_point(due));
        co_await timer.async_wait(net::use_awaitable);
      }
      int64_t now = now_ns();
      for (; (due = start + int64_t(double(i) * interval)) <= now && due < end; i++)
        send(i % users.size(), due);
    }
  }
};

Task<void> dm_worker(WorkerCtx& ctx, const Options& o, const Pool& pool) {
  auto ex = co_await net::this_coro::executor;
  DmRun run(o, ctx);
  run.lat = &ctx.out.hists["send_to_recipient"];
  run.ack = &ctx.out.hists["send_to_echo"];
  std::vector<size_t> pairs;
  for (size_t k = ctx.index(); k < size_t(o.pairs); k += ctx.count()) pairs.push_back(k);
  run.users.resize(2 * pairs.size());
  co_await parallel_for(run.users.size(), o.ramp, [&](size_t u) -> Task<void> {
    size_t k = pairs[u / 2];
    const Account& me = u % 2 ? pool.b(k) : pool.a(k);
    DmUser& d = run.users[u];
    d.conn = co_await WsConn::open(o, 2 * k + u % 2, ws_path(o));
    d.id = co_await d.conn->hello(me.token);
    if (d.id.empty()) throw std::runtime_error("token refused for " + me.name);
    d.prefix = R"({"type":"chat","payload":{"type":"send","chat_id":")" + pool.chat_id(k) +
               R"(","content":")";
    d.typing = R"({"type":"typing","payload":{"chat_id":")" + pool.chat_id(k) + R"("}})";
  });
  for (size_t u = 0; u < run.users.size(); u++) {
    net::co_spawn(ex, run.read_loop(u), net::detached);
    net::co_spawn(ex, heartbeats(run.users[u].conn, 20, 20), net::detached);
  }
  co_await ctx.ready();
  int64_t start = now_ns();
  run.warm_end = start + int64_t(o.warmup_s * 1e9);
  run.end = run.warm_end + int64_t(o.duration_s * 1e9);
  if (o.rate > 0) {
    net::co_spawn(ex, run.rate_sender(start), net::detached);
  } else {
    for (size_t u = 0; u < run.users.size(); u++)
      for (int w = 0; w < o.window; w++) run.send(u, now_ns());
  }
  co_await sleep_until_ns(run.end);
  ctx.run_ended();
  // Give the messages still in flight a moment, so they are not counted as lost.
  for (int64_t until = now_ns() + 3000 * kMs; !run.pending.empty() && now_ns() < until;)
    co_await sleep_for_s(0.005);
  ctx.out.counters["sent"] = run.sent;
  ctx.out.counters["delivered"] = run.delivered;
  ctx.out.counters["errors"] = run.errors;
  ctx.out.counters["undelivered"] = double(run.pending.size());
  for (auto& u : run.users) u.conn->abort();
}

int run_dm(Options& o, Report& rep, pid_t spid) {
  if (o.typing && o.ws_version != 2)
    throw std::runtime_error("--typing needs --ws-version 2 (typing is a v2 request)");
  net::io_context io(1);
  Pool pool = prepare_pool(io, o, 0, o.pairs);
  int workers = o.workers > 0 ? o.workers : 1;
  rep.mode = o.rate > 0 ? "fixed rate" : "closed loop";
  rep.param("pairs", o.pairs);
  if (o.rate > 0)
    rep.param("rate_per_s", o.rate);
  else
    rep.param("window", o.window);
  rep.param("ws_version", o.ws_version);
  if (o.typing) rep.param("typing", 1);
  rep.param("warmup_s", o.warmup_s);
  rep.param("duration_s", o.duration_s);
  common_params(rep, o, workers);
  auto rr = run_fleet(
      o, rep, spid, workers, [&](WorkerCtx& ctx) { return dm_worker(ctx, o, pool); }, false);
  auto& c = rr.total.counters;
  double rate = c["delivered"] / o.duration_s;
  rep.result("delivered_per_s", rate, fmt_num(rate) + " messages/s delivered to both users");
  rep.result("sent_per_s", c["sent"] / o.duration_s, fmt_num(c["sent"] / o.duration_s) + " sent/s");
  rep.result("errors", c["errors"], fmt_num(c["errors"]) + " error frames");
  rep.result("undelivered", c["undelivered"],
             fmt_num(c["undelivered"]) + " messages still missing a copy 3 s after the end");
  auto& lat = rr.total.hists["send_to_recipient"];
  rep.result("stalls_over_50ms", double(lat.count_above(50 * kMs)),
             fmt_num(double(lat.count_above(50 * kMs))) + " messages took over 50 ms");
  if (c["delivered"] > 0)
    rep.result("server_cpu_us_per_msg", rep.server_cpu_s * 1e6 / c["delivered"],
               fmt_num(rep.server_cpu_s * 1e6 / c["delivered"], 1) +
                   " µs of server CPU per delivered message");
  rep.latency("send_to_recipient", lat);
  rep.latency("send_to_echo", rr.total.hists["send_to_echo"]);
  return c["delivered"] > 0 && c["errors"] == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// history: `load` of the newest messages of a chat that holds many.

// A cursor after every message: a day ahead, in any UTC offset the server may use.
std::string future_cursor() {
  time_t t = time(nullptr) + 2 * 86400;
  tm g;
  gmtime_r(&t, &g);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S.000000", &g);
  return base64(buf);
}

Task<void> history_worker(WorkerCtx& ctx, const Options& o, const Pool& pool, int concurrency) {
  size_t n = share(concurrency, ctx);
  std::vector<std::shared_ptr<WsConn>> conns(n);
  co_await parallel_for(n, o.ramp, [&](size_t j) -> Task<void> {
    size_t global = j * ctx.count() + ctx.index();
    const Account& a = global % 2 ? pool.b(0) : pool.a(0);
    // v2, because it marks the end of a load; v1 leaves the client to count or time out.
    conns[j] = co_await WsConn::open(o, global, "/ws?v=2");
    if ((co_await conns[j]->hello(a.token)).empty()) throw std::runtime_error("token refused");
  });
  std::string frame = R"({"type":"load","payload":{"type":"chat","load_id":")" + pool.chat_id(0) +
                      R"(","datetime":")" + future_cursor() + R"(","count":)" +
                      std::to_string(o.count) + "}}";
  co_await ctx.ready();
  int64_t start = now_ns(), warm_end = o.burst ? start : start + int64_t(o.warmup_s * 1e9),
          end = warm_end + int64_t(o.duration_s * 1e9);
  Histogram& h = ctx.out.hists["load"];
  double loads = 0, events = 0, errors = 0, short_loads = 0;
  co_await parallel_for(n, int(n), [&](size_t j) -> Task<void> {
    auto& c = conns[j];
    for (;;) {
      int64_t t0 = now_ns();
      c->send(frame);
      int got = 0;
      bool error = false;
      FrameParser f;
      for (;;) {
        std::string_view text = co_await c->read();
        if (!f.parse(text)) continue;
        if (f.type == "chat") {
          got++;
        } else if (f.type == "error") {
          error = true;
          break;
        } else if (f.type == "load") {
          break;
        }
      }
      int64_t t1 = now_ns();
      if (t0 >= warm_end && (o.burst || t1 <= end)) {
        h.record(t1 - t0);
        loads++;
        events += got;
        errors += error;
        short_loads += !error && got < o.count;
      }
      if (o.burst || t1 >= end) break;
    }
  });
  ctx.run_ended();
  ctx.out.counters["loads"] = loads;
  ctx.out.counters["events"] = events;
  ctx.out.counters["errors"] = errors;
  ctx.out.counters["short_loads"] = short_loads;
  for (auto& c : conns) c->abort();
}

int run_history(Options& o, Report& rep, pid_t spid) {
  net::io_context io(1);
  Pool pool = prepare_pool(io, o, 0, 1);
  prefill_history(io, o, pool, o.messages);
  int conc = o.concurrency > 0 ? o.concurrency : 1;
  int workers = o.workers > 0 ? o.workers : 1;
  rep.mode = o.burst ? "burst" : "closed loop";
  rep.param("chat_messages", double(pool.history_messages));
  rep.param("count", o.count);
  rep.param("concurrency", conc);
  if (!o.burst) {
    rep.param("warmup_s", o.warmup_s);
    rep.param("duration_s", o.duration_s);
  }
  common_params(rep, o, workers);
  // A burst is over when every load is answered; the run's window is then just a bound.
  Options run_o = o;
  if (o.burst) run_o.warmup_s = 0, run_o.duration_s = std::min(o.duration_s, 2.0);
  auto rr = run_fleet(
      run_o, rep, spid, workers,
      [&](WorkerCtx& ctx) { return history_worker(ctx, run_o, pool, conc); }, false);
  auto& c = rr.total.counters;
  auto& h = rr.total.hists["load"];
  if (o.burst) {
    rep.result("loads", c["loads"], fmt_num(c["loads"]) + " loads sent at once");
    rep.result("all_answered_ms", h.max() / 1e6, "all answered within " + fmt_ms(h.max()) + " ms");
  } else {
    rep.result("loads_per_s", c["loads"] / o.duration_s,
               fmt_num(c["loads"] / o.duration_s) + " loads/s");
  }
  rep.result("events", c["events"], fmt_num(c["events"]) + " messages received");
  rep.result("short_loads", c["short_loads"],
             fmt_num(c["short_loads"]) + " loads with fewer than " + std::to_string(o.count) +
                 " messages");
  rep.result("errors", c["errors"], fmt_num(c["errors"]));
  rep.latency("load", h);
  return c["loads"] > 0 && c["errors"] == 0 && c["short_loads"] == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// login: HTTP logins per second.

Task<void> login_worker(WorkerCtx& ctx, const Options& o, const Pool& pool, size_t users,
                        int concurrency) {
  size_t n = share(concurrency, ctx);
  co_await ctx.ready();
  int64_t start = now_ns(), warm_end = start + int64_t(o.warmup_s * 1e9),
          end = warm_end + int64_t(o.duration_s * 1e9);
  Histogram& h = ctx.out.hists["login"];
  double ok = 0, errors = 0;
  std::map<unsigned, double> statuses;
  co_await parallel_for(n, int(n), [&](size_t j) -> Task<void> {
    size_t global = j * ctx.count() + ctx.index();
    HttpClient client(o, global);
    for (size_t k = 0; now_ns() < end; k++) {
      const Account& a = pool.accounts[(global + k * concurrency) % users];
      int64_t t0 = now_ns();
      std::string body = "email=" + form_escape(a.email) + "&password=" + form_escape(a.password);
      auto r = co_await client.post_form("/api/v1/auth/login", std::move(body));
      int64_t t1 = now_ns();
      if (t0 >= warm_end && t1 <= end) {
        if (r.status == 201) {
          ok++;
          h.record(t1 - t0);
        } else {
          errors++;
          statuses[r.status]++;
        }
      }
    }
  });
  ctx.run_ended();
  ctx.out.counters["ok"] = ok;
  ctx.out.counters["errors"] = errors;
  for (auto& [s, v] : statuses) ctx.out.counters["status_" + std::to_string(s)] = v;
}

int run_login(Options& o, Report& rep, pid_t spid) {
  net::io_context io(1);
  int conc = o.concurrency > 0 ? o.concurrency : 8;
  size_t users = o.users > 0 ? o.users : 64;
  Pool pool = prepare_pool(io, o, users, 0);
  int workers = o.workers > 0 ? o.workers : 1;
  rep.param("concurrency", conc);
  rep.param("users", double(users));
  rep.param("warmup_s", o.warmup_s);
  rep.param("duration_s", o.duration_s);
  common_params(rep, o, workers);
  auto rr = run_fleet(
      o, rep, spid, workers,
      [&](WorkerCtx& ctx) { return login_worker(ctx, o, pool, users, conc); }, false);
  auto& c = rr.total.counters;
  rep.result("logins_per_s", c["ok"] / o.duration_s,
             fmt_num(c["ok"] / o.duration_s, 1) + " per second");
  rep.result("errors", c["errors"], fmt_num(c["errors"]));
  for (auto& [k, v] : c)
    if (k.rfind("status_", 0) == 0)
      rep.result(k, v, fmt_num(v) + " answers with HTTP " + k.substr(7));
  if (c["ok"] > 0)
    rep.result("server_cpu_ms_per_login", rep.server_cpu_s * 1e3 / c["ok"],
               fmt_num(rep.server_cpu_s * 1e3 / c["ok"], 2) + " ms of server CPU per login");
  rep.latency("login", rr.total.hists["login"]);
  return c["ok"] > 0 && c["errors"] == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// fanout: one member sends to a guild whose members are all connected on v2.

struct FanoutRun {
  explicit FanoutRun(const Options& o) : o(o) {}
  const Options& o;
  std::vector<std::shared_ptr<WsConn>> conns;  // one per member; conns[0] is the sender
  std::string prefix;                          // the chat frame up to the content
  int64_t warm_end = 0, end = 0;
  uint64_t seq = 0;
  struct Pending {
    int64_t t;
    size_t left;  // copies still to arrive, the sender's echo included
  };
  std::unordered_map<uint64_t, Pending> pending;
  double sent = 0, completed = 0, deliveries = 0, errors = 0;
  Histogram *last = nullptr, *each = nullptr;
  // Shared by every read loop: they run on one thread and use it between two reads only.
  FrameParser parser;

  // As in dm, the content carries the sequence and the (intended) send time.
  void send(int64_t t) {
    uint64_t s = seq++;
    pending.emplace(s, Pending{t, conns.size()});
    conns[0]->send(prefix + std::to_string(s) + " " + std::to_string(t) + "\"}}");
    if (t >= warm_end && t < end) sent++;
  }

  Task<void> read_loop(size_t u) {
    auto c = conns[u];
    try {
      for (;;) {
        std::string_view text = co_await c->read();
        int64_t now = now_ns();
        if (!parser.parse(text)) continue;
        if (parser.type == "error") {
          errors++;
          // Closed loop: the failed message will never arrive; send the next one.
          if (u == 0 && o.rate == 0) {
            pending.clear();
            if (now < end) send(now);
          }
          continue;
        }
        if (parser.type != "chat" || !parser.payload || !parser.payload->IsObject()) continue;
        auto cm = parser.payload->FindMember("content");
        if (cm == parser.payload->MemberEnd() || !cm->value.IsString()) continue;
        const char* p = cm->value.GetString();
        const char* e = p + cm->value.GetStringLength();
        uint64_t s = 0;
        int64_t t = 0;
        auto r1 = std::from_chars(p, e, s);
        if (r1.ptr == e) continue;
        std::from_chars(r1.ptr + 1, e, t);
        auto it = pending.find(s);
        if (it == pending.end()) continue;
        bool measured = t >= warm_end && t < end;
        if (measured) each->record(now - t);
        if (now >= warm_end && now < end) deliveries++;
        if (--it->second.left == 0) {
          pending.erase(it);
          if (measured) {
            last->record(now - t);
            completed++;
          }
          if (o.rate == 0 && now < end) send(now);
        }
      }
    } catch (...) {
    }
  }

  Task<void> rate_sender(int64_t start) {
    double interval = 1e9 / o.rate;
    net::steady_timer timer(co_await net::this_coro::executor);
    for (uint64_t i = 0;;) {
      int64_t due = start + int64_t(double(i) * interval);
      if (due >= end) break;
      if (due > now_ns()) {
        timer.expires_at(to_time_point(due));
        co_await timer.async_wait(net::use_awaitable);
      }
      int64_t now = now_ns();
      for (; (due = start + int64_t(double(i) * interval)) <= now && due < end; i++) send(due);
    }
  }
};

Task<void> fanout_worker(WorkerCtx& ctx, const Options& o, const Pool& pool,
                         const std::string& guild) {
  auto ex = co_await net::this_coro::executor;
  FanoutRun run(o);
  run.last = &ctx.out.hists["send_to_last_member"];
  run.each = &ctx.out.hists["send_to_each_member"];
  run.conns.resize(o.members);
  co_await parallel_for(run.conns.size(), o.ramp, [&](size_t u) -> Task<void> {
    run.conns[u] = co_await WsConn::open(o, u, "/ws?v=2");
    if ((co_await run.conns[u]->hello(pool.accounts[u].token)).empty())
      throw std::runtime_error("token refused for " + pool.accounts[u].name);
  });
  run.prefix =
      R"({"type":"chat","payload":{"type":"send","chat_id":")" + guild + R"(","content":")";
  for (size_t u = 0; u < run.conns.size(); u++) {
    net::co_spawn(ex, run.read_loop(u), net::detached);
    net::co_spawn(ex, heartbeats(run.conns[u], 20, 20), net::detached);
  }
  co_await ctx.ready();
  int64_t start = now_ns();
  run.warm_end = start + int64_t(o.warmup_s * 1e9);
  run.end = run.warm_end + int64_t(o.duration_s * 1e9);
  if (o.rate > 0)
    net::co_spawn(ex, run.rate_sender(start), net::detached);
  else
    run.send(now_ns());
  co_await sleep_until_ns(run.end);
  ctx.run_ended();
  for (int64_t until = now_ns() + 3000 * kMs; !run.pending.empty() && now_ns() < until;)
    co_await sleep_for_s(0.005);
  ctx.out.counters["sent"] = run.sent;
  ctx.out.counters["completed"] = run.completed;
  ctx.out.counters["deliveries"] = run.deliveries;
  ctx.out.counters["errors"] = run.errors;
  ctx.out.counters["undelivered"] = double(run.pending.size());
  for (auto& c : run.conns) c->abort();
}

int run_fanout(Options& o, Report& rep, pid_t spid) {
  if (o.members < 2) throw std::runtime_error("fanout needs --members of at least 2");
  net::io_context io(1);
  Pool pool = prepare_pool(io, o, o.members, 0);
  prepare_star(io, o, pool, o.members);
  std::string guild = make_guild(io, o, pool, o.members);
  // One worker: the closed loop needs every member's receipt in one place, and 1,000
  // connections are far below one process's file limit.
  int workers = 1;
  rep.mode = o.rate > 0 ? "fixed rate" : "closed loop";
  rep.param("members", o.members);
  if (o.rate > 0) rep.param("rate_per_s", o.rate);
  rep.param("warmup_s", o.warmup_s);
  rep.param("duration_s", o.duration_s);
  common_params(rep, o, workers);
  auto rr = run_fleet(
      o, rep, spid, workers, [&](WorkerCtx& ctx) { return fanout_worker(ctx, o, pool, guild); },
      false);
  delete_guild(io, o, pool, guild);
  auto& c = rr.total.counters;
  rep.result("deliveries_per_s", c["deliveries"] / o.duration_s,
             fmt_num(c["deliveries"] / o.duration_s) +
                 " copies/s received by the members (the sender's echo included)");
  rep.result("messages_per_s", c["completed"] / o.duration_s,
             fmt_num(c["completed"] / o.duration_s, 1) + " messages/s received by every member");
  rep.result("sent_per_s", c["sent"] / o.duration_s,
             fmt_num(c["sent"] / o.duration_s, 1) + " sent/s");
  rep.result("errors", c["errors"], fmt_num(c["errors"]) + " error frames");
  rep.result("undelivered", c["undelivered"],
             fmt_num(c["undelivered"]) + " messages still missing a copy 3 s after the end");
  auto& last = rr.total.hists["send_to_last_member"];
  rep.result(
      "stalls_over_50ms", double(last.count_above(50 * kMs)),
      fmt_num(double(last.count_above(50 * kMs))) + " messages took over 50 ms to reach all");
  if (c["deliveries"] > 0)
    rep.result("server_cpu_us_per_delivery", rep.server_cpu_s * 1e6 / c["deliveries"],
               fmt_num(rep.server_cpu_s * 1e6 / c["deliveries"], 2) +
                   " µs of server CPU per delivered copy");
  rep.latency("send_to_last_member", last);
  rep.latency("send_to_each_member", rr.total.hists["send_to_each_member"]);
  return c["completed"] > 0 && c["errors"] == 0 && c["undelivered"] == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// search: `search` of my messages in a store of many messages in many chats.

// The corpus: pseudo-words of two to four syllables, drawn with Zipf's law (s = 1) as the
// words of real chat are, so a query of a common word matches a large share of the store and
// one of a rare word a handful; each message has 4 to 12 of them. Deterministic: the same
// text for the same index on every run.
class SearchCorpus {
 public:
  static constexpr size_t kWords = 20000;

  SearchCorpus() {
    static const char* const kSyllables[] = {"ka", "ri", "to", "me",  "su", "no", "la", "vi",
                                             "de", "po", "ga", "shi", "ru", "be", "ko", "ta"};
    std::mt19937_64 rng(7);
    std::unordered_map<std::string, bool> seen;
    while (words_.size() < kWords) {
      std::string w;
      int n = 2 + int(rng() % 3);
      for (int i = 0; i < n; i++) w += kSyllables[rng() % std::size(kSyllables)];
      if (!seen.emplace(w, true).second) continue;
      words_.push_back(std::move(w));
    }
    double total = 0;
    cdf_.reserve(kWords);
    for (size_t r = 1; r <= kWords; r++) cdf_.push_back(total += 1.0 / double(r));
    for (double& c : cdf_) c /= total;
  }
  // The word of rank r (1: the most frequent).
  const std::string& word(size_t rank) const { return words_[rank - 1]; }
  std::string text(int64_t i) const {
    std::mt19937_64 rng(uint64_t(i) * 0x9E3779B97F4A7C15ull + 1);
    std::uniform_real_distribution<double> u(0, 1);
    int n = 4 + int(rng() % 9);
    std::string t;
    for (int k = 0; k < n; k++) {
      size_t r = size_t(std::lower_bound(cdf_.begin(), cdf_.end(), u(rng)) - cdf_.begin());
      if (k) t += ' ';
      t += words_[std::min(r, kWords - 1)];
    }
    return t;
  }

 private:
  std::vector<std::string> words_;
  std::vector<double> cdf_;
};

struct SearchQuery {
  std::string name, text;
};

std::vector<SearchQuery> search_queries(const SearchCorpus& c) {
  return {{"word_rank_1", c.word(1)},
          {"word_rank_10", c.word(10)},
          {"word_rank_100", c.word(100)},
          {"word_rank_1000", c.word(1000)},
          {"word_rank_10000", c.word(10000)},
          {"two_words_rank_10_and_100", c.word(10) + " " + c.word(100)},
          {"prefix_of_2_letters", c.word(3).substr(0, 2)}};
}

// Each connection (user a of pair 0, in its chat and no other) sends the queries in turn,
// one at a time, each answered before the next: the latency is per query, by query.
Task<void> search_worker(WorkerCtx& ctx, const Options& o, const Pool& pool, int concurrency,
                         const std::vector<SearchQuery>& queries) {
  size_t n = share(concurrency, ctx);
  std::vector<std::shared_ptr<WsConn>> conns(n);
  co_await parallel_for(n, o.ramp, [&](size_t j) -> Task<void> {
    size_t global = j * ctx.count() + ctx.index();
    conns[j] = co_await WsConn::open(o, global, "/ws?v=2");
    if ((co_await conns[j]->hello(pool.a(0).token)).empty())
      throw std::runtime_error("token refused");
  });
  std::vector<std::string> frames;
  for (const auto& q : queries)
    frames.push_back(R"({"type":"search","payload":{"query":")" + q.text + "\"}}");
  co_await ctx.ready();
  int64_t start = now_ns(), warm_end = start + int64_t(o.warmup_s * 1e9),
          end = warm_end + int64_t(o.duration_s * 1e9);
  double searches = 0, errors = 0, results = 0;
  std::vector<double> full_pages(queries.size());
  co_await parallel_for(n, int(n), [&](size_t j) -> Task<void> {
    auto& c = conns[j];
    for (size_t k = j;; k++) {
      size_t q = k % queries.size();
      int64_t t0 = now_ns();
      c->send(frames[q]);
      FrameParser f;
      bool error = false;
      size_t got = 0;
      for (;;) {
        std::string_view text = co_await c->read();
        if (!f.parse(text)) continue;
        if (f.type == "error") {
          error = true;
          break;
        }
        if (f.type == "search") {
          if (f.payload && f.payload->HasMember("results") && (*f.payload)["results"].IsArray())
            got = (*f.payload)["results"].Size();
          break;
        }
      }
      int64_t t1 = now_ns();
      if (t0 >= warm_end && t1 <= end) {
        ctx.out.hists["search"].record(t1 - t0);
        ctx.out.hists[queries[q].name].record(t1 - t0);
        searches++;
        errors += error;
        results += double(got);
        full_pages[q] += got == 20;
      }
      if (t1 >= end) break;
    }
  });
  ctx.run_ended();
  ctx.out.counters["searches"] = searches;
  ctx.out.counters["errors"] = errors;
  ctx.out.counters["results"] = results;
  for (size_t q = 0; q < queries.size(); q++)
    ctx.out.counters["full_pages_" + queries[q].name] = full_pages[q];
  for (auto& c : conns) c->abort();
}

int run_search(Options& o, Report& rep, pid_t spid) {
  net::io_context io(1);
  Pool pool = prepare_pool(io, o, 0, o.pairs);
  SearchCorpus corpus;
  prefill_search(io, o, pool, o.messages, size_t(o.pairs),
                 [&](int64_t i) { return corpus.text(i); });
  auto queries = search_queries(corpus);
  int conc = o.concurrency > 0 ? o.concurrency : 1;
  int workers = o.workers > 0 ? o.workers : 1;
  rep.mode = "closed loop";
  rep.param("store_messages", double(pool.search_messages));
  rep.param("chats", double(pool.search_pairs));
  rep.param("messages_in_the_searchers_chat", double(pool.search_messages / o.pairs));
  rep.param("concurrency", conc);
  rep.param("warmup_s", o.warmup_s);
  rep.param("duration_s", o.duration_s);
  for (const auto& q : queries) rep.param("query_" + q.name, q.text);
  common_params(rep, o, workers);
  auto rr = run_fleet(
      o, rep, spid, workers,
      [&](WorkerCtx& ctx) { return search_worker(ctx, o, pool, conc, queries); }, false);
  auto& c = rr.total.counters;
  rep.result("searches_per_s", c["searches"] / o.duration_s,
             fmt_num(c["searches"] / o.duration_s) + " searches/s");
  rep.result("errors", c["errors"], fmt_num(c["errors"]) + " error frames");
  if (c["searches"] > 0)
    rep.result("results_per_search", c["results"] / c["searches"],
               fmt_num(c["results"] / c["searches"], 1) + " results per answer (a page is 20)");
  if (c["searches"] > 0)
    rep.result("server_cpu_ms_per_search", rep.server_cpu_s * 1e3 / c["searches"],
               fmt_num(rep.server_cpu_s * 1e3 / c["searches"], 2) + " ms of server CPU per search");
  rep.latency("search", rr.total.hists["search"]);
  for (const auto& q : queries) rep.latency(q.name, rr.total.hists[q.name]);
  return c["searches"] > 0 && c["errors"] == 0 ? 0 : 1;
}

}  // namespace

int run_scenario(Options& o) {
  pid_t spid = o.server_pid > 0 ? o.server_pid : find_listener(o.port);
  if (spid <= 0)
    std::cerr << "warning: server process not found (pass --server-pid); server CPU and memory "
                 "will not be reported"
              << std::endl;
  Report rep;
  rep.scenario = o.scenario;
  int status = 1;
  if (o.scenario == "idle")
    status = run_idle(o, rep, spid);
  else if (o.scenario == "connect")
    status = run_connect(o, rep, spid);
  else if (o.scenario == "dm")
    status = run_dm(o, rep, spid);
  else if (o.scenario == "history")
    status = run_history(o, rep, spid);
  else if (o.scenario == "login")
    status = run_login(o, rep, spid);
  else if (o.scenario == "fanout")
    status = run_fanout(o, rep, spid);
  else if (o.scenario == "search")
    status = run_search(o, rep, spid);
  else
    throw std::runtime_error("unknown scenario " + o.scenario);
  rep.print(o, spid);
  return status;
}

}  // namespace rwd::bench
