#include "store/postgres/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "base/text.h"
#include "base/unicode.h"
#include "store/postgres/migrations.h"

namespace rwd::store {

using postgres::ConnPtr;
using postgres::ResultPtr;
using postgres::Row;
using Clock_ = std::chrono::steady_clock;

namespace {

// A write is sent in at most this many transactions: again after a serialization failure or
// deadlock, or after a lost connection proved it did not commit.
constexpr int kMaxSends = 3;
// How often an idle writer looks at its connection: a server that went away (a restart, an
// administrator's termination) is noticed without waiting for a write, so readiness
// (can_write) follows it and the connection is back before the next write needs it.
constexpr auto kIdleCheckInterval = std::chrono::seconds(1);

struct Statement {
  const char* name;
  const char* sql;
};

// Every write the writer sends, prepared once per connection.
const Statement kStatements[] = {
    {"batch_marker", "INSERT INTO write_batches (id, recorded_us) VALUES ($1, $2)"},
    // The batch's chats, in id order: every batch takes its chat locks in the same order, so
    // two processes writing to the same chats queue instead of deadlocking. NO KEY UPDATE is
    // the lock the seq's UPDATE takes anyway, and leaves foreign key checks unblocked.
    {"lock_chats",
     "SELECT id FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"},
    {"put_registration",
     "SELECT rwd_put_registration($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"},
    {"put_mail",
     "INSERT INTO outbox (recipient, subject, body, created_us, next_attempt_us) "
     "VALUES ($1, $2, $3, $4, $5)"},
    {"verify_registration", "SELECT * FROM rwd_verify_registration($1, $2, $3)"},
    {"put_token",
     "INSERT INTO tokens (hash, user_id, created_us, expires_us) VALUES ($1, $2, $3, $4)"},
    {"revoke_token", "SELECT * FROM rwd_revoke_token($1, $2)"},
    {"request_friend", "SELECT * FROM rwd_request_friend($1, $2, $3, $4)"},
    {"accept_friend", "SELECT * FROM rwd_accept_friend($1, $2, $3, $4)"},
    {"cancel_friend_request", "SELECT * FROM rwd_cancel_friend_request($1, $2)"},
    {"unfriend", "SELECT rwd_unfriend($1, $2)"},
    // A repeat of the same message is a no-op; another message under a taken id raises.
    {"put_message", "SELECT rwd_put_message($1, $2, $3, $4, $5)"},
    {"edit_message", "SELECT * FROM rwd_edit_message($1, $2, $3, $4, $5)"},
    {"create_guild", "SELECT * FROM rwd_create_guild($1, $2, $3, $4)"},
    {"rename_guild", "SELECT * FROM rwd_rename_guild($1, $2, $3)"},
    {"add_guild_member", "SELECT * FROM rwd_add_guild_member($1, $2, $3, $4, $5)"},
    {"remove_guild_member", "SELECT * FROM rwd_remove_guild_member($1, $2, $3)"},
    {"leave_guild", "SELECT * FROM rwd_leave_guild($1, $2)"},
    {"delete_guild", "SELECT * FROM rwd_delete_guild($1, $2)"},
    {"mark_mail_sent", "UPDATE outbox SET sent_us = $1, attempts = attempts + 1 WHERE id = $2"},
    {"reschedule_mail",
     "UPDATE outbox SET attempts = $1, next_attempt_us = $2, last_error = $3 WHERE id = $4"},
    {"prune", "SELECT * FROM rwd_prune($1, $2, $3, $4)"},
};

// Settles a batch in doubt: one row back means the fence went in, so the lost transaction did
// not commit and now cannot (its own insert of the id would conflict); no row means its
// marker is there: it committed. If the lost transaction is still open on the server, this
// waits for it (up to lock_timeout).
constexpr const char* kFenceSql =
    "INSERT INTO write_batches (id, recorded_us, fenced) VALUES ($1, $2, true) "
    "ON CONFLICT (id) DO NOTHING RETURNING 1";

// The outcome text the decision functions return, as the rule's error.
Status outcome_status(const std::string& outcome) {
  static const std::pair<const char*, Errc> kOutcomes[] = {
      {"link_invalid", Errc::kLinkInvalid},
      {"name_taken", Errc::kNameTaken},
      {"unauthorized", Errc::kUnauthorized},
      {"already_friends", Errc::kAlreadyFriends},
      {"already_requested", Errc::kAlreadyRequested},
      {"not_requested", Errc::kNotRequested},
      {"not_friends", Errc::kNotFriends},
      {"message_not_found", Errc::kMessageNotFound},
      {"guild_not_found", Errc::kGuildNotFound},
      {"not_guild_owner", Errc::kNotGuildOwner},
      {"already_member", Errc::kAlreadyMember},
      {"guild_full", Errc::kGuildFull},
      {"self_target", Errc::kSelfTarget},
      {"user_not_found", Errc::kUserNotFound},
  };
  if (outcome == "ok") return {};
  for (const auto& [name, code] : kOutcomes)
    if (outcome == name) return code;
  return Error{Errc::kInternal, "unknown outcome '" + outcome + "'"};
}

// A random version 4 UUID: the marker of one batch.
std::string new_marker() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string str(int64_t v) { return std::to_string(v); }

}  // namespace

// The row a committed write's statement answered, read again (Write::reread).
Result<Row> PostgresStore::reread(PGconn* c, const Write& w) {
  std::vector<const char*> values;
  for (const std::string& p : w.reread_params) values.push_back(p.c_str());
  ResultPtr r(PQexecParams(c, w.reread, static_cast<int>(values.size()), nullptr, values.data(),
                           nullptr, nullptr, 0));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
    Error e = postgres::pg_error(c, r.get(), "reading back a committed write's result");
    spdlog::error("{}", e.detail);
    // Not kStorageUnavailable: the write happened, and a retry would repeat it.
    return Error{Errc::kInternal, "committed, but its result could not be read back"};
  }
  return Row(r.get(), 0);
}

namespace {

// The columns of rwd_guild_result: outcome, guild_id, name, owner_id, created_us, member_ids,
// member_joined_us, new_owner, guild_deleted.
GuildState guild_state(const Row& r) {
  GuildState s;
  s.guild = GuildRecord{r.int64(1), r.text(2), r.int64(3), r.int64(4)};
  auto ids = r.int64_array(5);
  auto joined = r.int64_array(6);
  for (size_t i = 0; i < ids.size() && i < joined.size(); ++i)
    s.members.push_back({s.guild.id, ids[i], joined[i]});
  return s;
}

Result<GuildState> parse_guild(const Row& r) {
  if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
  return guild_state(r);
}

}  // namespace

