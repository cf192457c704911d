#include "store/postgres/postgres_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string_view>

#include "base/text.h"
#include "base/unicode.h"
#include "metrics/counters.h"
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
    {"put_token", "SELECT rwd_put_token($1, $2, $3, $4, $5, $6)"},
    {"set_user_disabled", "SELECT * FROM rwd_set_user_disabled($1, $2, $3)"},
    {"delete_user", "SELECT * FROM rwd_delete_user($1, $2, $3)"},
    {"revoke_token", "SELECT * FROM rwd_revoke_token($1, $2)"},
    // Not a decision: a use of a token that is gone changes nothing.
    {"touch_token",
     "UPDATE tokens SET last_seen_us = $2 "
     "WHERE hash = $1 AND NOT revoked AND expires_us > $2 AND last_seen_us < $2"},
    {"put_password_reset", "SELECT * FROM rwd_put_password_reset($1, $2, $3, $4, $5, $6, $7, $8)"},
    {"reset_password", "SELECT * FROM rwd_reset_password($1, $2, $3)"},
    {"change_password", "SELECT * FROM rwd_replace_password($1, $2, $3, $4, $5)"},
    {"request_friend", "SELECT * FROM rwd_request_friend($1, $2, $3, $4)"},
    {"accept_friend", "SELECT * FROM rwd_accept_friend($1, $2, $3, $4)"},
    {"cancel_friend_request", "SELECT * FROM rwd_cancel_friend_request($1, $2)"},
    {"unfriend", "SELECT rwd_unfriend($1, $2)"},
    {"block_user", "SELECT * FROM rwd_block_user($1, $2, $3)"},
    {"unblock_user", "SELECT rwd_unblock_user($1, $2)"},
    // A repeat of the same message is a no-op; another message under a taken id raises.
    // Answers the seq and the stored time.
    {"put_message", "SELECT * FROM rwd_store_message($1, $2, $3, $4, $5)"},
    // A send with its client's nonce: stored once (a retry answers the first one).
    {"put_message_once", "SELECT * FROM rwd_store_message_once($1, $2, $3, $4, $5, $6, $7)"},
    // Consecutive sends of a batch: the same fields as arrays, one row (seq, stored time) per
    // message.
    {"put_messages",
     "SELECT * FROM rwd_store_messages($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], "
     "$5::bigint[])"},
    {"edit_message", "SELECT * FROM rwd_edit_message($1, $2, $3, $4, $5)"},
    {"mark_read", "SELECT * FROM rwd_mark_read($1, $2, $3)"},
    // Not decisions: setting what is set changes nothing.
    {"hide_presence",
     "INSERT INTO presence_hidden (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING"},
    {"show_presence", "DELETE FROM presence_hidden WHERE user_id = $1"},
    {"create_guild", "SELECT * FROM rwd_create_guild($1, $2, $3, $4)"},
    {"rename_guild", "SELECT * FROM rwd_rename_guild($1, $2, $3)"},
    {"add_guild_member", "SELECT * FROM rwd_add_guild_member($1, $2, $3, $4, $5)"},
    {"remove_guild_member", "SELECT * FROM rwd_remove_guild_member($1, $2, $3)"},
    {"leave_guild", "SELECT * FROM rwd_leave_guild($1, $2)"},
    {"delete_guild", "SELECT * FROM rwd_delete_guild($1, $2)"},
    // The body (a link, stored hashed everywhere else) goes once sent; the rest stays.
    {"mark_mail_sent",
     "UPDATE outbox SET sent_us = $1, attempts = attempts + 1, body = '' WHERE id = $2"},
    {"reschedule_mail",
     "UPDATE outbox SET attempts = $1, next_attempt_us = $2, last_error = $3 WHERE id = $4"},
    {"prune", "SELECT * FROM rwd_prune($1, $2, $3, $4)"},
};

// A write whose caller needs its result runs as this wrapper of its statement, which also
// stores the row it returns (its text form) under the batch's marker and the write's position
// in the batch: the two parameters after the statement's own. The answer is the statement's.
constexpr const char* kKeptSuffix = "+kept";

// The highest $n in `sql`: the statement's parameter count.
int parameter_count(std::string_view sql) {
  int most = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] != '$') continue;
    int n = 0;
    while (i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9')
      n = n * 10 + (sql[++i] - '0');
    most = std::max(most, n);
  }
  return most;
}

std::string kept_sql(std::string_view sql) {
  const int n = parameter_count(sql);
  return "WITH r AS (" + std::string(sql) +
         "), kept AS (INSERT INTO write_results (batch_id, position, result) SELECT $" +
         std::to_string(n + 1) + ", $" + std::to_string(n + 2) +
         ", r::text FROM r LIMIT 1) SELECT * FROM r";
}

