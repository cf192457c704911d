#include "store/sqlite/sqlite_store.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>

#include "base/text.h"
#include "base/unicode.h"
#include "metrics/counters.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/paced_writeback_vfs.h"

namespace rwd::store {

namespace {

constexpr size_t kMaxReaders = 4;

// A live message of `chat_id` from six columns of `q` from `first` on: id, author_id, content,
// created_us, edited_us, seq (the order of every read of messages below).
MessageRecord live_message(const Connection::Query& q, int first, int64_t chat_id) {
  MessageRecord m;
  m.id = q.int64(first);
  m.chat_id = chat_id;
  m.author_id = q.int64(first + 1);
  m.content = q.text(first + 2);
  m.created_us = q.int64(first + 3);
  if (!q.is_null(first + 4)) m.edited_us = q.int64(first + 4);
  m.seq = q.int64(first + 5);
  return m;
}

// Result codes the environment causes, where trying again later can succeed: the disk is full
// or failing, a file cannot be opened (descriptors exhausted, permissions), another process
// holds the database, memory ran out, the file system went read-only.
bool environmental(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

const char* code_name(int code) {
  switch (code & 0xff) {
    case SQLITE_FULL:
      return "SQLITE_FULL";
    case SQLITE_IOERR:
      return "SQLITE_IOERR";
    case SQLITE_CANTOPEN:
      return "SQLITE_CANTOPEN";
    case SQLITE_BUSY:
      return "SQLITE_BUSY";
    case SQLITE_LOCKED:
      return "SQLITE_LOCKED";
    case SQLITE_NOMEM:
      return "SQLITE_NOMEM";
    case SQLITE_READONLY:
      return "SQLITE_READONLY";
    case SQLITE_PROTOCOL:
      return "SQLITE_PROTOCOL";
    case SQLITE_CONSTRAINT:
      return "SQLITE_CONSTRAINT";
    case SQLITE_CORRUPT:
      return "SQLITE_CORRUPT";
    default:
      return "SQLITE_ERROR";
  }
}

std::string fmt_detail(std::string_view what, int code, std::string_view message) {
  std::string out(what);
  out += ": ";
  out += message;
  out += " (";
  out += code_name(code);
  if ((code & 0xff) != code) out += ", extended code " + std::to_string(code);
  out += ")";
  return out;
}

// The error for `what` failing with SQLite result `code` (read right after the failure).
Error failure(std::string_view what, int code, std::string_view message) {
  return Error{environmental(code) ? Errc::kStorageUnavailable : Errc::kInternal,
               fmt_detail(what, code, message)};
}

Error db_error(Connection& c, const char* what) {
  return failure(what, c.last_error_code(), c.last_error());
}

}  // namespace

SqliteStore::SqliteStore(std::string path, SqliteOptions options)
    : path_(std::move(path)),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : system_clock_),
      write_health_("write", "writable", clock_, options_.failure_log_interval_us,
                    options_.failure_log),
      read_health_("read", "readable", clock_, options_.failure_log_interval_us,
                   options_.failure_log),
      window_(options_.commit_delay_us),
      checkpoint_policy_(options_.checkpoint_pages) {}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteOptions options) {
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, std::move(options)));
  if (Status s = store->start(); !s.ok()) return s.error();
  return store;
}

Status SqliteStore::start() {
  auto conn = Connection::open(path_, false);
  if (!conn.ok()) return conn.error();
  writer_conn_ = std::move(conn.value());
  // WAL: readers never block the writer. synchronous=FULL: the WAL is synced at every
  // commit, so an acknowledged write survives power loss, not only a process crash.
  if (Status s = writer_conn_->exec(
          "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
      !s.ok())
    return Error{Errc::kInternal, "configuring " + path_ + ": " + s.error().detail};
  if (Status s = migrate(*writer_conn_); !s.ok()) return s;
  {
    // Messages stored before the index existed (or before a crash between a commit and the
    // step after it) are indexed in steps from the start.
    auto q = writer_conn_->query(
        "SELECT count(*) FROM messages WHERE id > (SELECT indexed_up_to FROM search_progress)");
    if (!q.step())
      return Error{Errc::kInternal, "reading search_progress: " + writer_conn_->last_error()};
    unindexed_ = q.int64(0);
  }
  // Its writes to the database file go back to the disk a chunk at a time
  // (paced_writeback_vfs.h), so that the writer's WAL syncs never queue behind a whole run.
  auto checkpoint_conn = Connection::open(path_, false, paced_writeback_vfs_name());
  if (!checkpoint_conn.ok()) return checkpoint_conn.error();
  checkpoint_conn_ = std::move(checkpoint_conn.value());
  // A connection opens the WAL at its first read; until then it has nothing to checkpoint.
  // synchronous=FULL: its checkpoints sync the database file before the WAL starts over.
  if (Status s =
          checkpoint_conn_->exec("PRAGMA synchronous=FULL; SELECT count(*) FROM sqlite_master;");
      !s.ok())
    return Error{Errc::kInternal, "opening " + path_ + " for checkpoints: " + s.error().detail};
  // Replaces SQLite's automatic checkpoint, which runs inside the commit that crosses its
  // threshold: at 5,000 messages/s that commit took 20-40 ms every few seconds, and every
  // acknowledgement waited behind it (BENCHMARKS.md). A passive checkpoint on another
  // connection runs beside the writer's commits.
  sqlite3_wal_hook(writer_conn_->raw(), &SqliteStore::wal_committed, this);
  checkpointer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "db-checkpoint");
    checkpoint_loop();
  });
  next_prune_ =
      std::chrono::steady_clock::now() + std::chrono::microseconds(options_.prune_interval_us);
  writer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "db-writer");
    writer_loop();
  });
  completion_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "db-done");
    completion_loop();
  });
  return {};
}

SqliteStore::~SqliteStore() { close(); }

void SqliteStore::close() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  index_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    std::lock_guard lock(mu_);
    completion_stopping_ = true;
  }
  completed_cv_.notify_all();
  if (completion_.joinable()) completion_.join();
  {
    std::lock_guard lock(checkpoint_mu_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  checkpoint_conn_.reset();
  if (writer_conn_) {
    (void)writer_conn_->exec("PRAGMA wal_checkpoint(TRUNCATE);");
    writer_conn_.reset();
  }
  std::lock_guard lock(readers_mu_);
  readers_.clear();
}

template <typename T, typename Body>
SqliteStore::Write SqliteStore::make_write(Shape shape, Body body, Callback<T> done) {
  auto result = std::make_shared<std::optional<Result<T>>>();
  Write w;
  w.multi_statement = shape == Shape::kManyStatements;
  w.apply = [result, body = std::move(body)](Connection& c) mutable -> Status {
    result->emplace(body(c));
    if (result->value().ok()) return {};
    return result->value().error();
  };
  w.finish = [result, done = std::move(done)](bool committed, const Error* batch_error) mutable {
    if (!done) return;
    Result<T> out = Error{Errc::kInternal, "write did not run"};
    if (!committed) {
      out = batch_error ? *batch_error : Error{Errc::kInternal, "transaction was not committed"};
    } else if (result->has_value()) {
      out = std::move(**result);
    }
    // The cause is in the log (the writer reported it); callers get the documented code and
    // its own words, never SQLite's.
    if (!out.ok() && out.error().code == Errc::kStorageUnavailable)
      out = Error{Errc::kStorageUnavailable};
    done(std::move(out));
  };
  return w;
}

template <typename T, typename Body>
void SqliteStore::submit(Shape shape, Body body, Callback<T> done) {
  enqueue(make_write<T>(shape, std::move(body), std::move(done)));
}

void SqliteStore::enqueue(Write w) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(w));
      window_.write_queued(std::chrono::steady_clock::now());
      // During the commit window the writer wakes at its end, or once the batch is full.
      // Under the lock: once it is released the write may be committed and acknowledged, and
      // this call must touch nothing of the store after that.
      if (!holding_batch_ || queue_.size() >= kMaxBatch) cv_.notify_one();
      return;
    }
  }
  // As the seam says: refused by the environment (here, shutting down), nothing happened.
  const Error closed{Errc::kStorageUnavailable, "store is closed"};
  w.finish(false, &closed);
}

void SqliteStore::maybe_queue_prune_locked() {
  if (options_.prune_interval_us <= 0 || stopping_) return;
  auto now = std::chrono::steady_clock::now();
  if (now < next_prune_) return;
  next_prune_ = now + std::chrono::microseconds(options_.prune_interval_us);
  queue_.push_back(make_prune(clock_.now_us(), [this](Result<PruneCounts> r) {
    prunes_.fetch_add(1, std::memory_order_relaxed);
    // A storage failure was logged and counted by the writer; anything else is a bug.
    if (!r.ok()) {
      if (r.error().code != Errc::kStorageUnavailable)
        spdlog::error("pruning failed: {}", r.error().detail);
      return;
    }
    const PruneCounts& n = r.value();
    if (n.expired_tokens + n.revoked_tokens + n.registrations + n.sent_mail > 0)
      spdlog::debug(
          "pruned {} expired and {} revoked tokens, {} expired registrations, {} sent mails",
          n.expired_tokens, n.revoked_tokens, n.registrations, n.sent_mail);
    if (!n.any_batch_full) return;
    // A backlog (the first prune after an upgrade or a long stop): the next batch shortly,
    // leaving the writer to the writes queued meanwhile.
    std::lock_guard lock(mu_);
    next_prune_ =
        std::min(next_prune_, std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
    cv_.notify_one();
  }));
}

void SqliteStore::writer_loop() {
  std::vector<Write> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      writer_busy_ = false;
      idle_cv_.notify_all();
      for (;;) {
        maybe_queue_prune_locked();
        auto wake = maybe_queue_index_locked();
        if (stopping_ || (!queue_.empty() && !paused_for_test_)) break;
        if (options_.prune_interval_us > 0) wake = std::min(wake, next_prune_);
        if (wake == std::chrono::steady_clock::time_point::max()) {
          cv_.wait(lock);
        } else {
          cv_.wait_until(lock, wake);
        }
      }
      if (queue_.empty()) return;  // stopping and drained
      if (queue_.size() > 1 || !queue_.front().background) hold_batch_open(lock);
      size_t n = std::min(queue_.size(), kMaxBatch);
      batch.clear();
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      writer_busy_ = true;
    }
    // Transaction control goes through cached prepared statements: compiling the SQL text
    // again for every write would cost more than the writes themselves.
    Connection& c = *writer_conn_;
    auto run = [&c](const char* sql) { return c.query(sql).run(); };
    std::optional<Error> batch_error;  // why the batch did not commit
    uint64_t refused = 0;              // writes the environment refused, one by one
    std::string cause;                 // the latest such refusal
    auto batch_started = std::chrono::steady_clock::now();
    bool foreground =
        std::any_of(batch.begin(), batch.end(), [](const Write& w) { return !w.background; });
    bool committed = run("BEGIN IMMEDIATE");
    if (!committed) batch_error = db_error(c, "beginning a transaction");
    if (committed) {
      for (Write& w : batch) {
        // A write that fails is undone alone (a savepoint, or the statement's own atomicity).
        Status s;
        if (w.multi_statement) {
          run("SAVEPOINT w");
          s = w.apply(c);
          if (!s.ok()) run("ROLLBACK TO w");
          run("RELEASE w");
        } else {
          s = w.apply(c);
        }
        if (!s.ok() && s.error().code == Errc::kStorageUnavailable) {
          ++refused;
          cause = s.error().detail;
        }
        // After some errors (disk full, I/O, memory) SQLite has already rolled back the whole
        // transaction: nothing of this batch is durable, and the writes left must not run
        // outside a transaction. They all fail, for the cause of the first.
        if (!c.in_transaction()) {
          committed = false;
          batch_error =
              s.ok() ? Error{Errc::kStorageUnavailable, "transaction rolled back"} : s.error();
          break;
        }
      }
      if (!committed) {
        // Already rolled back.
      } else if (foreground && fail_next_commit_.exchange(false)) {
        run("ROLLBACK");
        committed = false;
      } else if (!run("COMMIT")) {
        batch_error = db_error(c, "committing");
        run("ROLLBACK");
        committed = false;
      }
    }
    if (committed) {
      metrics::counters().commit_batch_size.observe(static_cast<double>(batch.size()));
      metrics::counters().commit_seconds.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - batch_started).count());
      commits_.fetch_add(1, std::memory_order_relaxed);
      writes_.fetch_add(batch.size(), std::memory_order_relaxed);
      if (refused > 0) {
        write_health_.failed(refused, cause);
      } else {
        write_health_.succeeded();
      }
    } else if (batch_error && batch_error->code == Errc::kStorageUnavailable) {
      write_health_.failed(batch.size(), batch_error->detail);
    }
    std::unique_lock lock(mu_);
    if (foreground) window_.commit_ended(std::chrono::steady_clock::now());
    if (queue_.empty() && completed_.empty() && !completing_ && !completion_stopping_) {
      // Nothing waits to be written and every earlier batch is acknowledged: the writer
      // would only sleep, so it runs this batch's callbacks itself (still in commit order)
      // rather than wake the completion thread. At a moderate rate, where each write is its
      // own batch, that is one thread hand-off (a futex wake and two context switches) less
      // per write; under load the completion thread still takes them, and the writer goes on.
      finish_on_writer(batch, committed, batch_error, lock);
      continue;
    }
    completed_room_.wait(lock, [this] { return completed_.size() < kMaxCompletedBatches; });
    completed_.push_back({std::move(batch), committed, std::move(batch_error)});
    batch = {};
    // After the unlock: woken under it, the completion thread would only block on the mutex.
    lock.unlock();
    completed_cv_.notify_one();
  }
}