PostgresStore::PostgresStore(std::string url, PostgresOptions options)
    : url_(std::move(url)),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : system_clock_),
      write_health_("write", "writable", clock_, options_.failure_log_interval_us,
                    options_.failure_log),
      read_health_("read", "readable", clock_, options_.failure_log_interval_us,
                   options_.failure_log) {}

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const std::string& url,
                                                           PostgresOptions options) {
  std::unique_ptr<PostgresStore> store(new PostgresStore(url, std::move(options)));
  if (Status s = store->start(); !s.ok()) return s.error();
  return store;
}

Status PostgresStore::start() {
  {
    auto conn = postgres::connect(url_, "rewind-migrate");
    if (!conn.ok()) return conn.error();
    if (Status s = postgres::migrate(conn.value().get()); !s.ok()) return s;
  }
  std::vector<Write> none;  // nothing is in doubt before the first connection
  if (!connect_writer(none)) return Error{Errc::kStorageUnavailable, "cannot connect the writer"};
  next_prune_ = Clock_::now() + std::chrono::microseconds(options_.prune_interval_us);
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "pg-writer");
    writer_loop();
  });
  completion_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "pg-done");
    completion_loop();
  });
  return {};
}

PostgresStore::~PostgresStore() { close(); }

void PostgresStore::close() {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(mu_);
    completion_stopping_ = true;
  }
  completed_cv_.notify_all();
  if (completion_.joinable()) completion_.join();
  disconnect_writer();
  std::lock_guard lock(readers_mu_);
  readers_.clear();
}

// ---------------------------------------------------------------- submitting

template <typename T, typename Parse>
void PostgresStore::submit(const char* statement, std::vector<std::string> params,
                           bool needs_result, Parse parse, Callback<T> done, int64_t chat_id) {
  Write w;
  w.statement = statement;
  w.params = std::move(params);
  w.needs_result = needs_result;
  w.chat_id = chat_id;
  w.finish = [parse = std::move(parse), done = std::move(done)](Result<Row> r) mutable {
    if (!done) return;
    if (!r.ok()) {
      // The cause is in the log (the writer reported it); callers get the documented code,
      // never the server's words.
      if (r.error().code == Errc::kStorageUnavailable)
        return done(Error{Errc::kStorageUnavailable});
      return done(r.error());
    }
    done(parse(r.value()));
  };
  enqueue(std::move(w));
}

void PostgresStore::enqueue(Write w) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(w));
      cv_.notify_one();
      return;
    }
  }
  w.finish(Error{Errc::kStorageUnavailable, "store is closed"});
}

void PostgresStore::requeue_front(std::vector<Write> writes) {
  std::lock_guard lock(mu_);
  for (auto it = writes.rbegin(); it != writes.rend(); ++it) queue_.push_front(std::move(*it));
}

void PostgresStore::fail_all(std::vector<Write> writes, const Error& e) {
  std::vector<Outcome> out;
  out.reserve(writes.size());
  for (Write& w : writes) out.push_back({std::move(w), e});
  complete(std::move(out));
}

void PostgresStore::complete(std::vector<Outcome> outcomes) {
  if (outcomes.empty()) return;
  std::unique_lock lock(mu_);
  completed_room_.wait(lock, [this] { return completed_.size() < kMaxCompletedBatches; });
  completed_.push_back(std::move(outcomes));
  completed_cv_.notify_one();
}

void PostgresStore::completion_loop() {
  for (;;) {
    std::vector<Outcome> batch;
    {
      std::unique_lock lock(mu_);
      completing_ = false;
      idle_cv_.notify_all();
      completed_cv_.wait(lock, [this] { return completion_stopping_ || !completed_.empty(); });
      if (completed_.empty()) return;  // stopping and drained
      batch = std::move(completed_.front());
      completed_.pop_front();
      completing_ = true;
    }
    completed_room_.notify_one();
    for (Outcome& o : batch) o.write.finish(std::move(o.result));
  }
}

void PostgresStore::flush() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] {
    return queue_.empty() && !writer_busy_ && completed_.empty() && !completing_;
  });
}

void PostgresStore::maybe_queue_prune_locked() {
  if (options_.prune_interval_us <= 0 || stopping_) return;
  auto now = Clock_::now();
  if (now < next_prune_) return;
  next_prune_ = now + std::chrono::microseconds(options_.prune_interval_us);
  queue_.push_back(make_prune(clock_.now_us(), [this](Result<PostgresPruneCounts> r) {
    prunes_.fetch_add(1, std::memory_order_relaxed);
    if (!r.ok()) {
      if (r.error().code != Errc::kStorageUnavailable)
        spdlog::error("pruning failed: {}", r.error().detail);
      return;
    }
    const PostgresPruneCounts& n = r.value();
    if (n.expired_tokens + n.revoked_tokens + n.registrations + n.sent_mail > 0)
      spdlog::debug(
          "pruned {} expired and {} revoked tokens, {} expired registrations, {} sent mails",
          n.expired_tokens, n.revoked_tokens, n.registrations, n.sent_mail);
    if (!n.any_batch_full) return;
    std::lock_guard lock(mu_);
    next_prune_ = std::min(next_prune_, Clock_::now() + std::chrono::milliseconds(100));
    cv_.notify_one();
  }));
}

// ---------------------------------------------------------------- the writer