// The results a committed batch stored (see kept_sql), by position.
constexpr const char* kStoredResultsSql =
    "SELECT position, result FROM write_results WHERE batch_id = $1";

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
      {"invalid_credentials", Errc::kInvalidCredentials},
      {"account_disabled", Errc::kAccountDisabled},
      {"user_blocked", Errc::kUserBlocked},
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

// A bigint[] parameter's text form: {1,2,3}.
std::string bigint_array(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + str(ids[i]);
  return out + "}";
}

// Appends `value` to the text of an array literal ("{...}" without its braces) as one quoted
// element: array_in reads a backslash as escaping the character after it.
void append_quoted_element(std::string& array, const std::string& value) {
  if (array.size() > 1) array += ',';
  array += '"';
  for (char ch : value) {
    if (ch == '"' || ch == '\\') array += '\\';
    array += ch;
  }
  array += '"';
}

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

// A live message of `chat_id` from six columns of `r` from `first` on: id, author_id, content,
// created_us, edited_us, seq (the order of every read of messages below).
MessageRecord live_message(const Row& r, int first, int64_t chat_id) {
  MessageRecord m;
  m.id = r.int64(first);
  m.chat_id = chat_id;
  m.author_id = r.int64(first + 1);
  m.content = r.text(first + 2);
  m.created_us = r.int64(first + 3);
  if (!r.is_null(first + 4)) m.edited_us = r.int64(first + 4);
  m.seq = r.int64(first + 5);
  return m;
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
                   options_.failure_log),
      window_(options_.commit_delay_us) {}

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
  w.keep_result = needs_result;
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
      window_.write_queued(Clock_::now());
      // During the commit window the writer wakes at its end, or once the batch is full.
      // Under the lock: once it is released the write may be committed and acknowledged, and
      // this call must touch nothing of the store after that.
      if (!holding_batch_ || queue_.size() >= kMaxBatch) cv_.notify_one();
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
  // After the unlock: woken under it, the completion thread would only block on the mutex.
  lock.unlock();
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