int SqliteStore::wal_committed(void* store, sqlite3* db, const char*, int pages) {
  auto* self = static_cast<SqliteStore*>(store);
  switch (self->checkpoint_policy_.after_commit(pages)) {
    case WalCheckpointPolicy::Step::kNone:
      return SQLITE_OK;
    case WalCheckpointPolicy::Step::kCopyRestInCommit:
    case WalCheckpointPolicy::Step::kCopyAllInCommit: {
      // Passive: what a reader still needs stays, and is tried again at the next commit.
      int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      if (rc == SQLITE_OK) {
        self->checkpoints_in_commit_.fetch_add(1, std::memory_order_relaxed);
        metrics::add(metrics::counters().wal_checkpoints_in_commit);
      } else if (rc != SQLITE_BUSY) {  // busy: the checkpoint thread is running; it copies
        // Counted; what fails here (the disk, the file) fails that thread's runs, which log it.
        metrics::add(metrics::counters().wal_checkpoints_failed);
      }
      return SQLITE_OK;
    }
    case WalCheckpointPolicy::Step::kAskThread:
      break;
  }
  if (!self->checkpoint_asked_.exchange(true)) {
    {
      std::lock_guard lock(self->checkpoint_mu_);
      self->checkpoint_due_ = true;
    }
    self->checkpoint_cv_.notify_one();
  }
  return SQLITE_OK;
}

void SqliteStore::checkpoint_loop() {
  for (;;) {
    {
      std::unique_lock lock(checkpoint_mu_);
      checkpoint_cv_.wait(lock, [this] { return checkpoint_due_ || checkpoint_stopping_; });
      if (checkpoint_stopping_) return;
      checkpoint_due_ = false;
    }
    // Passive: copies what no reader still needs, never waits for the writer nor blocks it.
    // The writer starts the WAL over at its next commit once everything was copied.
    const uint32_t generation = checkpoint_policy_.generation();
    int wal_pages = 0, copied = 0;
    const auto started = std::chrono::steady_clock::now();
    int rc = sqlite3_wal_checkpoint_v2(checkpoint_conn_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                       &wal_pages, &copied);
    if (rc == SQLITE_OK) {
      checkpoints_.fetch_add(1, std::memory_order_relaxed);
      checkpoint_policy_.thread_copied(generation, copied);
      metrics::add(metrics::counters().wal_checkpoints_ok);
      metrics::counters().wal_checkpoint_seconds.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    } else if (rc != SQLITE_BUSY) {  // busy: the writer was copying the rest (wal_committed)
      // The writer goes on; the next commit over the threshold asks again. Nothing is lost:
      // the WAL keeps every committed page until a checkpoint copies it (a disk that stays
      // full fails the commits too, and those are counted and logged as storage failures).
      metrics::add(metrics::counters().wal_checkpoints_failed);
      if (std::chrono::steady_clock::now() >= next_checkpoint_warning_) {
        next_checkpoint_warning_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        spdlog::warn("SQLite checkpoint of {} failed: {}", path_, checkpoint_conn_->last_error());
      }
    }
    // A run that copied all there was may be asked again by the next commit at once: the
    // pages committed meanwhile, when too many for the writer, are fewer than this run's, so
    // back-to-back runs catch up. One that could not (a reader still on old pages, a failure)
    // is asked again not more often than this.
    if (rc != SQLITE_OK || copied < wal_pages) {
      std::unique_lock lock(checkpoint_mu_);
      checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(50),
                              [this] { return checkpoint_stopping_; });
    }
    checkpoint_asked_.store(false);
  }
}

// The commit window (CommitWindow says when); a full batch ends it early.
void SqliteStore::hold_batch_open(std::unique_lock<std::mutex>& lock) {
  if (queue_.size() >= kMaxBatch || stopping_) return;
  auto now = std::chrono::steady_clock::now();
  auto window = window_.hold_at(now, queue_.size());
  if (window.count() == 0) return;
  windows_held_.fetch_add(1, std::memory_order_relaxed);
  holding_batch_ = true;
  cv_.wait_until(lock, now + window, [this] { return stopping_ || queue_.size() >= kMaxBatch; });
  holding_batch_ = false;
}

// Called with mu_ held and completing_ free; returns with mu_ held and the batch emptied.
void SqliteStore::finish_on_writer(std::vector<Write>& batch, bool committed,
                                   const std::optional<Error>& batch_error,
                                   std::unique_lock<std::mutex>& lock) {
  completing_ = true;
  lock.unlock();
  const Error* error = batch_error ? &*batch_error : nullptr;
  for (size_t done = 0; done < batch.size();) {
    batch[done++].finish(committed, error);
    if (done == batch.size()) break;
    // When writes came meanwhile (a callback may be long: a guild's fan-out), the rest of
    // the callbacks go to the completion thread, and the writer to the next batch.
    lock.lock();
    if (queue_.empty()) {
      lock.unlock();
      continue;
    }
    completed_.push_back({std::vector<Write>(std::make_move_iterator(batch.begin() + done),
                                             std::make_move_iterator(batch.end())),
                          committed, batch_error});
    completing_ = false;
    completed_cv_.notify_one();
    batch.clear();
    return;
  }
  batch.clear();
  lock.lock();
  completing_ = false;
  idle_cv_.notify_all();
}

void SqliteStore::completion_loop() {
  bool ran = false;  // completing_ is this thread's to clear only after a batch it ran
  for (;;) {
    Completed done;
    {
      std::unique_lock lock(mu_);
      if (ran) {
        completing_ = false;
        idle_cv_.notify_all();
      }
      completed_cv_.wait(lock, [this] { return completion_stopping_ || !completed_.empty(); });
      if (completed_.empty()) return;  // stopping and drained
      done = std::move(completed_.front());
      completed_.pop_front();
      completing_ = true;
    }
    completed_room_.notify_one();
    const Error* batch_error = done.error ? &*done.error : nullptr;
    for (Write& w : done.writes) w.finish(done.committed, batch_error);
    ran = true;
  }
}

void SqliteStore::pause_writer_for_test() {
  std::lock_guard lock(mu_);
  paused_for_test_ = true;
}

void SqliteStore::resume_writer_for_test() {
  {
    std::lock_guard lock(mu_);
    paused_for_test_ = false;
  }
  cv_.notify_all();
}

void SqliteStore::flush() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [this] {
    return queue_.empty() && !writer_busy_ && completed_.empty() && !completing_;
  });
}

Result<std::unique_ptr<Connection>> SqliteStore::borrow_reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!readers_.empty()) {
      auto c = std::move(readers_.back());
      readers_.pop_back();
      return c;
    }
  }
  auto c = Connection::open(path_, true);
  // Opening an existing database fails only for environmental reasons (descriptors, memory).
  if (!c.ok())
    return Error{Errc::kStorageUnavailable, "opening a read connection: " + c.error().detail};
  return std::move(c.value());
}

Error SqliteStore::read_failed(Error e) {
  if (e.code != Errc::kStorageUnavailable) return e;
  read_health_.failed(1, e.detail);
  return Errc::kStorageUnavailable;
}

void SqliteStore::return_reader(std::unique_ptr<Connection> conn) {
  std::lock_guard lock(readers_mu_);
  if (conn && readers_.size() < kMaxReaders) readers_.push_back(std::move(conn));
}

// ---------------------------------------------------------------- reads

Result<DirectorySnapshot> SqliteStore::load_directory(int64_t now_us) {
  // Read once at start-up, where a failure stops the server: its detail is the message.
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return borrowed.error();
  auto c = std::move(borrowed.value());
  DirectorySnapshot snap;
  {
    auto q = c->query(
        "SELECT id, name, email, password_hash, profile, created_us, disabled, deleted_us IS NOT "
        "NULL FROM users");
    while (q.step()) {
      UserRecord u;
      u.id = q.int64(0);
      u.name = q.text(1);
      u.email = q.text(2);
      u.password_hash = q.text(3);
      if (!q.is_null(4)) u.profile = q.text(4);
      u.created_us = q.int64(5);
      u.disabled = q.int64(6) != 0;
      u.deleted = q.int64(7) != 0;
      snap.users.push_back(std::move(u));
    }
    if (q.failed()) return db_error(*c, "loading users");
  }
  {
    auto q = c->query("SELECT from_id, to_id FROM friend_requests");
    while (q.step()) snap.friend_requests.push_back({q.int64(0), q.int64(1)});
    if (q.failed()) return db_error(*c, "loading friend requests");
  }
  {
    auto q = c->query("SELECT user_lo, user_hi FROM friendships");
    while (q.step()) snap.friendships.push_back({q.int64(0), q.int64(1)});
    if (q.failed()) return db_error(*c, "loading friendships");
  }
  {
    auto q = c->query("SELECT id, user_lo, user_hi FROM chats WHERE kind = 0");
    while (q.step()) snap.dm_chats.push_back({q.int64(0), q.int64(1), q.int64(2)});
    if (q.failed()) return db_error(*c, "loading chats");
  }
  {
    auto q = c->query(
        "SELECT hash, user_id, created_us, expires_us FROM tokens "
        "WHERE revoked = 0 AND expires_us > ?");
    q.bind(1, now_us);
    while (q.step()) snap.tokens.push_back({q.text(0), q.int64(1), q.int64(2), q.int64(3)});
    if (q.failed()) return db_error(*c, "loading tokens");
  }
  {
    auto q = c->query("SELECT id, name, owner_id, created_us FROM guilds");
    while (q.step()) snap.guilds.push_back({q.int64(0), q.text(1), q.int64(2), q.int64(3)});
    if (q.failed()) return db_error(*c, "loading guilds");
  }
  {
    auto q = c->query("SELECT guild_id, user_id, joined_us FROM guild_members");
    while (q.step()) snap.guild_members.push_back({q.int64(0), q.int64(1), q.int64(2)});
    if (q.failed()) return db_error(*c, "loading guild members");
  }
  {
    auto q = c->query("SELECT user_id FROM presence_hidden");
    while (q.step()) snap.presence_hidden.push_back(q.int64(0));
    if (q.failed()) return db_error(*c, "loading presence settings");
  }
  return_reader(std::move(c));
  return snap;
}