bool PostgresStore::connect_writer(std::vector<Write>& resend) {
  auto conn = postgres::connect(url_, "rewind-writer");
  if (!conn.ok()) {
    connect_error_ = conn.error().detail;
    return false;
  }
  PGconn* c = conn.value().get();
  // A fence waits for a lost transaction that the server has not noticed yet; not forever.
  // And a transaction of this writer's that the network cut in the middle (BEGIN sent, COMMIT
  // never) must not hold its locks, and the next fence, until TCP keepalive gives up hours
  // later: no batch of ours stays idle inside a transaction for seconds.
  for (const char* setting :
       {"SET lock_timeout = '10s'", "SET idle_in_transaction_session_timeout = '20s'"}) {
    if (Status s = postgres::exec_command(c, setting); !s.ok()) {
      connect_error_ = s.error().detail;
      return false;
    }
  }
  if (in_doubt_) {
    std::string now = str(clock_.now_us());
    const char* values[] = {in_doubt_->marker.c_str(), now.c_str()};
    ResultPtr r(PQexecParams(c, kFenceSql, 2, nullptr, values, nullptr, nullptr, 0));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
      Error e = postgres::pg_error(c, r.get(), "settling a batch in doubt");
      connect_error_ = e.detail;
      if (e.code != Errc::kStorageUnavailable) {
        // Retrying cannot settle it; the batch's outcome stays unknown.
        spdlog::error("{}", e.detail);
        fail_all(std::move(in_doubt_->writes), e);
        in_doubt_.reset();
      }
      return false;
    }
    InDoubt settled = std::move(*in_doubt_);
    in_doubt_.reset();
    settled_.fetch_add(1, std::memory_order_relaxed);
    if (PQntuples(r.get()) == 0) {
      // It committed; only the answers were lost.
      spdlog::warn("a batch of {} writes in doubt after a lost connection had committed",
                   settled.writes.size());
      commits_.fetch_add(1, std::memory_order_relaxed);
      writes_.fetch_add(settled.writes.size(), std::memory_order_relaxed);
      std::vector<Outcome> out;
      for (Write& w : settled.writes) {
        Result<Row> result = Row{};
        if (w.needs_result && w.reread) {
          result = reread(c, w);
        } else if (w.needs_result) {
          result = Error{Errc::kInternal, "committed, but its result was lost with the connection"};
        }
        out.push_back({std::move(w), std::move(result)});
      }
      complete(std::move(out));
    } else {
      spdlog::warn("a batch of {} writes in doubt after a lost connection had not committed",
                   settled.writes.size());
      std::vector<Write> again, failed;
      for (Write& w : settled.writes)
        (w.sends < kMaxSends ? again : failed).push_back(std::move(w));
      fail_all(std::move(failed), settled.cause);
      resend = std::move(again);
    }
  }
  for (const Statement& s : kStatements) {
    ResultPtr r(PQprepare(c, s.name, s.sql, 0, nullptr));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      connect_error_ = postgres::pg_error(c, r.get(), std::string("preparing ") + s.name).detail;
      return false;
    }
  }
  if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) {
    connect_error_ = "entering pipeline mode: " + std::string(PQerrorMessage(c));
    return false;
  }
  writer_pid_.store(PQbackendPID(c));
  writer_conn_ = std::move(conn.value());
  reconnect_delay_us_ = 0;
  next_idle_check_ = Clock_::now() + kIdleCheckInterval;
  if (lost_while_idle_) {
    spdlog::info("storage writer connected again");
    lost_while_idle_ = false;
  }
  return true;
}

void PostgresStore::disconnect_writer() {
  writer_conn_.reset();
  writer_pid_.store(0);
}

void PostgresStore::writer_loop() {
  for (;;) {
    std::vector<Write> batch;
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      writer_busy_ = false;
      idle_cv_.notify_all();
      for (;;) {
        maybe_queue_prune_locked();
        if (stopping_ || !queue_.empty()) break;
        // Without a connection the writer reconnects by itself (backoff as for writes): a
        // batch in doubt is settled, and readiness returns, as soon as the server is back.
        // With one, it checks now and then that the server has not closed it.
        auto due = writer_conn_ ? next_idle_check_ : next_connect_;
        if (Clock_::now() >= due) break;
        auto until = options_.prune_interval_us > 0 ? std::min(due, next_prune_) : due;
        cv_.wait_until(lock, until);
      }
      stopping = stopping_;
      if (stopping_ && queue_.empty() && !in_doubt_) return;
      size_t n = std::min(queue_.size(), kMaxBatch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      writer_busy_ = true;
    }
    if (!writer_conn_) {
      bool connected = false;
      // Closing with a batch in doubt: one last try to settle it, whatever the backoff says.
      // Writes of a batch in doubt that proved not to have committed: older than `batch`.
      std::vector<Write> resend;
      if (Clock_::now() >= next_connect_ || stopping) {
        connected = connect_writer(resend);
        if (!connected) {
          reconnect_delay_us_ = std::clamp(reconnect_delay_us_ * 2, options_.reconnect_min_delay_us,
                                           options_.reconnect_max_delay_us);
          next_connect_ = Clock_::now() + std::chrono::microseconds(reconnect_delay_us_);
        }
      }
      if (connected) {
        // In submission order: the settled writes, then this batch, then the rest.
        requeue_front(std::move(batch));
        requeue_front(std::move(resend));
        continue;
      }
      // Settled as not committed, but the connection failed after: they did not happen.
      batch.insert(batch.begin(), std::make_move_iterator(resend.begin()),
                   std::make_move_iterator(resend.end()));
      if (!batch.empty()) {
        write_health_.failed(batch.size(), connect_error_);
        fail_all(std::move(batch), Error{Errc::kStorageUnavailable, "not connected"});
      }
      bool give_up = false;
      {
        std::lock_guard lock(mu_);
        give_up = stopping_ && queue_.empty();
      }
      if (give_up) {
        if (in_doubt_) {
          spdlog::error(
              "closing with a batch of {} writes in doubt: the database could not be "
              "reached to settle it",
              in_doubt_->writes.size());
          // Not kStorageUnavailable: that promises the write did not happen, and a retry of
          // one that did would store it twice.
          fail_all(std::move(in_doubt_->writes),
                   Error{Errc::kInternal, "outcome unknown at close"});
          in_doubt_.reset();
        }
        return;
      }
      continue;
    }
    if (batch.empty()) {
      check_idle_connection();
    } else {
      run_batch(std::move(batch));
    }
  }
}

void PostgresStore::check_idle_connection() {
  next_idle_check_ = Clock_::now() + kIdleCheckInterval;
  PGconn* c = writer_conn_.get();
  pollfd p{PQsocket(c), POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return;  // nothing arrived: nothing to learn
  // Input on an idle connection is a notice, or the server's goodbye followed by the end of
  // the stream; libpq marks the connection bad once it reads that end.
  if (PQconsumeInput(c) == 1 && PQstatus(c) == CONNECTION_OK) return;
  connect_error_ = postgres::pg_error(c, nullptr, "the writer's idle connection").detail;
  spdlog::warn("storage writer lost its connection while idle ({}); reconnecting", connect_error_);
  disconnect_writer();
  lost_while_idle_ = true;
  reconnect_delay_us_ = 0;
  next_connect_ = Clock_::now();
}

bool PostgresStore::wait_socket(Clock_::time_point deadline) {
  PGconn* c = writer_conn_.get();
  for (;;) {
    int flushed = PQflush(c);  // 0: all sent, 1: more to send, -1: failed
    if (flushed < 0) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock_::now());
    if (left.count() <= 0) return false;
    pollfd p{PQsocket(c), static_cast<short>(POLLIN | (flushed == 1 ? POLLOUT : 0)), 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (n < 0 && errno != EINTR) return false;
    if (n <= 0) continue;
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      if (PQconsumeInput(c) == 0) return false;
      return true;
    }
  }
}