Result<std::map<size_t, Result<Row>>> PostgresStore::read_stored_results(
    PGconn* c, const std::string& marker) {
  const char* values[] = {marker.c_str()};
  ResultPtr r(PQexecParams(c, kStoredResultsSql, 1, nullptr, values, nullptr, nullptr, 0));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
    return postgres::pg_error(c, r.get(), "reading the results of a batch in doubt");
  std::map<size_t, Result<Row>> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    Row stored(r.get(), i);
    out.emplace(static_cast<size_t>(stored.int64(0)), Row::from_record_text(stored.text(1)));
  }
  return out;
}

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
    const bool committed = PQntuples(r.get()) == 0;
    std::map<size_t, Result<Row>> stored;  // committed: the results its writes kept
    if (committed) {
      auto read = read_stored_results(c, in_doubt_->marker);
      if (!read.ok()) {
        connect_error_ = read.error().detail;
        if (read.error().code != Errc::kStorageUnavailable) {
          spdlog::error("{}", read.error().detail);
          fail_all(std::move(in_doubt_->writes), read.error());
          in_doubt_.reset();
        }
        // Otherwise settled again on the next connection (the fence is idempotent).
        return false;
      }
      stored = std::move(read.value());
    }
    InDoubt settled = std::move(*in_doubt_);
    in_doubt_.reset();
    settled_.fetch_add(1, std::memory_order_relaxed);
    if (committed) {
      // It committed; only the answers were lost, and the results the callbacks need were
      // stored with it.
      spdlog::warn("a batch of {} writes in doubt after a lost connection had committed",
                   settled.writes.size());
      commits_.fetch_add(1, std::memory_order_relaxed);
      writes_.fetch_add(settled.writes.size(), std::memory_order_relaxed);
      std::vector<Outcome> out;
      for (size_t i = 0; i < settled.writes.size(); ++i) {
        Write& w = settled.writes[i];
        Result<Row> result = Row{};  // a kept result not stored: the statement returned no row
        if (w.keep_result) {
          if (auto it = stored.find(i); it != stored.end()) result = std::move(it->second);
        } else if (w.needs_result && w.reread) {
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
    // Every statement that can return a row also has its kept form.
    if (std::string_view(s.sql).rfind("SELECT", 0) != 0) continue;
    std::string kept = std::string(s.name) + kKeptSuffix;
    r.reset(PQprepare(c, kept.c_str(), kept_sql(s.sql).c_str(), 0, nullptr));
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      connect_error_ = postgres::pg_error(c, r.get(), "preparing " + kept).detail;
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
  bool ran_batch = false;
  for (;;) {
    std::vector<Write> batch;
    bool stopping = false;
    {
      std::unique_lock lock(mu_);
      if (ran_batch) window_.commit_ended(Clock_::now());
      ran_batch = false;  // the paths without a connection below run none
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
      if (stopping_ && queue_.empty() && !in_doubt_) return;
      // Without a connection the writes fail (or settle) at once: nothing to hold them for.
      if (writer_conn_ && !queue_.empty()) hold_batch_open(lock);
      stopping = stopping_;  // after the window: a close may have come while it held
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
    ran_batch = !batch.empty();
    if (batch.empty()) {
      check_idle_connection();
    } else {
      run_batch(std::move(batch));
    }
  }
}

// The commit window (CommitWindow says when); a full batch ends it early.
void PostgresStore::hold_batch_open(std::unique_lock<std::mutex>& lock) {
  if (queue_.size() >= kMaxBatch || stopping_) return;
  auto now = Clock_::now();
  auto window = window_.hold_at(now, queue_.size());
  if (window.count() == 0) return;
  windows_held_.fetch_add(1, std::memory_order_relaxed);
  holding_batch_ = true;
  cv_.wait_until(lock, now + window, [this] { return stopping_ || queue_.size() >= kMaxBatch; });
  holding_batch_ = false;
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
    const std::string array = bigint_array(chats);
    const char* v[] = {array.c_str()};
    sent = sent && PQsendQueryPrepared(c, "lock_chats", 1, v, nullptr, nullptr, 0) == 1;
  }
  // The statements of the writes, in order: each write alone, except that consecutive
  // message sends go together as one call of rwd_store_messages (one statement, one UPDATE of
  // each chat's last_seq and one INSERT for all of them, where one call each would cost a
  // statement, an UPDATE and an INSERT per message).
  std::vector<BatchStatement> statements;
  for (size_t i = 0; i < batch.size();) {
    size_t end = i + 1;
    if (batch[i].send && !batch[i].alone)
      while (end < batch.size() && batch[end].send && !batch[end].alone) ++end;
    statements.push_back({i, end - i});
    i = end;
  }
  std::vector<const char*> values;
  std::string kept, position;
  std::string arrays[5];
  for (const BatchStatement& st : statements) {
    if (!sent) break;
    for (size_t i = st.first; i < st.first + st.count; ++i) ++batch[i].sends;
    if (st.count > 1) {
      for (std::string& a : arrays) a = "{";
      for (size_t i = st.first; i < st.first + st.count; ++i) {
        const std::vector<std::string>& p = batch[i].params;  // id, chat, author, content, time
        for (int f = 0; f < 5; ++f) {
          if (f == 3) {
            append_quoted_element(arrays[f], p[f]);
          } else {
            if (arrays[f].size() > 1) arrays[f] += ',';
            arrays[f] += p[f];
          }
        }
      }
      for (std::string& a : arrays) a += '}';
      const char* v[] = {arrays[0].c_str(), arrays[1].c_str(), arrays[2].c_str(), arrays[3].c_str(),
                         arrays[4].c_str()};
      sent = PQsendQueryPrepared(c, "put_messages", 5, v, nullptr, nullptr, 0) == 1;
      combined_sends_.fetch_add(st.count, std::memory_order_relaxed);
      continue;
    }
    Write& w = batch[st.first];
    values.clear();
    for (const std::string& p : w.params) values.push_back(p.c_str());
    const char* statement = w.statement;
    if (w.keep_result) {
      // Its result is kept in the transaction, for a settlement after a lost connection.
      kept = std::string(w.statement) + kKeptSuffix;
      position = str(static_cast<int64_t>(st.first));
      statement = kept.c_str();
      values.push_back(marker.c_str());
      values.push_back(position.c_str());
    }
    sent = PQsendQueryPrepared(c, statement, static_cast<int>(values.size()), values.data(),
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
  bool failed_combined = false;        // a combined send failed: which message is unknown
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
  const size_t total = prefix + statements.size() + 1;  // the prefix, the writes, COMMIT
  for (size_t i = 0; i < total && !lost; ++i) {
    if (!answer(&r)) break;
    ExecStatusType status = PQresultStatus(r.get());
    bool is_write = i >= prefix && i < total - 1;
    const BatchStatement* st = is_write ? &statements[i - prefix] : nullptr;
    auto each = [&](const Result<Row>& result) {
      for (size_t k = 0; k < st->count; ++k) results.push_back(result);
    };
    if (status == PGRES_PIPELINE_ABORTED) {
      if (is_write) each(Error{Errc::kInternal, "not run"});
      continue;
    }
    if (status == PGRES_FATAL_ERROR) {
      Error e =
          postgres::pg_error(c, r.get(),
                             st ? std::string("running ") +
                                      (st->count > 1 ? "put_messages" : batch[st->first].statement)
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
        if (st && e.code == Errc::kInternal) {
          if (st->count > 1) {
            failed_combined = true;
          } else {
            failed_write = st->first;
          }
        }
      }
      if (st) each(e);
      continue;
    }
    if (st && st->count > 1) {
      // A row per message, in order (a missing one cannot happen: a bug, reported as such).
      const int rows = PQntuples(r.get());
      for (size_t k = 0; k < st->count; ++k)
        results.push_back(static_cast<int>(k) < rows
                              ? Result<Row>(Row(r.get(), static_cast<int>(k)))
                              : Result<Row>(Error{Errc::kInternal, "put_messages lost a row"}));
    } else if (st) {
      results.push_back(PQntuples(r.get()) > 0 ? Row(r.get(), 0) : Row{});
    } else if (i == total - 1) {
      committed = status == PGRES_COMMAND_OK && !batch_error;
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
    metrics::counters().commit_batch_size.observe(static_cast<double>(batch.size()));
    metrics::counters().commit_seconds.observe(
        std::chrono::duration<double>(Clock_::now() - started).count());
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
  if (failed_combined) {
    // One of the sends that went together broke a rule (a message id taken by another
    // message, no such chat): the batch goes again with those sends each on its own, so that
    // the one that fails fails alone. This transaction does not count against their sends.
    spdlog::debug("{}; sending the batch's messages one by one", batch_error->detail);
    for (Write& w : batch) {
      --w.sends;
      if (w.send) w.alone = true;
    }
    return requeue_front(std::move(batch));
  }
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
  // A pooled connection may have died with a server restart: one more try, on a fresh one.
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
    // The server went away under this connection, so most likely under every idle one too
    // (a restart): the next try connects afresh instead of finding another dead one.
    std::lock_guard lock(readers_mu_);
    readers_.clear();
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
    if (Status s = rows("SELECT id, name, email, password_hash, profile, created_us, disabled, "
                        "deleted_us IS NOT NULL FROM users",
                        {},
                        [&](const Row& row) {
                          UserRecord u{row.int64(0), row.text(1),  row.text(2),
                                       row.text(3),  std::nullopt, row.int64(5)};
                          if (!row.is_null(4)) u.profile = row.text(4);
                          u.disabled = row.boolean(6);
                          u.deleted = row.boolean(7);
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
    if (Status s = rows("SELECT user_id FROM presence_hidden", {},
                        [&](const Row& r) { snap.presence_hidden.push_back(r.int64(0)); });
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
  for (int i = PQntuples(q) - 1; i >= 0; --i) out.push_back(live_message(Row(q, i), 0, chat_id));
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
  auto r = read("SELECT id, last_seq FROM chats WHERE id = ANY($1::bigint[]) ORDER BY id",
                {bigint_array(chat_ids)});
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

Result<std::vector<ChatSummary>> PostgresStore::chat_summaries(int64_t user_id,
                                                               const std::vector<int64_t>& chat_ids,
                                                               int unread_cap) {
  // One statement, one snapshot. The count is bounded: a chat never read with a long history
  // costs at most the cap's rows of messages_chat_seq.
  auto r = read(
      "SELECT c.id, r.message_id, "
      "  (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.chat_id = c.id "
      "     AND m.seq > coalesce(r.seq, 0) AND NOT m.deleted AND m.author_id <> $2 "
      "     ORDER BY m.seq LIMIT $3) u), "
      "  l.id, l.author_id, l.content, l.created_us, l.edited_us, l.seq, c.last_seq "
      "FROM unnest($1::bigint[]) WITH ORDINALITY AS a (id, ord) "
      "JOIN chats c ON c.id = a.id "
      "LEFT JOIN read_marks r ON r.user_id = $2 AND r.chat_id = c.id "
      "LEFT JOIN LATERAL (SELECT id, author_id, content, created_us, edited_us, seq "
      "  FROM messages m WHERE m.chat_id = c.id AND NOT m.deleted "
      "  ORDER BY m.seq DESC LIMIT 1) l ON true "
      "ORDER BY a.ord",
      {bigint_array(chat_ids), str(user_id), str(unread_cap)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  std::vector<ChatSummary> out;
  out.reserve(PQntuples(q));
  for (int i = 0; i < PQntuples(q); ++i) {
    Row row(q, i);
    ChatSummary sum;
    sum.chat_id = row.int64(0);
    if (!row.is_null(1)) sum.last_read_id = row.int64(1);
    sum.unread = static_cast<int>(row.int64(2));
    sum.last_seq = row.int64(9);
    if (!row.is_null(3)) sum.last_message = live_message(row, 3, sum.chat_id);
    out.push_back(std::move(sum));
  }
  return out;
}

Result<std::vector<MessageRecord>> PostgresStore::search_messages(const MessageSearch& search) {
  std::vector<MessageRecord> out;
  if (search.terms.empty() || search.chat_ids.empty()) return out;
  // Two tsqueries (migration 17): the terms as prefixes, normalized as texts are
  // (to_tsquery 'simple'), and the chats' lexemes as they are stored (a plain cast).
  auto quoted = [](const std::string& text) {
    std::string q = "'";
    for (char ch : text) q += ch == '\'' ? std::string("''") : std::string(1, ch);
    return q + "'";
  };
  std::string words, chats;
  for (const std::string& term : search.terms)
    words += (words.empty() ? "" : " & ") + quoted(term) + ":*";
  for (int64_t chat : search.chat_ids)
    chats += (chats.empty() ? "" : " | ") + quoted("#" + std::to_string(chat));
  auto r = read(
      "SELECT id, author_id, content, created_us, edited_us, seq, chat_id FROM messages "
      "WHERE rwd_search_vector(content, chat_id) @@ (to_tsquery('simple', $1) && $2::tsquery) "
      "  AND NOT deleted "
      // Words the parser drops (it may take a symbol for a blank) leave an empty query,
      // which with the chats would match every message of them: nothing matches instead.
      "  AND numnode(to_tsquery('simple', $1)) > 0 "
      "ORDER BY ts_rank(rwd_search_vector(content, chat_id), to_tsquery('simple', $1)) DESC, "
      "  id DESC "
      "LIMIT $3 OFFSET $4",
      {words, chats, str(search.limit), str(search.offset)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  out.reserve(PQntuples(q));
  for (int i = 0; i < PQntuples(q); ++i) {
    Row row(q, i);
    out.push_back(live_message(row, 0, row.int64(6)));
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

Result<std::vector<TokenRecord>> PostgresStore::live_tokens_of(int64_t user_id, int64_t now_us) {
  auto r = read(
      "SELECT hash, created_us, expires_us, greatest(last_seen_us, created_us), client "
      "FROM tokens WHERE user_id = $1 AND NOT revoked AND expires_us > $2 "
      "ORDER BY created_us, hash",
      {str(user_id), str(now_us)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  std::vector<TokenRecord> out;
  for (int i = 0; i < PQntuples(q); ++i) {
    Row row(q, i);
    out.push_back(
        TokenRecord{row.text(0), user_id, row.int64(1), row.int64(2), row.int64(3), row.text(4)});
  }
  return out;
}

Result<std::vector<int64_t>> PostgresStore::blocked_by(int64_t blocker_id) {
  auto r =
      read("SELECT blocked_id FROM blocks WHERE blocker_id = $1 ORDER BY created_us, blocked_id",
           {str(blocker_id)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  std::vector<int64_t> out;
  for (int i = 0; i < PQntuples(q); ++i) out.push_back(Row(q, i).int64(0));
  return out;
}

Result<std::optional<UserRecord>> PostgresStore::read_user(const char* sql, std::string param) {
  auto r = read(sql, {std::move(param)});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  if (PQntuples(q) == 0) return std::optional<UserRecord>();
  Row row(q, 0);
  UserRecord u{row.int64(0), row.text(1), row.text(2), row.text(3), std::nullopt, row.int64(5)};
  if (!row.is_null(4)) u.profile = row.text(4);
  u.disabled = row.boolean(6);
  u.deleted = row.boolean(7);
  return std::optional<UserRecord>(std::move(u));
}

Result<std::optional<UserRecord>> PostgresStore::find_user(int64_t id) {
  return read_user(
      "SELECT id, name, email, password_hash, profile, created_us, disabled, deleted_us IS NOT "
      "NULL FROM users WHERE id = "
      "$1",
      str(id));
}

Result<std::optional<UserRecord>> PostgresStore::find_user_by_name(const std::string& name) {
  return read_user(
      "SELECT id, name, email, password_hash, profile, created_us, disabled, deleted_us IS NOT "
      "NULL FROM users WHERE "
      "name_key = $1",
      unicode::name_key(name));
}

Result<std::optional<UserRecord>> PostgresStore::find_user_by_email(const std::string& email) {
  return read_user(
      "SELECT id, name, email, password_hash, profile, created_us, disabled, deleted_us IS NOT "
      "NULL FROM users "
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

// A transaction on a connection of its own that holds the claimed rows (FOR UPDATE) while the
// mail is sent: another node's claim skips them (SKIP LOCKED), and a process that dies ends
// the transaction with its connection, which leaves the rows due again at once. The outcomes
// are written in the same transaction. The sender thread's own time, never a network thread's.
class PostgresMailClaim final : public MailClaim {
 public:
  PostgresMailClaim(PostgresStore& store, ConnPtr conn) : store_(store), conn_(std::move(conn)) {}
  ~PostgresMailClaim() override {
    if (!conn_) return;
    ResultPtr r(PQexec(conn_.get(), "ROLLBACK"));
    store_.return_reader(std::move(conn_));
  }

  // BEGIN and the claim itself; false with the error when either fails.
  Status open(int64_t now_us, int limit) {
    if (Status s = exec("BEGIN", {}, PGRES_COMMAND_OK); !s.ok()) return s;
    std::string now = std::to_string(now_us), most = std::to_string(limit);
    const char* values[] = {now.c_str(), most.c_str()};
    const char* sql =
        "SELECT id, recipient, subject, body, attempts, next_attempt_us FROM outbox "
        "WHERE sent_us IS NULL AND next_attempt_us <= $1 ORDER BY next_attempt_us, id LIMIT $2 "
        "FOR UPDATE SKIP LOCKED";
    ResultPtr r(PQexecParams(conn_.get(), sql, 2, nullptr, values, nullptr, nullptr, 0));
    if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK)
      return postgres::pg_error(conn_.get(), r.get(), sql);
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      Row row(r.get(), i);
      mail_.push_back({row.int64(0), row.text(1), row.text(2), row.text(3),
                       static_cast<int>(row.int64(4)), row.int64(5)});
    }
    return {};
  }
  bool broken() const { return !conn_ || PQstatus(conn_.get()) != CONNECTION_OK; }

  void sent(int64_t mail_id, int64_t now_us) override {
    record(exec("UPDATE outbox SET sent_us = $1, attempts = attempts + 1, body = '' WHERE id = $2",
                {std::to_string(now_us), std::to_string(mail_id)}, PGRES_COMMAND_OK));
  }
  void retry(int64_t mail_id, int attempts, int64_t next_attempt_us,
             std::string last_error) override {
    record(
        exec("UPDATE outbox SET attempts = $1, next_attempt_us = $2, last_error = $3 "
             "WHERE id = $4",
             {std::to_string(attempts), std::to_string(next_attempt_us), std::move(last_error),
              std::to_string(mail_id)},
             PGRES_COMMAND_OK));
  }
  Status commit() override {
    if (!conn_) return failed_;
    if (failed_.ok()) record(exec("COMMIT", {}, PGRES_COMMAND_OK));
    if (!failed_.ok()) (void)exec("ROLLBACK", {}, PGRES_COMMAND_OK);
    if (failed_.ok()) store_.read_health_.succeeded();
    store_.return_reader(std::move(conn_));
    return failed_.ok() ? failed_ : Status(store_.read_failed(failed_.error()));
  }

 private:
  Status exec(const char* sql, const std::vector<std::string>& params, ExecStatusType want) {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    ResultPtr r(PQexecParams(conn_.get(), sql, static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
    if (r && PQresultStatus(r.get()) == want) return {};
    return postgres::pg_error(conn_.get(), r.get(), sql);
  }
  // The first failure is kept: after it the transaction is aborted and the rest is moot.
  void record(Status s) {
    if (failed_.ok() && !s.ok()) failed_ = std::move(s);
  }

  PostgresStore& store_;
  ConnPtr conn_;
  Status failed_;
};

Result<std::unique_ptr<MailClaim>> PostgresStore::claim_due_mail(int64_t now_us, int limit) {
  Error last{Errc::kInternal};
  // A pooled connection may have died with a server restart: one more try, on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto borrowed = borrow_reader();
    if (!borrowed.ok()) return read_failed(borrowed.error());
    auto claim = std::make_unique<PostgresMailClaim>(*this, std::move(borrowed.value()));
    Status s = claim->open(now_us, limit);
    if (s.ok()) return std::unique_ptr<MailClaim>(std::move(claim));
    last = s.error();
    if (!claim->broken() || last.code != Errc::kStorageUnavailable) break;
    std::lock_guard lock(readers_mu_);
    readers_.clear();
  }
  return read_failed(last);
}

Result<std::optional<int64_t>> PostgresStore::next_mail_due() {
  auto r = read("SELECT min(next_attempt_us) FROM outbox WHERE sent_us IS NULL", {});
  if (!r.ok()) return read_failed(r.error());
  PGresult* q = r.value().get();
  if (PQntuples(q) == 0 || PQgetisnull(q, 0, 0)) return std::optional<int64_t>();
  return std::optional<int64_t>(postgres::parse_int64(PQgetvalue(q, 0, 0)));
}

Result<int64_t> PostgresStore::unsent_mail_count() {
  auto r = read("SELECT count(*) FROM outbox WHERE sent_us IS NULL AND next_attempt_us < $1",
                {str(INT64_MAX)});
  if (!r.ok()) return read_failed(r.error());
  return postgres::parse_int64(PQgetvalue(r.value().get(), 0, 0));
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

void PostgresStore::put_login_token(TokenRecord t, std::string verified_password_hash,
                                    Callback<void> done) {
  // A decision now (kAccountDisabled, kInvalidCredentials): kept, like every decision's.
  submit<void>("put_token",
               {t.token_hash, str(t.user_id), str(t.created_us), str(t.expires_us),
                std::move(verified_password_hash), t.client},
               true, outcome_only, std::move(done));
}

void PostgresStore::set_user_disabled(int64_t user_id, bool disabled, int64_t now_us,
                                      Callback<AccountStateOutcome> done) {
  submit<AccountStateOutcome>(
      "set_user_disabled", {str(user_id), disabled ? "true" : "false", str(now_us)}, true,
      [](const Row& r) -> Result<AccountStateOutcome> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        AccountStateOutcome out;
        out.changed = r.boolean(1);
        std::string revoked = r.text(2);
        for (size_t start = 0; start < revoked.size();) {
          size_t comma = std::min(revoked.find(',', start), revoked.size());
          out.revoked_token_hashes.push_back(revoked.substr(start, comma - start));
          start = comma + 1;
        }
        return out;
      },
      std::move(done));
}

namespace {

// "a,b,c" into its parts; none for "".
std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0; start < text.size();) {
    size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  auto digit = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(digit(hex[i]) * 16 + digit(hex[i + 1])));
  return out;
}

// The columns of rwd_delete_user (migration 10).
Result<AccountDeleted> parse_account_deleted(int64_t user_id, const Row& r) {
  if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
  AccountDeleted out;
  out.user.id = user_id;
  out.user.created_us = r.int64(1);
  out.user.disabled = r.boolean(2);
  out.user.deleted = true;
  out.revoked_token_hashes = split_commas(r.text(3));
  out.former_friends = r.int64_array(4);
  auto from = r.int64_array(5), to = r.int64_array(6);
  for (size_t i = 0; i < from.size() && i < to.size(); ++i)
    out.removed_requests.push_back({from[i], to[i]});
  auto ids = r.int64_array(7);
  auto names = split_commas(r.text(8));
  auto owners = r.int64_array(9), created = r.int64_array(10), heirs = r.int64_array(11);
  auto member_guilds = r.int64_array(12), member_users = r.int64_array(13),
       member_joined = r.int64_array(14);
  if (owners.size() != ids.size() || created.size() != ids.size() || heirs.size() != ids.size() ||
      member_users.size() != member_guilds.size() || member_joined.size() != member_guilds.size())
    return Error{Errc::kInternal, "rwd_delete_user answered arrays of different lengths"};
  for (size_t i = 0; i < ids.size(); ++i) {
    GuildDeparture d;
    d.guild_id = ids[i];
    if (heirs[i] != 0) d.outcome.new_owner = heirs[i];
    if (owners[i] != 0) {  // 0: the guild went with its last member
      GuildState after;
      after.guild = GuildRecord{ids[i], i < names.size() ? from_hex(names[i]) : std::string(),
                                owners[i], created[i]};
      for (size_t m = 0; m < member_guilds.size(); ++m)
        if (member_guilds[m] == ids[i])
          after.members.push_back({ids[i], member_users[m], member_joined[m]});
      d.outcome.after = std::move(after);
    }
    out.guilds.push_back(std::move(d));
  }
  return out;
}

}  // namespace

void PostgresStore::delete_user(int64_t user_id, std::string verified_password_hash, int64_t now_us,
                                Callback<AccountDeleted> done) {
  submit<AccountDeleted>(
      "delete_user", {str(user_id), std::move(verified_password_hash), str(now_us)}, true,
      [user_id](const Row& r) { return parse_account_deleted(user_id, r); }, std::move(done));
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

void PostgresStore::touch_token(std::string token_hash, int64_t now_us, Callback<void> done) {
  submit<void>("touch_token", {std::move(token_hash), str(now_us)}, false, void_ok,
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
  // Its outcome decides success or kNotFriends: kept, like every decision's.
  submit<void>("unfriend", {str(user_id), str(other_id)}, true, outcome_only, std::move(done));
}

void PostgresStore::block_user(int64_t blocker_id, int64_t blocked_id, int64_t now_us,
                               Callback<BlockOutcome> done) {
  submit<BlockOutcome>(
      "block_user", {str(blocker_id), str(blocked_id), str(now_us)}, true,
      [](const Row& r) -> Result<BlockOutcome> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        BlockOutcome out;
        out.changed = r.boolean(1);
        out.unfriended = r.boolean(2);
        if (r.int64(3) != 0) out.request_removed = FriendRequestRecord{r.int64(3), r.int64(4)};
        return out;
      },
      std::move(done));
}

void PostgresStore::unblock_user(int64_t blocker_id, int64_t blocked_id, Callback<bool> done) {
  submit<bool>(
      "unblock_user", {str(blocker_id), str(blocked_id)}, true,
      [](const Row& r) -> Result<bool> { return r.boolean(0); }, std::move(done));
}

void PostgresStore::put_message(MessageRecord m, Callback<StoredMessage> done) {
  Write w;
  w.statement = "put_message";
  w.send = true;
  w.params = {str(m.id), str(m.chat_id), str(m.author_id), std::move(m.content), str(m.created_us)};
  w.needs_result = true;
  // Found committed after a lost connection: the message is there, with its seq and time.
  w.reread = "SELECT seq, created_us FROM messages WHERE id = $1";
  w.reread_params = {str(m.id)};
  w.chat_id = m.chat_id;
  w.finish = [done = std::move(done)](Result<Row> r) {
    if (!done) return;
    if (!r.ok()) {
      if (r.error().code == Errc::kStorageUnavailable)
        return done(Error{Errc::kStorageUnavailable});
      return done(r.error());
    }
    done(StoredMessage{r->int64(0), r->int64(1)});
  };
  enqueue(std::move(w));
}

void PostgresStore::put_message_once(MessageRecord m, std::string nonce, int64_t reuse_before_us,
                                     Callback<SentMessage> done) {
  const int64_t chat_id = m.chat_id, author_id = m.author_id;
  submit<SentMessage>(
      "put_message_once",
      {str(m.id), str(chat_id), str(author_id), std::move(m.content), str(m.created_us),
       std::move(nonce), str(reuse_before_us)},
      true,
      [chat_id, author_id](const Row& r) -> Result<SentMessage> {
        SentMessage out;
        out.duplicate = r.boolean(0);
        out.message = MessageRecord{r.int64(1), chat_id,      author_id,    r.text(2),
                                    r.int64(3), r.boolean(5), std::nullopt, r.int64(6)};
        if (!r.is_null(4)) out.message.edited_us = r.int64(4);
        return out;
      },
      std::move(done), chat_id);
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

void PostgresStore::set_presence_hidden(int64_t user_id, bool hidden, Callback<void> done) {
  submit<void>(hidden ? "hide_presence" : "show_presence", {str(user_id)}, false, void_ok,
               std::move(done));
}

void PostgresStore::mark_read(int64_t user_id, int64_t chat_id, int64_t message_id,
                              Callback<ReadMark> done) {
  submit<ReadMark>(
      "mark_read", {str(user_id), str(chat_id), str(message_id)}, true,
      [chat_id](const Row& r) -> Result<ReadMark> {
        if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
        return ReadMark{chat_id, r.int64(1), r.boolean(2)};
      },
      std::move(done));
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
  // Its counts are only logged, and it deletes old markers: its row is not kept, since it
  // would reference a marker the prune itself may delete.
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

// ---------------------------------------------------------------- passwords

namespace {

// The row of rwd_replace_password (and of rwd_reset_password, which ends in it).
Result<PasswordChanged> password_changed(const Row& r, const std::string& new_hash) {
  if (Status s = outcome_status(r.text(0)); !s.ok()) return s.error();
  PasswordChanged out;
  out.user.id = r.int64(1);
  out.user.name = r.text(2);
  out.user.email = r.text(3);
  if (!r.is_null(4)) out.user.profile = r.text(4);
  out.user.created_us = r.int64(5);
  out.user.password_hash = new_hash;
  if (!r.is_null(6)) {
    std::string_view hashes = r.text(6);
    while (!hashes.empty()) {
      size_t comma = hashes.find(',');
      out.revoked_token_hashes.emplace_back(hashes.substr(0, comma));
      hashes = comma == std::string_view::npos ? std::string_view{} : hashes.substr(comma + 1);
    }
  }
  return out;
}

}  // namespace

void PostgresStore::put_password_reset(PasswordReset reset, OutboxMail mail, Callback<void> done) {
  std::vector<std::string> p{str(reset.user_id),
                             reset.key_hash,
                             str(reset.created_us),
                             str(reset.expires_us),
                             mail.recipient,
                             mail.subject,
                             mail.body,
                             str(mail.next_attempt_us)};
  submit<void>(
      "put_password_reset", std::move(p), true,
      [](const Row& r) -> Status { return outcome_status(r.text(0)); }, std::move(done));
}

void PostgresStore::reset_password(std::string key_hash, std::string password_hash, int64_t now_us,
                                   Callback<PasswordChanged> done) {
  submit<PasswordChanged>(
      "reset_password", {std::move(key_hash), password_hash, str(now_us)}, true,
      [password_hash](const Row& r) -> Result<PasswordChanged> {
        auto changed = password_changed(r, password_hash);
        // The key's user is gone (a deleted account loses its key with it): as unknown.
        if (!changed.ok() && changed.error().code == Errc::kUserNotFound) return Errc::kLinkInvalid;
        return changed;
      },
      std::move(done));
}

void PostgresStore::change_password(int64_t user_id, std::string old_hash, std::string new_hash,
                                    std::string keep_token_hash, int64_t now_us,
                                    Callback<PasswordChanged> done) {
  submit<PasswordChanged>(
      "change_password",
      {str(user_id), std::move(old_hash), new_hash, std::move(keep_token_hash), str(now_us)}, true,
      [new_hash](const Row& r) -> Result<PasswordChanged> { return password_changed(r, new_hash); },
      std::move(done));
}

}  // namespace rwd::store