Result<std::vector<MessageRecord>> SqliteStore::load_messages(int64_t chat_id, int64_t before_us,
                                                              int limit) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::vector<MessageRecord> out;
  {
    auto q = c->query(
        "SELECT id, author_id, content, created_us, edited_us, seq FROM messages "
        "WHERE chat_id = ? AND created_us < ? AND deleted = 0 "
        "ORDER BY created_us DESC, id DESC LIMIT ?");
    q.bind(1, chat_id).bind(2, before_us).bind(3, static_cast<int64_t>(limit));
    while (q.step()) out.push_back(live_message(q, 0, chat_id));
    if (q.failed()) return read_failed(db_error(*c, "loading messages"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::vector<ChatChange>> SqliteStore::load_chat_changes(int64_t chat_id, int64_t after_seq,
                                                               int limit) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::vector<ChatChange> out;
  {
    // Sends are messages, edits and deletions rows of message_changes; the text as of a
    // change is what the message's next change replaced, or its content after the last one.
    auto q = c->query(
        "SELECT ch.seq, ch.kind, m.id, m.author_id, m.created_us, ch.edited_us, "
        "  COALESCE((SELECT n.content_before FROM message_changes n "
        "             WHERE n.message_id = m.id AND n.seq > ch.seq ORDER BY n.seq LIMIT 1), "
        "           m.content) "
        "FROM (SELECT seq, 0 AS kind, id AS message_id, NULL AS edited_us FROM messages "
        "       WHERE chat_id = ?1 AND seq > ?2 "
        "      UNION ALL "
        "      SELECT seq, 1 + deleted, message_id, edited_us FROM message_changes "
        "       WHERE chat_id = ?1 AND seq > ?2 "
        "      ORDER BY seq LIMIT ?3) ch "
        "JOIN messages m ON m.id = ch.message_id "
        "ORDER BY ch.seq");
    q.bind(1, chat_id).bind(2, after_seq).bind(3, static_cast<int64_t>(std::max(limit, 0)));
    while (q.step()) {
      ChatChange ch;
      int64_t kind = q.int64(1);
      ch.kind = kind == 0 ? ChangeKind::kSend : kind == 1 ? ChangeKind::kEdit : ChangeKind::kDelete;
      MessageRecord& m = ch.message;
      m.seq = q.int64(0);
      m.id = q.int64(2);
      m.chat_id = chat_id;
      m.author_id = q.int64(3);
      m.created_us = q.int64(4);
      if (!q.is_null(5)) m.edited_us = q.int64(5);
      m.deleted = ch.kind == ChangeKind::kDelete;
      m.content = q.text(6);
      out.push_back(std::move(ch));
    }
    if (q.failed()) return read_failed(db_error(*c, "loading chat changes"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::vector<ChatPosition>> SqliteStore::chat_positions(
    const std::vector<int64_t>& chat_ids) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::vector<int64_t> ids = chat_ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<ChatPosition> out;
  out.reserve(ids.size());
  for (int64_t id : ids) {
    auto q = c->query("SELECT last_seq FROM chats WHERE id = ?");
    q.bind(1, id);
    if (q.step()) out.push_back({id, q.int64(0)});
    if (q.failed()) return read_failed(db_error(*c, "reading chat positions"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::vector<ChatSummary>> SqliteStore::chat_summaries(int64_t user_id,
                                                             const std::vector<int64_t>& chat_ids,
                                                             int unread_cap) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::vector<ChatSummary> out;
  out.reserve(chat_ids.size());
  // One snapshot for all of them: a message is either in a count and the newest, or in none.
  if (Status s = c->exec("BEGIN"); !s.ok()) return read_failed(s.error());
  auto run = [&]() -> Status {
    for (int64_t id : chat_ids) {
      ChatSummary sum;
      sum.chat_id = id;
      int64_t mark_seq = 0;
      {
        auto q = c->query(
            "SELECT c.id, r.message_id, r.seq, c.last_seq FROM chats c "
            "LEFT JOIN read_marks r ON r.user_id = ? AND r.chat_id = c.id WHERE c.id = ?");
        q.bind(1, user_id).bind(2, id);
        if (!q.step()) {
          if (q.failed()) return db_error(*c, "reading a read mark");
          continue;  // no such chat
        }
        sum.last_seq = q.int64(3);
        if (!q.is_null(1)) {
          sum.last_read_id = q.int64(1);
          mark_seq = q.int64(2);
        }
      }
      {
        // Bounded: a chat never read with a long history costs at most the cap's rows.
        auto q = c->query(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE chat_id = ? AND seq > ? "
            "AND deleted = 0 AND author_id <> ? ORDER BY seq LIMIT ?)");
        q.bind(1, id).bind(2, mark_seq).bind(3, user_id).bind(4, int64_t{unread_cap});
        if (!q.step()) return db_error(*c, "counting unread messages");
        sum.unread = static_cast<int>(q.int64(0));
      }
      {
        auto q = c->query(
            "SELECT id, author_id, content, created_us, edited_us, seq FROM messages "
            "WHERE chat_id = ? AND deleted = 0 ORDER BY seq DESC LIMIT 1");
        q.bind(1, id);
        if (q.step()) {
          sum.last_message = live_message(q, 0, id);
        } else if (q.failed()) {
          return db_error(*c, "reading a chat's newest message");
        }
      }
      out.push_back(std::move(sum));
    }
    return {};
  };
  Status s = run();
  (void)c->exec(s.ok() ? "COMMIT" : "ROLLBACK");
  if (!s.ok()) return read_failed(s.error());
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::vector<MessageRecord>> SqliteStore::search_messages(const MessageSearch& search) {
  std::vector<MessageRecord> out;
  if (search.terms.empty() || search.chat_ids.empty()) return out;
  // An FTS5 query: every term as a prefix in the text, and one of the chats (migration 14).
  // Terms are letters and digits, quoted all the same so that none reads as an operator.
  std::string match = "content : (";
  for (size_t i = 0; i < search.terms.size(); ++i) {
    if (i > 0) match += " AND ";
    match += '"';
    for (char ch : search.terms[i]) match += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    match += "\"*";
  }
  match += ") AND chat_id : (";
  for (size_t i = 0; i < search.chat_ids.size(); ++i) {
    if (i > 0) match += " OR ";
    match += std::to_string(search.chat_ids[i]);
  }
  match += ')';
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  catch_up_search_index(*c);
  {
    // bm25 weighs the text alone: every match has one of the chat ids.
    auto q = c->query(
        "SELECT m.id, m.author_id, m.content, m.created_us, m.edited_us, m.seq, m.chat_id "
        "FROM message_search s JOIN messages m ON m.id = s.rowid "
        "WHERE message_search MATCH ? AND m.deleted = 0 "
        "ORDER BY bm25(message_search, 1.0, 0.0), m.id DESC LIMIT ? OFFSET ?");
    q.bind(1, match).bind(2, int64_t{search.limit}).bind(3, int64_t{search.offset});
    while (q.step()) out.push_back(live_message(q, 0, q.int64(6)));
    if (q.failed()) return read_failed(db_error(*c, "searching messages"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::optional<TokenRecord>> SqliteStore::find_token(const std::string& token_hash,
                                                           int64_t now_us) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::optional<TokenRecord> out;
  {
    auto q = c->query(
        "SELECT user_id, created_us, expires_us FROM tokens "
        "WHERE hash = ? AND revoked = 0 AND expires_us > ?");
    q.bind(1, token_hash).bind(2, now_us);
    if (q.step()) out = TokenRecord{token_hash, q.int64(0), q.int64(1), q.int64(2)};
    if (q.failed()) return read_failed(db_error(*c, "finding a token"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::vector<TokenRecord>> SqliteStore::live_tokens_of(int64_t user_id, int64_t now_us) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::vector<TokenRecord> out;
  {
    auto q = c->query(
        "SELECT hash, created_us, expires_us, max(last_seen_us, created_us), client FROM tokens "
        "WHERE user_id = ? AND revoked = 0 AND expires_us > ? ORDER BY created_us, hash");
    q.bind(1, user_id).bind(2, now_us);
    while (q.step())
      out.push_back(TokenRecord{q.text(0), user_id, q.int64(1), q.int64(2), q.int64(3), q.text(4)});
    if (q.failed()) return read_failed(db_error(*c, "listing a user's tokens"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::vector<int64_t>> SqliteStore::blocked_by(int64_t blocker_id) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::vector<int64_t> out;
  {
    auto q = c->query(
        "SELECT blocked_id FROM blocks WHERE blocker_id = ? ORDER BY created_us, blocked_id");
    q.bind(1, blocker_id);
    while (q.step()) out.push_back(q.int64(0));
    if (q.failed()) return read_failed(db_error(*c, "listing a user's blocks"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::optional<UserRecord>> SqliteStore::find_user_where(const char* sql,
                                                               const std::string& key) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::optional<UserRecord> out;
  {
    auto q = c->query(sql);
    q.bind(1, key);
    if (q.step()) {
      UserRecord u;
      u.id = q.int64(0);
      u.name = q.text(1);
      u.email = q.text(2);
      u.password_hash = q.text(3);
      if (!q.is_null(4)) u.profile = q.text(4);
      u.created_us = q.int64(5);
      u.disabled = q.int64(6) != 0;
      u.deleted = q.int64(7) != 0;
      out = std::move(u);
    }
    if (q.failed()) return read_failed(db_error(*c, "finding a user"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<std::optional<UserRecord>> SqliteStore::find_user(int64_t id) {
  return find_user_where(
      "SELECT id, name, email, password_hash, profile, created_us, disabled, deleted_us IS NOT "
      "NULL FROM users "
      "WHERE id = CAST(? AS INTEGER)",
      std::to_string(id));
}

Result<std::optional<UserRecord>> SqliteStore::find_user_by_name(const std::string& name) {
  // name_lower holds the name's key since migration 4.
  return find_user_where(
      "SELECT id, name, email, password_hash, profile, created_us, disabled, deleted_us IS NOT "
      "NULL FROM users "
      "WHERE name_lower = ?",
      unicode::name_key(name));
}

Result<std::optional<UserRecord>> SqliteStore::find_user_by_email(const std::string& email) {
  return find_user_where(
      "SELECT id, name, email, password_hash, profile, created_us, disabled, deleted_us IS NOT "
      "NULL FROM users "
      "WHERE email_lower = ?",
      ascii_lower(email));
}

Result<std::optional<PendingRegistration>> SqliteStore::find_pending(const std::string& email) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::optional<PendingRegistration> out;
  {
    auto q = c->query(
        "SELECT email, name, password_hash, key_hash, created_us, expires_us "
        "FROM pending_registrations WHERE email_lower = ?");
    q.bind(1, ascii_lower(email));
    if (q.step())
      out = PendingRegistration{q.text(0), q.text(1), q.text(2), q.text(3), q.int64(4), q.int64(5)};
    if (q.failed()) return read_failed(db_error(*c, "finding a pending registration"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

namespace {

// Only one process opens the database (the data directory is locked), so the mail read is
// already this sender's: its outcomes are ordinary writes, and commit() waits for them.
class SqliteMailClaim final : public MailClaim {
 public:
  SqliteMailClaim(Store& store, std::vector<OutboxMail> mail) : store_(store) {
    mail_ = std::move(mail);
  }
  void sent(int64_t mail_id, int64_t now_us) override {
    store_.mark_mail_sent(mail_id, now_us, track());
  }
  void retry(int64_t mail_id, int attempts, int64_t next_attempt_us,
             std::string last_error) override {
    store_.reschedule_mail(mail_id, attempts, next_attempt_us, std::move(last_error), track());
  }
  Status commit() override {
    Status out;
    for (auto& f : outcomes_)
      if (Status s = f.get(); !s.ok() && out.ok()) out = s;
    outcomes_.clear();
    return out;
  }
  ~SqliteMailClaim() override { (void)commit(); }  // no write outlives the claim's caller

 private:
  Callback<void> track() {
    auto outcome = std::make_shared<std::promise<Status>>();
    outcomes_.push_back(outcome->get_future());
    return [outcome](Status s) { outcome->set_value(std::move(s)); };
  }

  Store& store_;
  std::vector<std::future<Status>> outcomes_;
};

}  // namespace

Result<std::unique_ptr<MailClaim>> SqliteStore::claim_due_mail(int64_t now_us, int limit) {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::vector<OutboxMail> out;
  {
    auto q = c->query(
        "SELECT id, recipient, subject, body, attempts, next_attempt_us FROM outbox "
        "WHERE sent_us IS NULL AND next_attempt_us <= ? ORDER BY next_attempt_us, id LIMIT ?");
    q.bind(1, now_us).bind(2, static_cast<int64_t>(limit));
    while (q.step())
      out.push_back(
          {q.int64(0), q.text(1), q.text(2), q.text(3), static_cast<int>(q.int64(4)), q.int64(5)});
    if (q.failed()) return read_failed(db_error(*c, "reading the outbox"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return std::unique_ptr<MailClaim>(std::make_unique<SqliteMailClaim>(*this, std::move(out)));
}

Result<std::optional<int64_t>> SqliteStore::next_mail_due() {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  std::optional<int64_t> out;
  {
    auto q = c->query("SELECT MIN(next_attempt_us) FROM outbox WHERE sent_us IS NULL");
    if (q.step() && !q.is_null(0)) out = q.int64(0);
    if (q.failed()) return read_failed(db_error(*c, "reading the outbox"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

Result<int64_t> SqliteStore::unsent_mail_count() {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return read_failed(borrowed.error());
  auto c = std::move(borrowed.value());
  int64_t out = 0;
  {
    auto q = c->query("SELECT COUNT(*) FROM outbox WHERE sent_us IS NULL AND next_attempt_us < ?");
    q.bind(1, INT64_MAX);
    if (q.step()) out = q.int64(0);
    if (q.failed()) return read_failed(db_error(*c, "reading the outbox"));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return out;
}

int SqliteStore::schema_version() {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return -1;
  auto c = std::move(borrowed.value());
  int v = -1;
  {
    auto q = c->query("PRAGMA user_version");
    if (q.step()) v = static_cast<int>(q.int64(0));
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return v;
}

bool SqliteStore::integrity_ok() {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return false;
  auto c = std::move(borrowed.value());
  bool ok = false;
  {
    auto q = c->query("PRAGMA integrity_check");
    ok = q.step() && q.text(0) == "ok";
  }
  return_reader(std::move(c));
  read_health_.succeeded();
  return ok;
}

// ---------------------------------------------------------------- writes

namespace {

Status insert_mail(Connection& c, const OutboxMail& m, int64_t now_us) {
  auto q = c.query(
      "INSERT INTO outbox (recipient, subject, body, created_us, next_attempt_us) "
      "VALUES (?, ?, ?, ?, ?)");
  q.bind(1, m.recipient).bind(2, m.subject).bind(3, m.body).bind(4, now_us);
  q.bind(5, m.next_attempt_us ? m.next_attempt_us : now_us);
  if (!q.run()) return db_error(c, "queueing mail");
  return {};
}

}  // namespace

void SqliteStore::put_registration(PendingRegistration reg, OutboxMail mail, Callback<void> done) {
  submit<void>(
      Shape::kManyStatements,
      [reg = std::move(reg), mail = std::move(mail)](Connection& c) -> Status {
        auto q = c.query(
            "INSERT OR REPLACE INTO pending_registrations "
            "(email_lower, email, name, password_hash, key_hash, created_us, expires_us) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)");
        q.bind(1, ascii_lower(reg.email)).bind(2, reg.email).bind(3, reg.name);
        q.bind(4, reg.password_hash).bind(5, reg.key_hash).bind(6, reg.created_us);
        q.bind(7, reg.expires_us);
        if (!q.run()) return db_error(c, "storing a registration");
        return insert_mail(c, mail, reg.created_us);
      },
      std::move(done));
}

void SqliteStore::put_mail(OutboxMail mail, Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [mail = std::move(mail)](Connection& c) -> Status {
        return insert_mail(c, mail, mail.next_attempt_us);
      },
      std::move(done));
}

void SqliteStore::verify_registration(std::string key_hash, int64_t now_us, int64_t new_user_id,
                                      Callback<UserRecord> done) {
  submit<UserRecord>(
      Shape::kManyStatements,
      [key_hash = std::move(key_hash), now_us, new_user_id](Connection& c) -> Result<UserRecord> {
        UserRecord u;
        {
          auto q = c.query(
              "SELECT email, name, password_hash, expires_us FROM pending_registrations "
              "WHERE key_hash = ?");
          q.bind(1, key_hash);
          if (!q.step()) {
            if (q.failed()) return db_error(c, "finding a registration");
            return Errc::kLinkInvalid;
          }
          if (q.int64(3) <= now_us) return Errc::kLinkInvalid;
          u.email = q.text(0);
          u.name = q.text(1);
          u.password_hash = q.text(2);
        }
        {
          auto q = c.query("DELETE FROM pending_registrations WHERE key_hash = ?");
          q.bind(1, key_hash);
          if (!q.run()) return db_error(c, "consuming a registration");
        }
        u.id = new_user_id;
        u.created_us = now_us;
        {
          auto q = c.query("SELECT 1 FROM users WHERE email_lower = ?");
          q.bind(1, ascii_lower(u.email));
          if (q.step()) return Errc::kLinkInvalid;
        }
        // Taken meanwhile by another registration: the same name under case folding, or a
        // name that looks the same.
        std::string key = unicode::name_key(u.name);
        std::string skeleton = unicode::confusable_skeleton(u.name);
        {
          auto q = c.query("SELECT 1 FROM users WHERE name_lower = ? OR name_skeleton = ?");
          q.bind(1, key).bind(2, skeleton);
          if (q.step()) return Errc::kNameTaken;
          if (q.failed()) return db_error(c, "checking a name");
        }
        auto q = c.query(
            "INSERT INTO users (id, name, name_lower, name_skeleton, email, email_lower, "
            "password_hash, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        q.bind(1, u.id).bind(2, u.name).bind(3, key).bind(4, skeleton).bind(5, u.email);
        q.bind(6, ascii_lower(u.email)).bind(7, u.password_hash).bind(8, now_us);
        if (!q.run()) return db_error(c, "creating a user");
        return u;
      },
      std::move(done));
}

void SqliteStore::put_login_token(TokenRecord token, std::string verified_password_hash,
                                  Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [token = std::move(token),
       verified = std::move(verified_password_hash)](Connection& c) -> Status {
        // Inserts nothing for a disabled (or missing) user: one statement, so the writer's
        // order alone decides against a disable queued before it.
        auto q = c.query(
            "INSERT INTO tokens (hash, user_id, created_us, expires_us, last_seen_us, client) "
            "SELECT ?1, id, ?2, ?3, ?2, ?6 FROM users WHERE id = ?4 AND disabled = 0 "
            "AND deleted_us IS NULL "
            "AND (?5 = '' OR password_hash = ?5)");
        q.bind(1, token.token_hash).bind(2, token.created_us).bind(3, token.expires_us);
        q.bind(4, token.user_id).bind(5, verified).bind(6, token.client);
        if (!q.run()) return db_error(c, "storing a token");
        if (c.changes() > 0) return {};
        // Which rule refused it, read in the same transaction.
        // A deleted account answers as a wrong password: as an unknown one.
        auto why = c.query("SELECT disabled = 0 OR deleted_us IS NOT NULL FROM users WHERE id = ?");
        why.bind(1, token.user_id);
        if (why.step() && why.int64(0) != 0) return Errc::kInvalidCredentials;
        if (why.failed()) return db_error(c, "storing a token");
        return Errc::kAccountDisabled;
      },
      std::move(done));
}

void SqliteStore::set_user_disabled(int64_t user_id, bool disabled, int64_t now_us,
                                    Callback<AccountStateOutcome> done) {
  submit<AccountStateOutcome>(
      Shape::kManyStatements,
      [=](Connection& c) -> Result<AccountStateOutcome> {
        AccountStateOutcome out;
        {
          auto q = c.query("SELECT disabled FROM users WHERE id = ?");
          q.bind(1, user_id);
          if (!q.step()) {
            if (q.failed()) return db_error(c, "reading an account's state");
            return Errc::kUserNotFound;
          }
          if ((q.int64(0) != 0) == disabled) return out;
        }
        {
          auto q = c.query("UPDATE users SET disabled = ? WHERE id = ?");
          q.bind(1, int64_t{disabled ? 1 : 0}).bind(2, user_id);
          if (!q.run()) return db_error(c, "changing an account's state");
        }
        out.changed = true;
        if (!disabled) return out;
        auto q = c.query(
            "UPDATE tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0 AND expires_us > ? "
            "RETURNING hash");
        q.bind(1, user_id).bind(2, now_us);
        while (q.step()) out.revoked_token_hashes.push_back(q.text(0));
        if (q.failed()) return db_error(c, "revoking an account's tokens");
        return out;
      },
      std::move(done));
}

void SqliteStore::revoke_token(std::string token_hash, int64_t now_us, Callback<int64_t> done) {
  submit<int64_t>(
      Shape::kOneStatement,
      [token_hash = std::move(token_hash), now_us](Connection& c) -> Result<int64_t> {
        auto q = c.query(
            "UPDATE tokens SET revoked = 1 WHERE hash = ? AND revoked = 0 AND expires_us > ? "
            "RETURNING user_id");
        q.bind(1, token_hash).bind(2, now_us);
        if (!q.step()) {
          if (q.failed()) return db_error(c, "revoking a token");
          return Errc::kUnauthorized;
        }
        int64_t user_id = q.int64(0);
        if (!q.run()) return db_error(c, "revoking a token");
        return user_id;
      },
      std::move(done));
}

void SqliteStore::touch_token(std::string token_hash, int64_t now_us, Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [token_hash = std::move(token_hash), now_us](Connection& c) -> Status {
        auto q = c.query(
            "UPDATE tokens SET last_seen_us = ?2 "
            "WHERE hash = ?1 AND revoked = 0 AND expires_us > ?2 AND last_seen_us < ?2");
        q.bind(1, token_hash).bind(2, now_us);
        if (!q.run()) return db_error(c, "recording a token's use");
        return {};
      },
      std::move(done));
}

namespace {

// The decisions below read and change rows of the writer's open transaction: they see every
// write committed or queued before them, and nothing can come between a check and its change.

Result<bool> are_friends(Connection& c, int64_t a, int64_t b) {
  auto q = c.query("SELECT 1 FROM friendships WHERE user_lo = ? AND user_hi = ?");
  q.bind(1, std::min(a, b)).bind(2, std::max(a, b));
  if (q.step()) return true;
  if (q.failed()) return db_error(c, "reading a friendship");
  return false;
}

Result<bool> has_request(Connection& c, int64_t from_id, int64_t to_id) {
  auto q = c.query("SELECT 1 FROM friend_requests WHERE from_id = ? AND to_id = ?");
  q.bind(1, from_id).bind(2, to_id);
  if (q.step()) return true;
  if (q.failed()) return db_error(c, "reading a friend request");
  return false;
}

Result<bool> is_blocked(Connection& c, int64_t blocker_id, int64_t blocked_id) {
  auto q = c.query("SELECT 1 FROM blocks WHERE blocker_id = ? AND blocked_id = ?");
  q.bind(1, blocker_id).bind(2, blocked_id);
  if (q.step()) return true;
  if (q.failed()) return db_error(c, "reading a block");
  return false;
}

// Makes a and b friends: drops their requests both ways and returns their direct-message
// chat, created with new_chat_id only when the pair never had one (history survives
// unfriending). Several statements: the caller runs in a savepoint.
Result<int64_t> befriend(Connection& c, int64_t a, int64_t b, int64_t new_chat_id, int64_t now_us) {
  const int64_t lo = std::min(a, b), hi = std::max(a, b);
  {
    auto q = c.query(
        "DELETE FROM friend_requests WHERE (from_id = ? AND to_id = ?) OR "
        "(from_id = ? AND to_id = ?)");
    q.bind(1, lo).bind(2, hi).bind(3, hi).bind(4, lo);
    if (!q.run()) return db_error(c, "clearing friend requests");
  }
  {
    auto q = c.query("INSERT INTO friendships (user_lo, user_hi, created_us) VALUES (?, ?, ?)");
    q.bind(1, lo).bind(2, hi).bind(3, now_us);
    if (!q.run()) return db_error(c, "storing a friendship");
  }
  {
    auto q = c.query(
        "INSERT OR IGNORE INTO chats (id, kind, user_lo, user_hi, created_us) "
        "VALUES (?, 0, ?, ?, ?)");
    q.bind(1, new_chat_id).bind(2, lo).bind(3, hi).bind(4, now_us);
    if (!q.run()) return db_error(c, "creating a chat");
  }
  auto q = c.query("SELECT id FROM chats WHERE kind = 0 AND user_lo = ? AND user_hi = ?");
  q.bind(1, lo).bind(2, hi);
  if (!q.step()) return db_error(c, "finding a chat");
  return q.int64(0);
}

}  // namespace

void SqliteStore::request_friend(int64_t from_id, int64_t to_id, int64_t new_chat_id,
                                 int64_t now_us, Callback<FriendRequestOutcome> done) {
  submit<FriendRequestOutcome>(
      Shape::kManyStatements,
      [=](Connection& c) -> Result<FriendRequestOutcome> {
        if (from_id == to_id) return Errc::kSelfTarget;
        {
          // Both live: a deletion may have committed since the name was looked up.
          auto q = c.query("SELECT count(*) FROM users WHERE id IN (?, ?) AND deleted_us IS NULL");
          q.bind(1, from_id).bind(2, to_id);
          if (!q.step()) return db_error(c, "finding the users of a friend request");
          if (q.int64(0) != 2) return Errc::kUserNotFound;
        }
        // Blocked by to_id: answered as for a user that does not exist.
        auto blocked_me = is_blocked(c, to_id, from_id);
        if (!blocked_me.ok()) return blocked_me.error();
        if (blocked_me.value()) return Errc::kUserNotFound;
        auto i_blocked = is_blocked(c, from_id, to_id);
        if (!i_blocked.ok()) return i_blocked.error();
        if (i_blocked.value()) return Errc::kUserBlocked;
        auto friends = are_friends(c, from_id, to_id);
        if (!friends.ok()) return friends.error();
        if (friends.value()) return Errc::kAlreadyFriends;
        auto mine = has_request(c, from_id, to_id);
        if (!mine.ok()) return mine.error();
        if (mine.value()) return Errc::kAlreadyRequested;
        auto theirs = has_request(c, to_id, from_id);
        if (!theirs.ok()) return theirs.error();
        if (theirs.value()) {  // crossed requests: theirs is accepted
          auto chat = befriend(c, from_id, to_id, new_chat_id, now_us);
          if (!chat.ok()) return chat.error();
          return FriendRequestOutcome{true, chat.value()};
        }
        auto q =
            c.query("INSERT INTO friend_requests (from_id, to_id, created_us) VALUES (?, ?, ?)");
        q.bind(1, from_id).bind(2, to_id).bind(3, now_us);
        if (!q.run()) return db_error(c, "storing a friend request");
        return FriendRequestOutcome{false, 0};
      },
      std::move(done));
}

void SqliteStore::accept_friend(int64_t user_id, int64_t requester_id, int64_t new_chat_id,
                                int64_t now_us, Callback<int64_t> done) {
  submit<int64_t>(
      Shape::kManyStatements,
      [=](Connection& c) -> Result<int64_t> {
        auto asked = has_request(c, requester_id, user_id);
        if (!asked.ok()) return asked.error();
        if (!asked.value()) return Errc::kNotRequested;
        return befriend(c, user_id, requester_id, new_chat_id, now_us);
      },
      std::move(done));
}

void SqliteStore::cancel_friend_request(int64_t user_id, int64_t other_id,
                                        Callback<FriendRequestRecord> done) {
  // At most one of the two deletes changes a row: one statement's atomicity is enough.
  submit<FriendRequestRecord>(
      Shape::kOneStatement,
      [=](Connection& c) -> Result<FriendRequestRecord> {
        for (FriendRequestRecord r :
             {FriendRequestRecord{user_id, other_id}, FriendRequestRecord{other_id, user_id}}) {
          auto q = c.query("DELETE FROM friend_requests WHERE from_id = ? AND to_id = ?");
          q.bind(1, r.from_id).bind(2, r.to_id);
          if (!q.run()) return db_error(c, "deleting a friend request");
          if (c.changes() > 0) return r;
        }
        return Errc::kNotRequested;
      },
      std::move(done));
}

void SqliteStore::unfriend(int64_t user_id, int64_t other_id, Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [=](Connection& c) -> Status {
        auto q = c.query("DELETE FROM friendships WHERE user_lo = ? AND user_hi = ?");
        q.bind(1, std::min(user_id, other_id)).bind(2, std::max(user_id, other_id));
        if (!q.run()) return db_error(c, "deleting a friendship");
        if (c.changes() == 0) return Errc::kNotFriends;
        return {};
      },
      std::move(done));
}

void SqliteStore::block_user(int64_t blocker_id, int64_t blocked_id, int64_t now_us,
                             Callback<BlockOutcome> done) {
  submit<BlockOutcome>(
      Shape::kManyStatements,
      [=](Connection& c) -> Result<BlockOutcome> {
        if (blocker_id == blocked_id) return Errc::kSelfTarget;
        BlockOutcome out;
        {
          // Not deleted either: a deletion may have committed since the name was looked up.
          auto q = c.query("SELECT count(*) FROM users WHERE id IN (?, ?) AND deleted_us IS NULL");
          q.bind(1, blocker_id).bind(2, blocked_id);
          if (!q.step()) return db_error(c, "finding the users of a block");
          if (q.int64(0) != 2) return Errc::kUserNotFound;
        }
        {
          auto q = c.query(
              "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_us) VALUES (?, ?, ?)");
          q.bind(1, blocker_id).bind(2, blocked_id).bind(3, now_us);
          if (!q.run()) return db_error(c, "storing a block");
          if (c.changes() == 0) return out;
        }
        out.changed = true;
        {
          auto q = c.query("DELETE FROM friendships WHERE user_lo = ? AND user_hi = ?");
          q.bind(1, std::min(blocker_id, blocked_id)).bind(2, std::max(blocker_id, blocked_id));
          if (!q.run()) return db_error(c, "ending a blocked friendship");
          out.unfriended = c.changes() > 0;
        }
        // At most one request is pending between two users (crossed requests befriend).
        for (FriendRequestRecord r : {FriendRequestRecord{blocker_id, blocked_id},
                                      FriendRequestRecord{blocked_id, blocker_id}}) {
          auto q = c.query("DELETE FROM friend_requests WHERE from_id = ? AND to_id = ?");
          q.bind(1, r.from_id).bind(2, r.to_id);
          if (!q.run()) return db_error(c, "removing a blocked friend request");
          if (c.changes() > 0) out.request_removed = r;
        }
        return out;
      },
      std::move(done));
}

void SqliteStore::unblock_user(int64_t blocker_id, int64_t blocked_id, Callback<bool> done) {
  submit<bool>(
      Shape::kOneStatement,
      [=](Connection& c) -> Result<bool> {
        auto q = c.query("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?");
        q.bind(1, blocker_id).bind(2, blocked_id);
        if (!q.run()) return db_error(c, "deleting a block");
        return c.changes() > 0;
      },
      std::move(done));
}

namespace {

// Takes chat_id's next seq (the writer is the only one, so the update is the lock).
Result<int64_t> next_seq(Connection& c, int64_t chat_id) {
  auto q = c.query("UPDATE chats SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq");
  q.bind(1, chat_id);
  if (!q.step()) {
    if (q.failed()) return db_error(c, "taking a chat's seq");
    return Error{Errc::kInternal, "no chat " + std::to_string(chat_id)};
  }
  int64_t seq = q.int64(0);
  q.run();
  return seq;
}

}  // namespace

namespace {

// Stores a new message, with its nonce when it has one, and answers its seq and stored time
// (store.h, put_message: unique among the chat's messages). The same message again is a
// no-op that answers what it has (as in the PostgreSQL store); another message under a taken
// id is a bug and fails loudly.
Result<StoredMessage> store_message(Connection& c, const MessageRecord& m,
                                    const std::string* nonce) {
  {
    // Its stored time is the one it was given, or later.
    auto q = c.query(
        "SELECT seq, created_us, chat_id = ? AND author_id = ? AND content = ? AND created_us >= ? "
        "FROM messages WHERE id = ?");
    q.bind(1, m.chat_id).bind(2, m.author_id).bind(3, m.content).bind(4, m.created_us);
    q.bind(5, m.id);
    if (q.step()) {
      if (q.int64(2) == 0)
        return Error{Errc::kInternal,
                     "message id " + std::to_string(m.id) + " is taken by another message"};
      return StoredMessage{q.int64(0), q.int64(1)};
    }
    if (q.failed()) return db_error(c, "looking up a message");
  }
  int64_t created_us = m.created_us;
  {
    // The chat's latest time, through messages_by_chat_time (all messages, deleted ones too:
    // later than all of them is later than every live one).
    auto q = c.query("SELECT max(created_us) FROM messages WHERE chat_id = ?");
    q.bind(1, m.chat_id);
    if (!q.step()) return db_error(c, "reading a chat's latest message time");
    if (!q.is_null(0)) created_us = std::max(created_us, q.int64(0) + 1);
  }
  auto seq = next_seq(c, m.chat_id);
  if (!seq.ok()) return seq.error();
  auto q = c.query(
      "INSERT INTO messages (id, chat_id, author_id, content, created_us, seq, nonce) "
      "VALUES (?, ?, ?, ?, ?, ?, ?)");
  q.bind(1, m.id).bind(2, m.chat_id).bind(3, m.author_id).bind(4, m.content);
  q.bind(5, created_us).bind(6, *seq);
  if (nonce)
    q.bind(7, *nonce);
  else
    q.bind_null(7);
  if (!q.run()) return db_error(c, "storing a message");
  return StoredMessage{*seq, created_us};
}

}  // namespace

void SqliteStore::put_message(MessageRecord m, Callback<StoredMessage> done) {
  unindexed_.fetch_add(1, std::memory_order_relaxed);
  // Several statements: a failed insert must give its seq back.
  submit<StoredMessage>(
      Shape::kManyStatements,
      [m = std::move(m)](Connection& c) -> Result<StoredMessage> {
        return store_message(c, m, nullptr);
      },
      std::move(done));
}

void SqliteStore::put_message_once(MessageRecord m, std::string nonce, int64_t reuse_before_us,
                                   Callback<SentMessage> done) {
  unindexed_.fetch_add(1, std::memory_order_relaxed);
  submit<SentMessage>(
      Shape::kManyStatements,
      [m = std::move(m), nonce = std::move(nonce),
       reuse_before_us](Connection& c) -> Result<SentMessage> {
        std::optional<int64_t> expired;  // a message whose nonce is too old to count
        {
          auto q = c.query(
              "SELECT id, content, created_us, edited_us, deleted, seq FROM messages "
              "WHERE chat_id = ? AND author_id = ? AND nonce = ?");
          q.bind(1, m.chat_id).bind(2, m.author_id).bind(3, nonce);
          if (q.step()) {
            // The message itself again (put twice) is no duplicate, as in put_message.
            const bool itself = q.int64(0) == m.id;
            if (itself || q.int64(2) >= reuse_before_us) {
              SentMessage out{MessageRecord{q.int64(0), m.chat_id, m.author_id, q.text(1),
                                            q.int64(2), q.int64(4) != 0, std::nullopt, q.int64(5)},
                              !itself};
              if (!q.is_null(3)) out.message.edited_us = q.int64(3);
              return out;
            }
            expired = q.int64(0);
          } else if (q.failed()) {
            return db_error(c, "looking up a send's nonce");
          }
        }
        if (expired) {
          auto q = c.query("UPDATE messages SET nonce = NULL WHERE id = ?");
          q.bind(1, *expired);
          if (!q.run()) return db_error(c, "freeing an expired nonce");
        }
        auto stored = store_message(c, m, &nonce);
        if (!stored.ok()) return stored.error();
        SentMessage out{m, false};
        out.message.seq = stored->seq;
        out.message.created_us = stored->created_us;
        return out;
      },
      std::move(done));
}

void SqliteStore::set_presence_hidden(int64_t user_id, bool hidden, Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [=](Connection& c) -> Status {
        auto q = c.query(hidden ? "INSERT OR IGNORE INTO presence_hidden (user_id) VALUES (?)"
                                : "DELETE FROM presence_hidden WHERE user_id = ?");
        q.bind(1, user_id);
        if (!q.run()) return db_error(c, "storing a presence setting");
        return {};
      },
      std::move(done));
}

void SqliteStore::mark_read(int64_t user_id, int64_t chat_id, int64_t message_id,
                            Callback<ReadMark> done) {
  submit<ReadMark>(
      Shape::kManyStatements,
      [=](Connection& c) -> Result<ReadMark> {
        int64_t seq = 0;
        {
          auto q = c.query("SELECT seq FROM messages WHERE id = ? AND chat_id = ?");
          q.bind(1, message_id).bind(2, chat_id);
          if (!q.step()) {
            if (q.failed()) return db_error(c, "finding a read message");
            return Errc::kMessageNotFound;
          }
          seq = q.int64(0);
        }
        {
          auto q = c.query(
              "INSERT INTO read_marks (user_id, chat_id, message_id, seq) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (user_id, chat_id) DO UPDATE SET message_id = excluded.message_id, "
              "seq = excluded.seq WHERE read_marks.seq < excluded.seq");
          q.bind(1, user_id).bind(2, chat_id).bind(3, message_id).bind(4, seq);
          if (!q.run()) return db_error(c, "moving a read mark");
          if (c.changes() > 0) return ReadMark{chat_id, message_id, true};
        }
        auto q = c.query("SELECT message_id FROM read_marks WHERE user_id = ? AND chat_id = ?");
        q.bind(1, user_id).bind(2, chat_id);
        if (!q.step()) return db_error(c, "reading a read mark");
        return ReadMark{chat_id, q.int64(0), false};
      },
      std::move(done));
}

void SqliteStore::edit_message(int64_t chat_id, int64_t message_id, int64_t author_id,
                               std::string content, int64_t now_us, Callback<MessageRecord> done) {
  submit<MessageRecord>(
      Shape::kManyStatements,
      [=, content = std::move(content)](Connection& c) -> Result<MessageRecord> {
        const bool deleting = content.empty();
        int64_t created = 0;
        std::string before;
        {
          auto q = c.query(
              "SELECT created_us, content FROM messages "
              "WHERE id = ? AND chat_id = ? AND author_id = ? AND deleted = 0");
          q.bind(1, message_id).bind(2, chat_id).bind(3, author_id);
          if (!q.step()) {
            if (q.failed()) return db_error(c, "finding a message to edit");
            return Errc::kMessageNotFound;
          }
          created = q.int64(0);
          before = q.text(1);
        }
        auto seq = next_seq(c, chat_id);
        if (!seq.ok()) return seq.error();
        if (deleting) {
          // A deleted text is gone from every version.
          auto q = c.query("UPDATE message_changes SET content_before = '' WHERE message_id = ?");
          q.bind(1, message_id);
          if (!q.run()) return db_error(c, "erasing a deleted message's versions");
          before.clear();
        }
        {
          auto q = c.query(
              "INSERT INTO message_changes "
              "(chat_id, seq, message_id, deleted, edited_us, content_before) "
              "VALUES (?, ?, ?, ?, ?, ?)");
          q.bind(1, chat_id).bind(2, *seq).bind(3, message_id);
          q.bind(4, static_cast<int64_t>(deleting)).bind(5, now_us).bind(6, before);
          if (!q.run()) return db_error(c, "recording an edit");
        }
        auto q =
            c.query("UPDATE messages SET content = ?, deleted = ?, edited_us = ? WHERE id = ?");
        q.bind(1, content).bind(2, static_cast<int64_t>(deleting)).bind(3, now_us);
        q.bind(4, message_id);
        if (!q.run()) return db_error(c, "editing a message");
        return MessageRecord{message_id, chat_id,  author_id, content,
                             created,    deleting, now_us,    *seq};
      },
      std::move(done));
}

namespace {

// The guild with its members in joining order (ties by id); none when it does not exist.
Result<std::optional<GuildState>> read_guild(Connection& c, int64_t guild_id) {
  GuildState g;
  {
    auto q = c.query("SELECT name, owner_id, created_us FROM guilds WHERE id = ?");
    q.bind(1, guild_id);
    if (!q.step()) {
      if (q.failed()) return db_error(c, "reading a guild");
      return std::optional<GuildState>();
    }
    g.guild = GuildRecord{guild_id, q.text(0), q.int64(1), q.int64(2)};
  }
  auto q = c.query(
      "SELECT user_id, joined_us FROM guild_members WHERE guild_id = ? "
      "ORDER BY joined_us, user_id");
  q.bind(1, guild_id);
  while (q.step()) g.members.push_back({guild_id, q.int64(0), q.int64(1)});
  if (q.failed()) return db_error(c, "reading guild members");
  return std::optional<GuildState>(std::move(g));
}

bool has_member(const GuildState& g, int64_t user_id) {
  return std::any_of(g.members.begin(), g.members.end(),
                     [user_id](const GuildMemberRecord& m) { return m.user_id == user_id; });
}

// The guild when user_id is one of its members; kGuildNotFound otherwise, whether or not it
// exists.
Result<GuildState> guild_of_member(Connection& c, int64_t guild_id, int64_t user_id) {
  auto g = read_guild(c, guild_id);
  if (!g.ok()) return g.error();
  if (!g.value() || !has_member(*g.value(), user_id)) return Errc::kGuildNotFound;
  return std::move(*g.value());
}

Status delete_guild_rows(Connection& c, int64_t guild_id) {
  // Members go explicitly too: the cascade depends on foreign keys being on.
  {
    auto q = c.query("DELETE FROM guild_members WHERE guild_id = ?");
    q.bind(1, guild_id);
    if (!q.run()) return db_error(c, "deleting guild members");
  }
  auto q = c.query("DELETE FROM guilds WHERE id = ?");
  q.bind(1, guild_id);
  if (!q.run()) return db_error(c, "deleting a guild");
  return {};
}

Status delete_member_row(Connection& c, int64_t guild_id, int64_t user_id) {
  auto q = c.query("DELETE FROM guild_members WHERE guild_id = ? AND user_id = ?");
  q.bind(1, guild_id).bind(2, user_id);
  if (!q.run()) return db_error(c, "removing a guild member");
  return {};
}

void erase_member(GuildState& g, int64_t user_id) {
  std::erase_if(g.members, [user_id](const GuildMemberRecord& m) { return m.user_id == user_id; });
}

// user_id leaves guild_id (store.h, leave_guild). Several statements: the caller runs in a
// savepoint.
Result<GuildLeaveOutcome> leave_guild_rows(Connection& c, int64_t guild_id, int64_t user_id) {
  auto g = guild_of_member(c, guild_id, user_id);
  if (!g.ok()) return g.error();
  GuildState after = std::move(g.value());
  erase_member(after, user_id);
  if (after.members.empty()) {  // the last member left
    if (Status s = delete_guild_rows(c, guild_id); !s.ok()) return s.error();
    return GuildLeaveOutcome{};
  }
  if (Status s = delete_member_row(c, guild_id, user_id); !s.ok()) return s.error();
  GuildLeaveOutcome out;
  if (after.guild.owner_id == user_id) {
    // Members are in joining order (ties by id): the first one inherits.
    out.new_owner = after.members.front().user_id;
    after.guild.owner_id = *out.new_owner;
    auto q = c.query("UPDATE guilds SET owner_id = ? WHERE id = ?");
    q.bind(1, *out.new_owner).bind(2, guild_id);
    if (!q.run()) return db_error(c, "handing over a guild");
  }
  out.after = std::move(after);
  return out;
}

}  // namespace

void SqliteStore::create_guild(GuildRecord g, Callback<GuildState> done) {
  submit<GuildState>(
      Shape::kManyStatements,
      [g = std::move(g)](Connection& c) -> Result<GuildState> {
        {
          auto q =
              c.query("INSERT INTO guilds (id, name, owner_id, created_us) VALUES (?, ?, ?, ?)");
          q.bind(1, g.id).bind(2, g.name).bind(3, g.owner_id).bind(4, g.created_us);
          if (!q.run()) return db_error(c, "creating a guild");
        }
        {
          auto q = c.query("INSERT INTO chats (id, kind, created_us) VALUES (?, 1, ?)");
          q.bind(1, g.id).bind(2, g.created_us);
          if (!q.run()) return db_error(c, "creating a guild chat");
        }
        auto q =
            c.query("INSERT INTO guild_members (guild_id, user_id, joined_us) VALUES (?, ?, ?)");
        q.bind(1, g.id).bind(2, g.owner_id).bind(3, g.created_us);
        if (!q.run()) return db_error(c, "adding a guild's owner");
        return GuildState{g, {{g.id, g.owner_id, g.created_us}}};
      },
      std::move(done));
}

void SqliteStore::rename_guild(int64_t guild_id, int64_t actor_id, std::string name,
                               Callback<GuildState> done) {
  submit<GuildState>(
      Shape::kOneStatement,
      [=, name = std::move(name)](Connection& c) -> Result<GuildState> {
        auto g = guild_of_member(c, guild_id, actor_id);
        if (!g.ok()) return g.error();
        if (g->guild.owner_id != actor_id) return Errc::kNotGuildOwner;
        auto q = c.query("UPDATE guilds SET name = ? WHERE id = ?");
        q.bind(1, name).bind(2, guild_id);
        if (!q.run()) return db_error(c, "renaming a guild");
        g->guild.name = name;
        return std::move(g.value());
      },
      std::move(done));
}

void SqliteStore::add_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id,
                                   int64_t now_us, int64_t max_members, Callback<GuildState> done) {
  submit<GuildState>(
      Shape::kOneStatement,
      [=](Connection& c) -> Result<GuildState> {
        auto g = guild_of_member(c, guild_id, actor_id);
        if (!g.ok()) return g.error();
        if (has_member(*g, user_id)) return Errc::kAlreadyMember;
        auto friends = are_friends(c, actor_id, user_id);
        if (!friends.ok()) return friends.error();
        if (!friends.value()) return Errc::kNotFriends;
        if (static_cast<int64_t>(g->members.size()) >= max_members) return Errc::kGuildFull;
        // Never earlier than the last member: joining order decides who inherits the guild.
        int64_t joined = std::max(now_us, g->members.back().joined_us);
        auto q =
            c.query("INSERT INTO guild_members (guild_id, user_id, joined_us) VALUES (?, ?, ?)");
        q.bind(1, guild_id).bind(2, user_id).bind(3, joined);
        if (!q.run()) return db_error(c, "adding a guild member");
        // Last in joining order: no one joined later, and an equal time sorts by id.
        g->members.push_back({guild_id, user_id, joined});
        std::stable_sort(g->members.begin(), g->members.end(),
                         [](const GuildMemberRecord& a, const GuildMemberRecord& b) {
                           return a.joined_us != b.joined_us ? a.joined_us < b.joined_us
                                                             : a.user_id < b.user_id;
                         });
        return std::move(g.value());
      },
      std::move(done));
}

void SqliteStore::remove_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id,
                                      Callback<GuildState> done) {
  submit<GuildState>(
      Shape::kOneStatement,
      [=](Connection& c) -> Result<GuildState> {
        auto g = guild_of_member(c, guild_id, actor_id);
        if (!g.ok()) return g.error();
        if (g->guild.owner_id != actor_id) return Errc::kNotGuildOwner;
        if (user_id == g->guild.owner_id) return Errc::kSelfTarget;
        if (!has_member(*g, user_id)) return Errc::kUserNotFound;
        if (Status s = delete_member_row(c, guild_id, user_id); !s.ok()) return s.error();
        erase_member(*g, user_id);
        return std::move(g.value());
      },
      std::move(done));
}

void SqliteStore::leave_guild(int64_t guild_id, int64_t user_id, Callback<GuildLeaveOutcome> done) {
  submit<GuildLeaveOutcome>(
      Shape::kManyStatements,
      [=](Connection& c) -> Result<GuildLeaveOutcome> {
        return leave_guild_rows(c, guild_id, user_id);
      },
      std::move(done));
}

void SqliteStore::delete_user(int64_t user_id, std::string verified_password_hash, int64_t now_us,
                              Callback<AccountDeleted> done) {
  submit<AccountDeleted>(
      Shape::kManyStatements,
      [=, verified = std::move(verified_password_hash)](Connection& c) -> Result<AccountDeleted> {
        AccountDeleted out;
        {
          auto q = c.query(
              "SELECT password_hash, profile, created_us, disabled FROM users "
              "WHERE id = ? AND deleted_us IS NULL");
          q.bind(1, user_id);
          if (!q.step()) {
            if (q.failed()) return db_error(c, "reading an account");
            return Errc::kUserNotFound;
          }
          if (!verified.empty() && q.text(0) != verified) return Errc::kInvalidCredentials;
          out.user.id = user_id;
          out.user.created_us = q.int64(2);
          out.user.disabled = q.int64(3) != 0;
          out.user.deleted = true;
        }
        {
          auto q = c.query(
              "UPDATE users SET name = '', name_lower = '#deleted:' || id, name_skeleton = NULL, "
              "email = '', email_lower = '#deleted:' || id, password_hash = '', profile = NULL, "
              "deleted_us = ? WHERE id = ?");
          q.bind(1, now_us).bind(2, user_id);
          if (!q.run()) return db_error(c, "deleting an account");
        }
        {
          auto q = c.query(
              "UPDATE tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0 AND expires_us > ? "
              "RETURNING hash");
          q.bind(1, user_id).bind(2, now_us);
          while (q.step()) out.revoked_token_hashes.push_back(q.text(0));
          if (q.failed()) return db_error(c, "revoking an account's tokens");
        }
        {
          auto q = c.query(
              "DELETE FROM friendships WHERE user_lo = ?1 OR user_hi = ?1 "
              "RETURNING CASE WHEN user_lo = ?1 THEN user_hi ELSE user_lo END");
          q.bind(1, user_id);
          while (q.step()) out.former_friends.push_back(q.int64(0));
          if (q.failed()) return db_error(c, "deleting an account's friendships");
          std::sort(out.former_friends.begin(), out.former_friends.end());
        }
        {
          auto q = c.query(
              "DELETE FROM friend_requests WHERE from_id = ?1 OR to_id = ?1 "
              "RETURNING from_id, to_id");
          q.bind(1, user_id);
          while (q.step()) out.removed_requests.push_back({q.int64(0), q.int64(1)});
          if (q.failed()) return db_error(c, "deleting an account's friend requests");
          std::sort(out.removed_requests.begin(), out.removed_requests.end(),
                    [](const FriendRequestRecord& a, const FriendRequestRecord& b) {
                      return std::pair(a.from_id, a.to_id) < std::pair(b.from_id, b.to_id);
                    });
        }
        {
          // Password reset keys of the account stop working with it.
          auto q = c.query("DELETE FROM password_resets WHERE user_id = ?");
          q.bind(1, user_id);
          if (!q.run()) return db_error(c, "deleting an account's reset key");
        }
        {
          // Blocks by or of the account serve nothing any more (its name is free again).
          auto q = c.query("DELETE FROM blocks WHERE blocker_id = ? OR blocked_id = ?");
          q.bind(1, user_id).bind(2, user_id);
          if (!q.run()) return db_error(c, "deleting an account's blocks");
        }
        std::vector<int64_t> guild_ids;
        {
          auto q =
              c.query("SELECT guild_id FROM guild_members WHERE user_id = ? ORDER BY guild_id");
          q.bind(1, user_id);
          while (q.step()) guild_ids.push_back(q.int64(0));
          if (q.failed()) return db_error(c, "reading an account's guilds");
        }
        for (int64_t guild_id : guild_ids) {
          auto left = leave_guild_rows(c, guild_id, user_id);
          if (!left.ok()) return left.error();
          out.guilds.push_back({guild_id, std::move(left.value())});
        }
        return out;
      },
      std::move(done));
}

void SqliteStore::delete_guild(int64_t guild_id, int64_t actor_id, Callback<GuildState> done) {
  submit<GuildState>(
      Shape::kManyStatements,
      [=](Connection& c) -> Result<GuildState> {
        auto g = guild_of_member(c, guild_id, actor_id);
        if (!g.ok()) return g.error();
        if (g->guild.owner_id != actor_id) return Errc::kNotGuildOwner;
        if (Status s = delete_guild_rows(c, guild_id); !s.ok()) return s.error();
        return std::move(g.value());
      },
      std::move(done));
}

void SqliteStore::mark_mail_sent(int64_t mail_id, int64_t now_us, Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [=](Connection& c) -> Status {
        // The body goes: it holds a verification or reset link, which is stored hashed
        // everywhere else; the rest of the row stays for diagnosis.
        auto q = c.query(
            "UPDATE outbox SET sent_us = ?, attempts = attempts + 1, body = '' WHERE id = ?");
        q.bind(1, now_us).bind(2, mail_id);
        if (!q.run()) return db_error(c, "marking mail sent");
        return {};
      },
      std::move(done));
}

void SqliteStore::reschedule_mail(int64_t mail_id, int attempts, int64_t next_attempt_us,
                                  std::string last_error, Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [=, last_error = std::move(last_error)](Connection& c) -> Status {
        auto q = c.query(
            "UPDATE outbox SET attempts = ?, next_attempt_us = ?, last_error = ? WHERE id = ?");
        q.bind(1, static_cast<int64_t>(attempts)).bind(2, next_attempt_us).bind(3, last_error);
        q.bind(4, mail_id);
        if (!q.run()) return db_error(c, "rescheduling mail");
        return {};
      },
      std::move(done));
}

void SqliteStore::set_max_page_count_for_test(int64_t pages, Callback<void> done) {
  submit<void>(
      Shape::kOneStatement,
      [pages](Connection& c) -> Status {
        return c.exec("PRAGMA max_page_count = " + std::to_string(pages));
      },
      std::move(done));
}

int64_t SqliteStore::page_count() {
  auto borrowed = borrow_reader();
  if (!borrowed.ok()) return -1;
  auto c = std::move(borrowed.value());
  int64_t n = -1;
  {
    auto q = c->query("PRAGMA page_count");
    if (q.step()) n = q.int64(0);
  }
  return_reader(std::move(c));
  return n;
}

namespace {
// Messages one index step takes (a small share of the writer's time: FTS5 writes one segment a
// step), and how long a few new messages wait for one. A step waits for a moment when no write is
// queued, so that no send's commit waits for it, unless kIndexBacklog messages wait (a writer that
// never idles still indexes, and a search never has much to wait for).
constexpr int64_t kIndexStep = 200;
// Pages of the index's segments merged per kIndexStep messages a step indexed (FTS5's 'merge'
// command; its automatic merge is off, migration 15): a share in every step, about 1 ms for a
// step of 200, instead of FTS5's lump of 7-10 ms every few seconds. Proportional to the step,
// so that larger steps (a backlog, a search waiting) do not leave segments unmerged: FTS5's
// automatic merge does about one page per page written per level, and a step of 200 messages
// writes a few pages.
constexpr int64_t kIndexMergePages = 32;
constexpr int64_t kIndexBacklog = 4000;
constexpr auto kIndexInterval = std::chrono::milliseconds(200);
}  // namespace

SqliteStore::Write SqliteStore::make_index_step(int64_t limit, int64_t counted) {
  struct Outcome {
    bool ok = false;
    int64_t indexed = 0;
    std::string error;     // why the step failed, if it did
    bool storage = false;  // for the environment (the writer's health logs and counts those)
  };
  auto outcome = std::make_shared<Outcome>();
  Write w;
  w.multi_statement = true;
  w.background = true;
  w.apply = [limit, outcome](Connection& c) -> Status {
    auto fail = [&](const char* what) {
      Error e = db_error(c, what);
      outcome->error = e.detail;
      outcome->storage = e.code == Errc::kStorageUnavailable;
      return e;
    };
    int64_t from = 0, to = 0, n = 0;
    {
      auto q = c.query(
          "SELECT p.indexed_up_to, max(m.id), count(*) FROM search_progress p "
          "LEFT JOIN (SELECT id FROM messages WHERE id > (SELECT indexed_up_to FROM "
          "search_progress) ORDER BY id LIMIT ?) m");
      q.bind(1, limit);
      if (!q.step()) return fail("reading search_progress");
      from = q.int64(0);
      if (!q.is_null(1)) to = q.int64(1), n = q.int64(2);
    }
    if (n > 0) {
      {
        auto q = c.query(
            "INSERT INTO message_search (rowid, content, chat_id) "
            "SELECT id, content, chat_id FROM messages WHERE id > ? AND id <= ?");
        q.bind(1, from).bind(2, to);
        if (!q.run()) return fail("indexing messages for search");
      }
      {
        auto q = c.query("UPDATE search_progress SET indexed_up_to = ?");
        q.bind(1, to);
        if (!q.run()) return fail("moving search_progress");
      }
      auto q = c.query("INSERT INTO message_search (message_search, rank) VALUES ('merge', ?)");
      q.bind(1, kIndexMergePages * ((n + kIndexStep - 1) / kIndexStep));
      if (!q.run()) return fail("merging the search index");
    }
    outcome->ok = true;
    outcome->indexed = n;
    return {};
  };
  w.finish = [this, limit, counted, outcome](bool committed, const Error* batch_error) {
    if (committed && outcome->ok) {
      // A step that found fewer than it could take found all there was when it ran: what
      // was counted when it was queued, and never indexed (a send that failed), goes too.
      int64_t done =
          outcome->indexed < limit ? std::max(outcome->indexed, counted) : outcome->indexed;
      int64_t left = unindexed_.fetch_sub(done, std::memory_order_relaxed) - done;
      if (left < 0) unindexed_.fetch_add(-left, std::memory_order_relaxed);
    } else {
      // Left for the next step; a search meanwhile finds what was indexed before. A failure
      // of the environment is the writer's health's to log (once per interval), as any write.
      metrics::add(metrics::counters().search_index_failures);
      const bool storage =
          outcome->storage || (batch_error && batch_error->code == Errc::kStorageUnavailable);
      if (!storage)
        spdlog::error("indexing messages for search failed: {}",
                      !outcome->error.empty() ? outcome->error
                      : batch_error           ? batch_error->detail
                                              : std::string("the transaction did not commit"));
    }
    std::lock_guard lock(mu_);
    index_queued_ = false;
    ++index_steps_;
    index_cv_.notify_all();
    cv_.notify_one();  // the writer: another step may be due
  };
  return w;
}

std::chrono::steady_clock::time_point SqliteStore::maybe_queue_index_locked() {
  constexpr auto kNever = std::chrono::steady_clock::time_point::max();
  // While writes fail for the environment a step would fail too: it waits for a commit.
  if (index_queued_ || stopping_ || write_health_.failing()) return kNever;
  const int64_t waiting = unindexed_.load(std::memory_order_relaxed);
  if (waiting <= 0 && !index_wanted_) return kNever;
  auto now = std::chrono::steady_clock::now();
  if (!index_wanted_ && waiting < kIndexStep && now < next_index_) return next_index_;
  if (!index_wanted_ && !queue_.empty() && waiting < kIndexBacklog) return kNever;
  // A search waits: all of what waits at once (at most a backlog's worth, a few ms).
  const int64_t limit = index_wanted_ ? 2 * kIndexBacklog : kIndexStep;
  index_wanted_ = false;
  index_queued_ = true;
  next_index_ = now + kIndexInterval;
  queue_.push_back(make_index_step(limit, waiting));
  return kNever;
}

void SqliteStore::catch_up_search_index(Connection& reader) {
  // Up to the newest message committed now; bounded in time: a store that has never been
  // indexed (an upgrade) is searched as far as it is, while the writer goes on in steps.
  auto indexed_to = [&reader](const char* sql) -> std::optional<int64_t> {
    auto q = reader.query(sql);
    if (!q.step()) return std::nullopt;
    return q.int64(0);
  };
  auto target = indexed_to("SELECT coalesce(max(id), 0) FROM messages");
  if (!target) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    if (write_health_.failing()) return;  // no step can commit now: what is indexed is found
    auto progress = indexed_to("SELECT indexed_up_to FROM search_progress");
    if (!progress || *progress >= *target) return;
    std::unique_lock lock(mu_);
    if (stopping_) return;
    const uint64_t seen = index_steps_;
    index_wanted_ = true;
    cv_.notify_one();
    if (!index_cv_.wait_until(lock, deadline, [&] { return index_steps_ != seen || stopping_; }))
      return;
  }
}

SqliteStore::Write SqliteStore::make_prune(int64_t now_us, Callback<PruneCounts> done) {
  const int64_t limit = options_.prune_batch;
  const int64_t sent_before = now_us - options_.sent_mail_retention_us;
  return make_write<PruneCounts>(
      Shape::kManyStatements,
      [now_us, limit, sent_before](Connection& c) -> Result<PruneCounts> {
        PruneCounts n;
        {
          auto q = c.query(
              "DELETE FROM tokens WHERE hash IN "
              "(SELECT hash FROM tokens WHERE expires_us <= ? LIMIT ?)");
          q.bind(1, now_us).bind(2, limit);
          if (!q.run()) return db_error(c, "pruning expired tokens");
          n.expired_tokens = c.changes();
        }
        {
          // A revoked token is refused from memory at once; its row serves nothing more.
          auto q = c.query(
              "DELETE FROM tokens WHERE hash IN "
              "(SELECT hash FROM tokens WHERE revoked = 1 LIMIT ?)");
          q.bind(1, limit);
          if (!q.run()) return db_error(c, "pruning revoked tokens");
          n.revoked_tokens = c.changes();
        }
        {
          auto q = c.query(
              "DELETE FROM pending_registrations WHERE email_lower IN "
              "(SELECT email_lower FROM pending_registrations WHERE expires_us <= ? LIMIT ?)");
          q.bind(1, now_us).bind(2, limit);
          if (!q.run()) return db_error(c, "pruning expired registrations");
          n.registrations = c.changes();
        }
        {
          auto q = c.query(
              "DELETE FROM outbox WHERE id IN "
              "(SELECT id FROM outbox WHERE sent_us IS NOT NULL AND sent_us <= ? LIMIT ?)");
          q.bind(1, sent_before).bind(2, limit);
          if (!q.run()) return db_error(c, "pruning sent mail");
          n.sent_mail = c.changes();
        }
        n.any_batch_full = n.expired_tokens == limit || n.revoked_tokens == limit ||
                           n.registrations == limit || n.sent_mail == limit;
        return n;
      },
      std::move(done));
}

void SqliteStore::prune(int64_t now_us, Callback<PruneCounts> done) {
  enqueue(make_prune(now_us, std::move(done)));
}

// ---------------------------------------------------------------- passwords

namespace {

// Sets the user's password hash (when it still is old_hash, if given), revokes every live token
// of the user but keep_token_hash, and answers the user as it now is with the tokens revoked.
Result<PasswordChanged> replace_password(Connection& c, int64_t user_id,
                                         const std::optional<std::string>& old_hash,
                                         const std::string& new_hash,
                                         const std::string& keep_token_hash, int64_t now_us) {
  PasswordChanged out;
  {
    auto q = c.query(
        "SELECT id, name, email, password_hash, profile, created_us FROM users WHERE id = ?");
    q.bind(1, user_id);
    if (!q.step()) {
      if (q.failed()) return db_error(c, "finding a user");
      return Errc::kUserNotFound;
    }
    if (old_hash && q.text(3) != *old_hash) return Errc::kInvalidCredentials;
    out.user.id = q.int64(0);
    out.user.name = q.text(1);
    out.user.email = q.text(2);
    if (!q.is_null(4)) out.user.profile = q.text(4);
    out.user.created_us = q.int64(5);
  }
  out.user.password_hash = new_hash;
  {
    auto q = c.query("UPDATE users SET password_hash = ? WHERE id = ?");
    q.bind(1, new_hash).bind(2, user_id);
    if (!q.run()) return db_error(c, "replacing a password");
  }
  auto q = c.query(
      "UPDATE tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0 AND expires_us > ? "
      "AND hash <> ? RETURNING hash");
  q.bind(1, user_id).bind(2, now_us).bind(3, keep_token_hash);
  while (q.step()) out.revoked_token_hashes.push_back(q.text(0));
  if (q.failed()) return db_error(c, "revoking the tokens of a user");
  return out;
}

}  // namespace

void SqliteStore::put_password_reset(PasswordReset reset, OutboxMail mail, Callback<void> done) {
  submit<void>(
      Shape::kManyStatements,
      [reset = std::move(reset), mail = std::move(mail)](Connection& c) -> Status {
        {
          auto q = c.query("SELECT 1 FROM users WHERE id = ?");
          q.bind(1, reset.user_id);
          if (!q.step()) {
            if (q.failed()) return db_error(c, "finding a user");
            return Errc::kUserNotFound;
          }
        }
        auto q = c.query(
            "INSERT OR REPLACE INTO password_resets (user_id, key_hash, created_us, expires_us) "
            "VALUES (?, ?, ?, ?)");
        q.bind(1, reset.user_id).bind(2, reset.key_hash).bind(3, reset.created_us);
        q.bind(4, reset.expires_us);
        if (!q.run()) return db_error(c, "storing a password reset");
        return insert_mail(c, mail, reset.created_us);
      },
      std::move(done));
}

void SqliteStore::reset_password(std::string key_hash, std::string password_hash, int64_t now_us,
                                 Callback<PasswordChanged> done) {
  submit<PasswordChanged>(
      Shape::kManyStatements,
      [key_hash = std::move(key_hash), password_hash = std::move(password_hash),
       now_us](Connection& c) -> Result<PasswordChanged> {
        int64_t user_id = 0;
        {
          // Deleted as it is used: a key works once.
          auto q = c.query(
              "DELETE FROM password_resets WHERE key_hash = ? AND expires_us > ? "
              "RETURNING user_id");
          q.bind(1, key_hash).bind(2, now_us);
          if (!q.step()) {
            if (q.failed()) return db_error(c, "consuming a password reset");
            return Errc::kLinkInvalid;
          }
          user_id = q.int64(0);
          if (!q.run()) return db_error(c, "consuming a password reset");
        }
        auto changed = replace_password(c, user_id, std::nullopt, password_hash, "", now_us);
        if (!changed.ok() && changed.error().code == Errc::kUserNotFound) return Errc::kLinkInvalid;
        return changed;
      },
      std::move(done));
}

void SqliteStore::change_password(int64_t user_id, std::string old_hash, std::string new_hash,
                                  std::string keep_token_hash, int64_t now_us,
                                  Callback<PasswordChanged> done) {
  submit<PasswordChanged>(
      Shape::kManyStatements,
      [user_id, old_hash = std::move(old_hash), new_hash = std::move(new_hash),
       keep_token_hash = std::move(keep_token_hash),
       now_us](Connection& c) -> Result<PasswordChanged> {
        return replace_password(c, user_id, old_hash, new_hash, keep_token_hash, now_us);
      },
      std::move(done));
}

}  // namespace rwd::store