ResultPtr PostgresStore::next_result(Clock_::time_point deadline, bool* failed) {
  PGconn* c = writer_conn_.get();
  while (PQisBusy(c)) {
    if (!wait_socket(deadline)) {
      *failed = true;
      return nullptr;
    }
  }
  ResultPtr r(PQgetResult(c));
  if (!r && PQstatus(c) != CONNECTION_OK) *failed = true;
  return r;
}

void PostgresStore::run_batch(std::vector<Write> batch) {
  PGconn* c = writer_conn_.get();
  const auto started = Clock_::now();
  const std::string marker = new_marker();
  const std::string now = str(clock_.now_us());
  bool sent = PQsendQueryParams(c, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  {
    const char* v[] = {marker.c_str(), now.c_str()};
    sent = sent && PQsendQueryPrepared(c, "batch_marker", 2, v, nullptr, nullptr, 0) == 1;
  }
  // The chats whose seqs the batch takes, locked before anything else.
  std::vector<int64_t> chats;
  for (const Write& w : batch)
    if (w.chat_id != 0) chats.push_back(w.chat_id);
  std::sort(chats.begin(), chats.end());
  chats.erase(std::unique(chats.begin(), chats.end()), chats.end());
  const size_t prefix = chats.empty() ? 2 : 3;  // BEGIN, marker and the lock when there is one
  if (!chats.empty()) {
    std::string array = "{";
    for (size_t i = 0; i < chats.size(); ++i) array += (i ? "," : "") + str(chats[i]);
    array += "}";
    const char* v[] = {array.c_str()};
    sent = sent && PQsendQueryPrepared(c, "lock_chats", 1, v, nullptr, nullptr, 0) == 1;
  }
  std::vector<const char*> values;
  for (Write& w : batch) {
    if (!sent) break;
    ++w.sends;
    values.clear();
    for (const std::string& p : w.params) values.push_back(p.c_str());
    sent = PQsendQueryPrepared(c, w.statement, static_cast<int>(values.size()), values.data(),
                               nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQsendQueryParams(c, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  sent = sent && PQpipelineSync(c) == 1;

  const auto deadline = Clock_::now() + std::chrono::microseconds(options_.batch_timeout_us);
  bool lost = !sent;
  if (sent && lose_connection_for_test_.exchange(false)) {
    // Everything reaches the server; the answers are never read.
    while (PQflush(c) == 1) wait_socket(deadline);
    lost = true;
  }
  std::vector<Result<Row>> results;  // per write, in order
  results.reserve(batch.size());
  std::optional<size_t> failed_write;  // the write whose statement failed, if any
  std::optional<Error> batch_error;    // why the transaction did not commit
  bool retry_whole = false;            // serialization failure or deadlock
  bool committed = false;

  // Reads the answer of one query of the pipeline: its result, then the null that ends it.
  auto answer = [&](ResultPtr* out) -> bool {
    if (lost) return false;
    ResultPtr r = next_result(deadline, &lost);
    if (lost || !r) {
      lost = true;
      return false;
    }
    if (PQresultStatus(r.get()) != PGRES_PIPELINE_SYNC) {
      ResultPtr end = next_result(deadline, &lost);
      if (lost) return false;
    }
    *out = std::move(r);
    return true;
  };

  ResultPtr r;
  const size_t total = prefix + batch.size() + 1;  // the prefix, the writes, COMMIT
  for (size_t i = 0; i < total && !lost; ++i) {
    if (!answer(&r)) break;
    ExecStatusType st = PQresultStatus(r.get());
    size_t write = i - prefix;  // valid for prefix <= i < total - 1
    bool is_write = i >= prefix && i < total - 1;
    if (st == PGRES_PIPELINE_ABORTED) {
      if (is_write) results.push_back(Error{Errc::kInternal, "not run"});
      continue;
    }
    if (st == PGRES_FATAL_ERROR) {
      Error e = postgres::pg_error(c, r.get(),
                                   is_write ? std::string("running ") + batch[write].statement
                                   : i == total - 1 ? "committing"
                                   : i == 2         ? "locking the batch's chats"
                                                    : "beginning a batch");
      if (PQstatus(c) != CONNECTION_OK) {
        lost = true;
        batch_error = e;
        break;
      }
      if (!batch_error) {
        batch_error = e;
        retry_whole = postgres::retry_at_once(r.get());
        if (is_write && e.code == Errc::kInternal) failed_write = write;
      }
      if (is_write) results.push_back(e);
      continue;
    }
    if (is_write) {
      results.push_back(PQntuples(r.get()) > 0 ? Row(r.get(), 0) : Row{});
    } else if (i == total - 1) {
      committed = st == PGRES_COMMAND_OK && !batch_error;
    }
  }
  if (!lost) {
    // The Sync's own answer ends the pipeline's cycle.
    ResultPtr sync;
    if (!answer(&sync) || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) lost = true;
    if (lost && committed) {
      // COMMIT's answer was read: the batch is durable even though the Sync was not.
      lost = false;
      disconnect_writer();
    }
    // After an error the statements up to the Sync were skipped, COMMIT included, and the
    // transaction block stays open (aborted) until it is rolled back.
    if (!lost && !committed && PQtransactionStatus(c) != PQTRANS_IDLE) {
      ResultPtr rollback;
      bool ok = PQsendQueryParams(c, "ROLLBACK", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
                PQpipelineSync(c) == 1 && answer(&rollback) && answer(&sync) &&
                PQresultStatus(sync.get()) == PGRES_PIPELINE_SYNC;
      if (!ok) {
        // Nothing of the batch committed; a fresh connection starts clean.
        disconnect_writer();
        next_connect_ = Clock_::now();
      }
    }
  }

  if (committed) {
    // A commit this slow holds every acknowledgement behind it: say so (at most every 10 s),
    // so that an operator can tell a slow database from a slow server.
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock_::now() - started);
    if (took.count() >= kSlowBatchMs && Clock_::now() >= next_slow_batch_log_) {
      next_slow_batch_log_ = Clock_::now() + std::chrono::seconds(10);
      spdlog::warn("PostgreSQL: a batch of {} writes took {} ms to commit", batch.size(),
                   took.count());
    }
    commits_.fetch_add(1, std::memory_order_relaxed);
    writes_.fetch_add(batch.size(), std::memory_order_relaxed);
    write_health_.succeeded();
    std::vector<Outcome> out;
    out.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i)
      out.push_back({std::move(batch[i]), std::move(results[i])});
    return complete(std::move(out));
  }
  if (lost) {
    Error cause = batch_error ? *batch_error
                              : postgres::pg_error(c, nullptr, "the database connection was lost");
    spdlog::debug("batch of {} writes: connection lost ({})", batch.size(), cause.detail);
    cause.code = Errc::kStorageUnavailable;
    write_health_.failed(batch.size(), cause.detail);
    disconnect_writer();
    next_connect_ = Clock_::now();
    if (batch_error) {
      // A statement had already failed: the transaction cannot have committed. Sent again on
      // the next connection (which is tried at once), or failed when the writes have been
      // sent often enough.
      std::vector<Write> again, failed;
      for (Write& w : batch) (w.sends < kMaxSends ? again : failed).push_back(std::move(w));
      fail_all(std::move(failed), cause);
      return requeue_front(std::move(again));
    }
    in_doubt_ = InDoubt{marker, std::move(batch), cause};
    return;
  }
  // Rolled back, connection fine.
  if (failed_write) {
    // A bug in one write: it fails alone, the others go again in the next batch.
    spdlog::error("{}", batch_error->detail);
    std::vector<Write> again;
    std::vector<Outcome> out;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (i == *failed_write) {
        out.push_back({std::move(batch[i]), *batch_error});
      } else {
        again.push_back(std::move(batch[i]));
      }
    }
    complete(std::move(out));
    return requeue_front(std::move(again));
  }
  Error e = batch_error ? *batch_error : Error{Errc::kInternal, "the batch did not commit"};
  if (retry_whole &&
      std::all_of(batch.begin(), batch.end(), [](const Write& w) { return w.sends < kMaxSends; }))
    return requeue_front(std::move(batch));
  if (e.code == Errc::kStorageUnavailable) {
    write_health_.failed(batch.size(), e.detail);
  } else {
    spdlog::error("{}", e.detail);
  }
  fail_all(std::move(batch), e);
}

// ---------------------------------------------------------------- reads

Result<ConnPtr> PostgresStore::borrow_reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!readers_.empty()) {
      ConnPtr c = std::move(readers_.back());
      readers_.pop_back();
      return c;
    }
  }
  return postgres::connect(url_, "rewind-reader");
}

