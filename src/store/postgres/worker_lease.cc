#include "store/postgres/worker_lease.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <random>

#include "store/postgres/pg_util.h"

namespace rwd::store {

using postgres::ConnPtr;
using postgres::ResultPtr;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Names this process in worker_leases: host, pid and a random part (pids repeat).
std::string lease_holder() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char random[20];
  std::snprintf(random, sizeof random, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + random;
}

// Runs a one-row query and answers its first column, or nullopt when it failed or did not
// finish by `deadline` (the connection is then unusable: the caller drops it).
std::optional<std::string> query_until(PGconn* conn, const char* sql, int n,
                                       const char* const* values,
                                       SteadyClock::time_point deadline) {
  if (!PQsendQueryParams(conn, sql, n, nullptr, values, nullptr, nullptr, 0)) return std::nullopt;
  for (;;) {
    while (!PQisBusy(conn)) {
      std::optional<std::string> answer;
      bool failed = false;
      while (PGresult* raw = PQgetResult(conn)) {
        ResultPtr r(raw);
        if (PQresultStatus(r.get()) == PGRES_TUPLES_OK && PQntuples(r.get()) == 1 &&
            !PQgetisnull(r.get(), 0, 0))
          answer = PQgetvalue(r.get(), 0, 0);
        else
          failed = true;
      }
      if (failed) return std::nullopt;
      return answer;
    }
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{PQsocket(conn), POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) return std::nullopt;
    if (ready > 0 && !PQconsumeInput(conn)) return std::nullopt;
  }
}

}  // namespace

Result<std::unique_ptr<WorkerIdLease>> WorkerIdLease::claim(const std::string& url, int worker_id,
                                                            int64_t ttl_us,
                                                            std::function<void()> on_lost) {
  auto conn = postgres::connect(url, "rewind-lease");
  if (!conn.ok()) return conn.error();
  std::string holder = lease_holder();
  std::string id = std::to_string(worker_id), ttl = std::to_string(ttl_us);
  const char* values[] = {id.c_str(), holder.c_str(), ttl.c_str()};
  ResultPtr r(PQexecParams(conn.value().get(), "SELECT rwd_claim_worker_id($1, $2, $3)", 3, nullptr,
                           values, nullptr, nullptr, 0));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    return postgres::pg_error(conn.value().get(), r.get(), "leasing worker id " + id);
  if (std::string(PQgetvalue(r.get(), 0, 0)) != "t")
    return Error{Errc::kInternal,
                 "--worker-id " + id +
                     " is held by another running process on this database "
                     "(each process needs its own; leave it out to get a free one)"};
  return std::unique_ptr<WorkerIdLease>(
      new WorkerIdLease(url, worker_id, std::move(holder), ttl_us, std::move(on_lost)));
}

Result<std::unique_ptr<WorkerIdLease>> WorkerIdLease::acquire(const std::string& url,
                                                              int64_t ttl_us,
                                                              std::function<void()> on_lost) {
  auto conn = postgres::connect(url, "rewind-lease");
  if (!conn.ok()) return conn.error();
  std::string holder = lease_holder();
  std::string ttl = std::to_string(ttl_us);
  const char* values[] = {holder.c_str(), ttl.c_str()};
  ResultPtr r(PQexecParams(conn.value().get(), "SELECT rwd_lease_worker_id($1, $2)", 2, nullptr,
                           values, nullptr, nullptr, 0));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    return postgres::pg_error(conn.value().get(), r.get(), "leasing a worker id");
  if (PQntuples(r.get()) != 1 || PQgetisnull(r.get(), 0, 0))
    return Error{Errc::kInternal, "every worker id (0..1023) is leased by a running process"};
  int id = static_cast<int>(postgres::parse_int64(PQgetvalue(r.get(), 0, 0)));
  return std::unique_ptr<WorkerIdLease>(
      new WorkerIdLease(url, id, std::move(holder), ttl_us, std::move(on_lost)));
}

WorkerIdLease::WorkerIdLease(std::string url, int worker_id, std::string holder, int64_t ttl_us,
                             std::function<void()> on_lost)
    : url_(std::move(url)),
      worker_id_(worker_id),
      holder_(std::move(holder)),
      ttl_us_(ttl_us),
      on_lost_(std::move(on_lost)) {
  renewer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "pg-lease");
    renew_loop();
  });
}

WorkerIdLease::~WorkerIdLease() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  renewer_.join();
  auto conn = postgres::connect(url_, "rewind-lease");
  if (!conn.ok()) return;  // it expires by itself
  std::string id = std::to_string(worker_id_);
  const char* values[] = {id.c_str(), holder_.c_str()};
  ResultPtr r(PQexecParams(conn.value().get(), "SELECT rwd_release_worker_id($1, $2)", 2, nullptr,
                           values, nullptr, nullptr, 0));
}

void WorkerIdLease::renew_loop() {
  ConnPtr conn;
  const auto ttl = std::chrono::microseconds(ttl_us_);
  const SteadyClock::duration period = ttl / 3;
  const SteadyClock::duration retry =
      std::min<SteadyClock::duration>(std::chrono::seconds(1), period);
  // The lease in the database runs at least until ttl after the start of the last renewal
  // that succeeded (the database stamped it no earlier); stop `margin` before that.
  const auto give_up_after = ttl - ttl / 6;
  auto renewed_at = SteadyClock::now();  // the acquisition's query started before this
  SteadyClock::duration wait = period;
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, wait, [this] { return stopping_; })) return;
    lock.unlock();
    const auto started = SteadyClock::now();
    const auto line = renewed_at + give_up_after;
    std::optional<std::string> answer;
    std::string failure = "cannot connect";
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      auto c = postgres::connect(url_, "rewind-lease");
      if (c.ok()) conn = std::move(c.value());
    }
    if (conn && SteadyClock::now() < line) {
      std::string id = std::to_string(worker_id_), ttl_text = std::to_string(ttl_us_);
      const char* values[] = {id.c_str(), holder_.c_str(), ttl_text.c_str()};
      answer = query_until(conn.get(), "SELECT rwd_renew_worker_id($1, $2, $3)", 3, values, line);
      if (!answer) {
        failure = PQerrorMessage(conn.get());
        while (!failure.empty() && (failure.back() == '\n' || failure.back() == ' '))
          failure.pop_back();
        conn.reset();
      }
    }
    if (answer && *answer == "t") {
      renewed_at = started;
      wait = period;
    } else if (answer) {
      spdlog::critical(
          "worker id {}: the lease expired and may be held by another process; stopping so that "
          "no two processes make ids with it",
          worker_id_);
      if (on_lost_) on_lost_();
      return;
    } else if (SteadyClock::now() >= line) {
      spdlog::critical(
          "worker id {}: the lease could not be renewed for {} s (database unreachable); stopping "
          "so that no two processes make ids with it",
          worker_id_, std::chrono::duration_cast<std::chrono::seconds>(give_up_after).count());
      if (on_lost_) on_lost_();
      return;
    } else {
      spdlog::warn("worker id {}: renewing its lease failed ({}); trying again every {} ms",
                   worker_id_, failure.empty() ? "no answer" : failure,
                   std::chrono::duration_cast<std::chrono::milliseconds>(retry).count());
      // Wake at the line at the latest, to stop there if the database is still away.
      wait = std::max<SteadyClock::duration>(
          SteadyClock::duration::zero(),
          std::min<SteadyClock::duration>(retry, line - SteadyClock::now()));
    }
    lock.lock();
  }
}

}  // namespace rwd::store