void PostgresStore::return_reader(ConnPtr conn) {
  std::lock_guard lock(readers_mu_);
  if (conn && PQstatus(conn.get()) == CONNECTION_OK && readers_.size() < options_.max_readers)
    readers_.push_back(std::move(conn));
}

Error PostgresStore::read_failed(Error e) {
  if (e.code != Errc::kStorageUnavailable) return e;
  read_health_.failed(1, e.detail);
  return Errc::kStorageUnavailable;
}

Result<ResultPtr> PostgresStore::read(const char* sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  Error last{Errc::kInternal};
  // A pooled connection may have died with a server restart: one more try on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto borrowed = borrow_reader();
    if (!borrowed.ok()) return borrowed.error();
    ConnPtr c = std::move(borrowed.value());
    ResultPtr r(PQexecParams(c.get(), sql, static_cast<int>(values.size()), nullptr, values.data(),
                             nullptr, nullptr, 0));
    if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
      return_reader(std::move(c));
      read_health_.succeeded();
      return r;
    }
    last = postgres::pg_error(c.get(), r.get(), sql);
    bool broken = PQstatus(c.get()) != CONNECTION_OK;
    if (!broken) return_reader(std::move(c));
    if (!broken || last.code != Errc::kStorageUnavailable) break;
  }
  return last;
}

Result<DirectorySnapshot> PostgresStore::load_directory(int64_t now_us) {
  // Read at start-up (a failure stops the server: its detail is the message) and again when a
  // node may have missed changes made by others. Every table is read in one REPEATABLE READ
  // transaction on one connection, so the snapshot is one instant of the database: a guild
  // never lists a member whose user row was read before it committed, a friendship never
  // misses its chat.
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return borrowed.error();
  ConnPtr c = std::move(borrowed.value());
  auto exec = [&](const char* sql, const std::vector<std::string>& params,
                  ExecStatusType want) -> Result<ResultPtr> {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    ResultPtr r(PQexecParams(c.get(), sql, static_cast<int>(values.size()), nullptr, values.data(),
                             nullptr, nullptr, 0));
    if (r && PQresultStatus(r.get()) == want) return r;
    return postgres::pg_error(c.get(), r.get(), sql);
  };
  auto run = [&]() -> Result<DirectorySnapshot> {
    if (auto b = exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}, PGRES_COMMAND_OK);
        !b.ok())
      return b.error();
    DirectorySnapshot snap;
    auto rows = [&](const char* sql, const std::vector<std::string>& params, auto add) -> Status {
      auto r = exec(sql, params, PGRES_TUPLES_OK);
      if (!r.ok()) return r.error();
      PGresult* q = r.value().get();
      for (int i = 0; i < PQntuples(q); ++i) add(Row(q, i));
      return {};
    };
    if (Status s = rows("SELECT id, name, email, password_hash, profile, created_us FROM users", {},
                        [&](const Row& row) {
                          UserRecord u{row.int64(0), row.text(1),  row.text(2),
                                       row.text(3),  std::nullopt, row.int64(5)};
                          if (!row.is_null(4)) u.profile = row.text(4);
                          snap.users.push_back(std::move(u));
                        });
        !s.ok())
      return s.error();
    if (Status s = rows("SELECT from_id, to_id FROM friend_requests", {},
                        [&](const Row& r) {
                          snap.friend_requests.push_back({r.int64(0), r.int64(1)});
                        });
        !s.ok())
      return s.error();
    if (Status s = rows("SELECT user_lo, user_hi FROM friendships", {},
                        [&](const Row& r) {
                          snap.friendships.push_back({r.int64(0), r.int64(1)});
                        });
        !s.ok())
      return s.error();
    if (Status s = rows("SELECT id, user_lo, user_hi FROM chats WHERE kind = 0", {},
                        [&](const Row& r) {
                          snap.dm_chats.push_back({r.int64(0), r.int64(1), r.int64(2)});
                        });
        !s.ok())
      return s.error();
    if (Status s = rows("SELECT hash, user_id, created_us, expires_us FROM tokens "
                        "WHERE NOT revoked AND expires_us > $1",
                        {str(now_us)},
                        [&](const Row& r) {
                          snap.tokens.push_back({r.text(0), r.int64(1), r.int64(2), r.int64(3)});
                        });
        !s.ok())
      return s.error();
    if (Status s = rows("SELECT id, name, owner_id, created_us FROM guilds", {},
                        [&](const Row& r) {
                          snap.guilds.push_back({r.int64(0), r.text(1), r.int64(2), r.int64(3)});
                        });
        !s.ok())
      return s.error();
    if (Status s = rows("SELECT guild_id, user_id, joined_us FROM guild_members", {},
                        [&](const Row& r) {
                          snap.guild_members.push_back({r.int64(0), r.int64(1), r.int64(2)});
                        });
        !s.ok())
      return s.error();
    if (auto e = exec("COMMIT", {}, PGRES_COMMAND_OK); !e.ok()) return e.error();
    return snap;
  };
  Result<DirectorySnapshot> out = run();
  if (out.ok()) {
    read_health_.succeeded();
    return_reader(std::move(c));
  } else if (PQstatus(c.get()) == CONNECTION_OK && PQtransactionStatus(c.get()) == PQTRANS_IDLE) {
    return_reader(std::move(c));
  }  // otherwise the connection (broken, or inside a failed transaction) is dropped
  return out;
}

Result<std::vector<MessageRecord>> PostgresStore::load_messages(int64_t chat_id, int64_t before_us,
                                                                int limit) {
  auto r = read(
      "SELECT id, author_id, content, created_us, edited_us, seq FROM messages "
      "WHERE chat_id = $1 AND created_us < $2 AND NOT deleted "
      "ORDER BY created_us DESC, id DESC LIMIT $3",
      {str(chat_id), str(before_us), str(limit)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  std::vector<MessageRecord> out;
  for (int i = PQntuples(q) - 1; i >= 0; --i) {
    Row row(q, i);
    MessageRecord m;
    m.id = row.int64(0);
    m.chat_id = chat_id;
    m.author_id = row.int64(1);
    m.content = row.text(2);
    m.created_us = row.int64(3);
    if (!row.is_null(4)) m.edited_us = row.int64(4);
    m.seq = row.int64(5);
    out.push_back(std::move(m));
  }
  return out;
}

Result<std::vector<ChatChange>> PostgresStore::load_chat_changes(int64_t chat_id, int64_t after_seq,
                                                                 int limit) {
  // Sends are messages, edits and deletions rows of message_changes; the text as of a change
  // is what the message's next change replaced, or its content after the last one.
  auto r = read(
      "SELECT ch.seq, ch.kind, m.id, m.author_id, m.created_us, ch.edited_us, "
      "  COALESCE((SELECT n.content_before FROM message_changes n "
      "             WHERE n.message_id = m.id AND n.seq > ch.seq ORDER BY n.seq LIMIT 1), "
      "           m.content) "
      "FROM (SELECT seq, 0 AS kind, id AS message_id, NULL::bigint AS edited_us FROM messages "
      "       WHERE chat_id = $1 AND seq > $2 "
      "      UNION ALL "
      "      SELECT seq, CASE WHEN deleted THEN 2 ELSE 1 END, message_id, edited_us "
      "        FROM message_changes WHERE chat_id = $1 AND seq > $2 "
      "      ORDER BY seq LIMIT $3) ch "
      "JOIN messages m ON m.id = ch.message_id "
      "ORDER BY ch.seq",
      {str(chat_id), str(after_seq), str(std::max(limit, 0))});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  std::vector<ChatChange> out;
  out.reserve(PQntuples(q));
  for (int i = 0; i < PQntuples(q); ++i) {
    Row row(q, i);
    ChatChange ch;
    int64_t kind = row.int64(1);
    ch.kind = kind == 0 ? ChangeKind::kSend : kind == 1 ? ChangeKind::kEdit : ChangeKind::kDelete;
    MessageRecord& m = ch.message;
    m.seq = row.int64(0);
    m.id = row.int64(2);
    m.chat_id = chat_id;
    m.author_id = row.int64(3);
    m.created_us = row.int64(4);
    if (!row.is_null(5)) m.edited_us = row.int64(5);
    m.deleted = ch.kind == ChangeKind::kDelete;
    m.content = row.text(6);
    out.push_back(std::move(ch));
  }
  return out;
}

Result<std::vector<ChatPosition>> PostgresStore::chat_positions(
    const std::vector<int64_t>& chat_ids) {
  std::string array = "{";
  for (size_t i = 0; i < chat_ids.size(); ++i) array += (i ? "," : "") + str(chat_ids[i]);
  array += "}";
  auto r = read("SELECT id, last_seq FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id", {array});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  std::vector<ChatPosition> out;
  out.reserve(PQntuples(q));
  for (int i = 0; i < PQntuples(q); ++i) {
    Row row(q, i);
    out.push_back({row.int64(0), row.int64(1)});
  }
  return out;
}

Result<std::optional<TokenRecord>> PostgresStore::find_token(const std::string& token_hash,
                                                             int64_t now_us) {
  auto r = read(
      "SELECT user_id, created_us, expires_us FROM tokens "
      "WHERE hash = $1 AND NOT revoked AND expires_us > $2",
      {token_hash, str(now_us)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  if (PQntuples(q) == 0) return std::optional<TokenRecord>();
  Row row(q, 0);
  return std::optional<TokenRecord>(
      TokenRecord{token_hash, row.int64(0), row.int64(1), row.int64(2)});
}

Result<std::optional<UserRecord>> PostgresStore::read_user(const char* sql, std::string param) {
  auto r = read(sql, {std::move(param)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  if (PQntuples(q) == 0) return std::optional<UserRecord>();
  Row row(q, 0);
  UserRecord u{row.int64(0), row.text(1), row.text(2), row.text(3), std::nullopt, row.int64(5)};
  if (!row.is_null(4)) u.profile = row.text(4);
  return std::optional<UserRecord>(std::move(u));
}

Result<std::optional<UserRecord>> PostgresStore::find_user(int64_t id) {
  return read_user(
      "SELECT id, name, email, password_hash, profile, created_us FROM users WHERE id = $1",
      str(id));
}

Result<std::optional<UserRecord>> PostgresStore::find_user_by_name(const std::string& name) {
  return read_user(
      "SELECT id, name, email, password_hash, profile, created_us FROM users WHERE name_key = $1",
      unicode::name_key(name));
}

Result<std::optional<UserRecord>> PostgresStore::find_user_by_email(const std::string& email) {
  return read_user(
      "SELECT id, name, email, password_hash, profile, created_us FROM users "
      "WHERE email_lower = $1",
      ascii_lower(email));
}

Result<std::optional<PendingRegistration>> PostgresStore::find_pending(const std::string& email) {
  auto r = read(
      "SELECT email, name, password_hash, key_hash, created_us, expires_us "
      "FROM pending_registrations WHERE email_lower = $1",
      {ascii_lower(email)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  if (PQntuples(q) == 0) return std::optional<PendingRegistration>();
  Row row(q, 0);
  return std::optional<PendingRegistration>(PendingRegistration{
      row.text(0), row.text(1), row.text(2), row.text(3), row.int64(4), row.int64(5)});
}

Result<std::vector<OutboxMail>> PostgresStore::due_mail(int64_t now_us, int limit) {
  auto r = read(
      "SELECT id, recipient, subject, body, attempts, next_attempt_us FROM outbox "
      "WHERE sent_us IS NULL AND next_attempt_us <= $1 ORDER BY next_attempt_us LIMIT $2",
      {str(now_us), str(limit)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  std::vector<OutboxMail> out;
  for (int i = 0; i < PQntuples(q); ++i) {
    Row row(q, i);
    out.push_back({row.int64(0), row.text(1), row.text(2), row.text(3),
                   static_cast<int>(row.int64(4)), row.int64(5)});
  }
  return out;
}

Result<std::optional<int64_t>> PostgresStore::next_mail_due() {
  auto r = read("SELECT min(next_attempt_us) FROM outbox WHERE sent_us IS NULL", {});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  if (PQntuples(q) == 0 || PQgetisnull(q, 0, 0)) return std::optional<int64_t>();
  return std::optional<int64_t>(postgres::parse_int64(PQgetvalue(q, 0, 0)));
}

int PostgresStore::schema_version() {
  auto r = read("SELECT COALESCE(max(version), 0) FROM schema_migrations", {});
  if (!r.ok()) return -1;
  return static_cast<int>(postgres::parse_int64(PQgetvalue(r.value().get(), 0, 0)));
}

// ---------------------------------------------------------------- writes

namespace {

Status void_ok(const Row&) { return {}; }
Status outcome_only(const Row& r) { return outcome_status(r.text(0)); }

}  // namespace

void PostgresStore::put_registration(PendingRegistration reg, OutboxMail mail,
                                     Callback<void> done) {
  std::vector<std::string> p{ascii_lower(reg.email),
                             reg.email,
                             reg.name,
                             unicode::name_key(reg.name),
                             unicode::confusable_skeleton(reg.name),
                             reg.password_hash,
                             reg.key_hash,
                             str(reg.created_us),
                             str(reg.expires_us),
                             mail.recipient,
                             mail.subject,
                             mail.body,
                             str(mail.next_attempt_us)};
  // Its function only ever answers 'ok': a batch found committed after a lost connection
  // (no row to read) acknowledges it too.
  submit<void>("put_registration", std::move(p), false, void_ok, std::move(done));
}

void PostgresStore::put_mail(OutboxMail mail, Callback<void> done) {
  // As the SQLite store: the mail counts as created when it is first due.
  std::string due = str(mail.next_attempt_us);
  submit<void>("put_mail", {mail.recipient, mail.subject, mail.body, due, due}, false, void_ok,
               std::move(done));
}

void PostgresStore::verify_registration(std::string key_hash, int64_t now_us, int64_t new_user_id,
                                        Callback<UserRecord> done) {
  submit<UserRecord>(
      "verify_registration", {std::move(key_hash), str(now_us), str(new_user_id)}, true,
      [now_us, new_user_id](const Row& r) -> Result<UserRecord> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        return UserRecord{new_user_id, r.text(1), r.text(2), r.text(3), std::nullopt, now_us};
      },
      std::move(done));
}

void PostgresStore::put_token(TokenRecord t, Callback<void> done) {
  submit<void>("put_token", {t.token_hash, str(t.user_id), str(t.created_us), str(t.expires_us)},
               false, void_ok, std::move(done));
}

void PostgresStore::revoke_token(std::string token_hash, int64_t now_us, Callback<int64_t> done) {
  submit<int64_t>(
      "revoke_token", {std::move(token_hash), str(now_us)}, true,
      [](const Row& r) -> Result<int64_t> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        return r.int64(1);
      },
      std::move(done));
}

void PostgresStore::request_friend(int64_t from_id, int64_t to_id, int64_t new_chat_id,
                                   int64_t now_us, Callback<FriendRequestOutcome> done) {
  submit<FriendRequestOutcome>(
      "request_friend", {str(from_id), str(to_id), str(new_chat_id), str(now_us)}, true,
      [](const Row& r) -> Result<FriendRequestOutcome> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        return FriendRequestOutcome{r.boolean(1), r.int64(2)};
      },
      std::move(done));
}

void PostgresStore::accept_friend(int64_t user_id, int64_t requester_id, int64_t new_chat_id,
                                  int64_t now_us, Callback<int64_t> done) {
  submit<int64_t>(
      "accept_friend", {str(user_id), str(requester_id), str(new_chat_id), str(now_us)}, true,
      [](const Row& r) -> Result<int64_t> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        return r.int64(1);
      },
      std::move(done));
}

void PostgresStore::cancel_friend_request(int64_t user_id, int64_t other_id,
                                          Callback<FriendRequestRecord> done) {
  submit<FriendRequestRecord>(
      "cancel_friend_request", {str(user_id), str(other_id)}, true,
      [](const Row& r) -> Result<FriendRequestRecord> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        return FriendRequestRecord{r.int64(1), r.int64(2)};
      },
      std::move(done));
}

void PostgresStore::unfriend(int64_t user_id, int64_t other_id, Callback<void> done) {
  // Its outcome decides success or kNotFriends, so a committed batch in doubt cannot answer.
  submit<void>("unfriend", {str(user_id), str(other_id)}, true, outcome_only, std::move(done));
}

void PostgresStore::put_message(MessageRecord m, Callback<int64_t> done) {
  Write w;
  w.statement = "put_message";
  w.params = {str(m.id), str(m.chat_id), str(m.author_id), std::move(m.content), str(m.created_us)};
  w.needs_result = true;
  // Found committed after a lost connection: the message is there, with its seq.
  w.reread = "SELECT seq FROM messages WHERE id = $1";
  w.reread_params = {str(m.id)};
  w.chat_id = m.chat_id;
  w.finish = [done = std::move(done)](Result<Row> r) {
    if (!done) return;
    if (!r.ok()) {
      if (r.error().code == Errc::kStorageUnavailable)
        return done(Error{Errc::kStorageUnavailable});
      return done(r.error());
    }
    done(r->int64(0));
  };
  enqueue(std::move(w));
}

void PostgresStore::edit_message(int64_t chat_id, int64_t message_id, int64_t author_id,
                                 std::string content, int64_t now_us,
                                 Callback<MessageRecord> done) {
  std::string text = content;
  submit<MessageRecord>(
      "edit_message", {str(chat_id), str(message_id), str(author_id), std::move(text), str(now_us)},
      true,
      [=, content = std::move(content)](const Row& r) -> Result<MessageRecord> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        return MessageRecord{message_id, chat_id,         author_id, content,
                             r.int64(1), content.empty(), now_us,    r.int64(2)};
      },
      std::move(done), chat_id);
}

void PostgresStore::create_guild(GuildRecord g, Callback<GuildState> done) {
  submit<GuildState>("create_guild", {str(g.id), g.name, str(g.owner_id), str(g.created_us)}, true,
                     parse_guild, std::move(done));
}

void PostgresStore::rename_guild(int64_t guild_id, int64_t actor_id, std::string name,
                                 Callback<GuildState> done) {
  submit<GuildState>("rename_guild", {str(guild_id), str(actor_id), std::move(name)}, true,
                     parse_guild, std::move(done));
}

void PostgresStore::add_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id,
                                     int64_t now_us, int64_t max_members,
                                     Callback<GuildState> done) {
  submit<GuildState>("add_guild_member",
                     {str(guild_id), str(actor_id), str(user_id), str(now_us), str(max_members)},
                     true, parse_guild, std::move(done));
}

void PostgresStore::remove_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id,
                                        Callback<GuildState> done) {
  submit<GuildState>("remove_guild_member", {str(guild_id), str(actor_id), str(user_id)}, true,
                     parse_guild, std::move(done));
}

void PostgresStore::leave_guild(int64_t guild_id, int64_t user_id,
                                Callback<GuildLeaveOutcome> done) {
  submit<GuildLeaveOutcome>(
      "leave_guild", {str(guild_id), str(user_id)}, true,
      [](const Row& r) -> Result<GuildLeaveOutcome> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        GuildLeaveOutcome out;
        if (!r.boolean(8)) out.after = guild_state(r);
        if (!r.is_null(7)) out.new_owner = r.int64(7);
        return out;
      },
      std::move(done));
}

void PostgresStore::delete_guild(int64_t guild_id, int64_t actor_id, Callback<GuildState> done) {
  submit<GuildState>("delete_guild", {str(guild_id), str(actor_id)}, true, parse_guild,
                     std::move(done));
}

void PostgresStore::mark_mail_sent(int64_t mail_id, int64_t now_us, Callback<void> done) {
  submit<void>("mark_mail_sent", {str(now_us), str(mail_id)}, false, void_ok, std::move(done));
}

void PostgresStore::reschedule_mail(int64_t mail_id, int attempts, int64_t next_attempt_us,
                                    std::string last_error, Callback<void> done) {
  submit<void>("reschedule_mail",
               {str(attempts), str(next_attempt_us), std::move(last_error), str(mail_id)}, false,
               void_ok, std::move(done));
}

PostgresStore::Write PostgresStore::make_prune(int64_t now_us, Callback<PostgresPruneCounts> done) {
  const int64_t limit = options_.prune_batch;
  Write w;
  w.statement = "prune";
  w.params = {str(now_us), str(now_us - options_.sent_mail_retention_us),
              str(now_us - options_.batch_marker_retention_us), str(limit)};
  w.needs_result = true;
  w.finish = [limit, done = std::move(done)](Result<Row> r) {
    if (!done) return;
    if (!r.ok()) return done(r.error());
    const Row& row = r.value();
    PostgresPruneCounts n{row.int64(0), row.int64(1), row.int64(2), row.int64(3), false};
    n.any_batch_full = n.expired_tokens == limit || n.revoked_tokens == limit ||
                       n.registrations == limit || n.sent_mail == limit;
    done(n);
  };
  return w;
}

void PostgresStore::prune(int64_t now_us, Callback<PostgresPruneCounts> done) {
  enqueue(make_prune(now_us, std::move(done)));
}

// ---------------------------------------------------------------- worker id lease

namespace {

// Names this process in worker_leases: host, pid and a random part (pids repeat).
std::string lease_holder() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + new_marker();
}

}  // namespace

Result<std::unique_ptr<WorkerIdLease>> WorkerIdLease::claim(const std::string& url, int worker_id,
                                                            int64_t ttl_us,
                                                            std::function<void()> on_lost) {
  auto conn = postgres::connect(url, "rewind-lease");
  if (!conn.ok()) return conn.error();
  std::string holder = lease_holder();
  std::string id = std::to_string(worker_id), ttl = str(ttl_us);
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
  std::string ttl = str(ttl_us);
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
  const auto period = std::chrono::microseconds(ttl_us_ / 3);
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, period, [this] { return stopping_; })) return;
    lock.unlock();
    bool lost = false;
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      auto c = postgres::connect(url_, "rewind-lease");
      if (c.ok()) conn = std::move(c.value());
    }
    if (conn) {
      std::string id = std::to_string(worker_id_), ttl = std::to_string(ttl_us_);
      const char* values[] = {id.c_str(), holder_.c_str(), ttl.c_str()};
      ResultPtr r(PQexecParams(conn.get(), "SELECT rwd_renew_worker_id($1, $2, $3)", 3, nullptr,
                               values, nullptr, nullptr, 0));
      if (r && PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
        lost = std::string(PQgetvalue(r.get(), 0, 0)) != "t";
      } else {
        spdlog::warn("renewing the lease of worker id {} failed; trying again in {} s", worker_id_,
                     ttl_us_ / 3'000'000);
        conn.reset();
      }
    }
    if (lost) {
      spdlog::critical("the lease of worker id {} expired and may be held by another process",
                       worker_id_);
      if (on_lost_) on_lost_();
      return;
    }
    lock.lock();
  }
}

}  // namespace rwd::store
