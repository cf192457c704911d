#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "store/commit_window.h"
#include "store/postgres/pg_util.h"
#include "store/storage_health.h"
#include "store/store.h"

namespace rwd::store {

struct PostgresOptions {
  const Clock* clock = nullptr;  // the system clock when null
  // Storage failures are logged at most once per this interval while they last.
  int64_t failure_log_interval_us = 10'000'000;
  StorageHealth::Sink failure_log;  // tests; empty: spdlog

  // After the writer's connection is lost it reconnects at once, then waits twice as long
  // after each failed attempt, up to the maximum. Writes submitted while it is down fail at
  // once with kStorageUnavailable.
  int64_t reconnect_min_delay_us = 50'000;
  int64_t reconnect_max_delay_us = 2'000'000;
  // A batch whose answer has not come after this long is treated as a lost connection.
  int64_t batch_timeout_us = 30'000'000;
  size_t max_readers = 4;  // idle read connections kept

  // Pruning, as in SqliteOptions, plus the commit markers of settled batches.
  int64_t prune_interval_us = 60'000'000;
  int64_t sent_mail_retention_us = int64_t{7} * 24 * 3600 * 1'000'000;
  int64_t batch_marker_retention_us = int64_t{24} * 3600 * 1'000'000;
  int prune_batch = 500;  // rows per table per transaction

  // The commit window's bound, as SqliteOptions::commit_delay_us (CommitWindow): one WAL
  // flush, and one round of the backend's sleeps and wake-ups, serves several writes.
  int64_t commit_delay_us = 0;
};

// Rows one PostgresStore::prune() deleted.
struct PostgresPruneCounts {
  int64_t expired_tokens = 0;
  int64_t revoked_tokens = 0;
  int64_t registrations = 0;
  int64_t sent_mail = 0;
  bool any_batch_full = false;  // more may be left: prune again soon
};

// The PostgreSQL store. Same contract and same rules as the SQLite store (store.h); the
// decisions are PL/pgSQL functions created by the migrations (postgres/migrations.cc), so that
// each write is one statement that returns its outcome instead of raising.
//
// Writes: one writer thread owns one connection in non-blocking pipeline mode. Every write
// queued while the previous batch was in flight goes into the next batch (up to kMaxBatch):
// BEGIN, the batch's marker row, one statement per write, COMMIT and a Sync are sent at once
// — one round trip and one commit per batch. Consecutive message sends share one statement
// (rwd_store_messages, their fields as arrays). Callbacks run on a completion thread
// ("pg-done"), in commit order, only after COMMIT's answer was read.
//  - A write whose statement fails (a bug: a constraint the functions should have kept) gets
//    kInternal alone; the rest of its batch is sent again in the next one. When the statement
//    was a combined send, the batch is sent again with its sends each on its own first.
//  - A serialization failure or deadlock (another process) sends the batch again, twice at
//    most, then fails it with kStorageUnavailable.
//  - A batch's chats (the chats whose sequence its writes take, store.h) are locked in id
//    order before its first write, so two processes' batches writing to the same chats wait
//    for each other instead of deadlocking.
//  - A connection lost with a COMMIT in flight leaves the batch in doubt: it is settled after
//    reconnecting by inserting its marker as `fenced` (which waits for, and then forbids, the
//    lost transaction). Marker already there: it committed — each write is answered with
//    the result it produced: a decision (a write whose callback needs its row) stored that
//    row in the same transaction (write_results, keyed by the marker and the write's
//    position; pruned with the marker), a message's seq is read back from messages (no extra
//    row per message), void writes are acknowledged. Fence inserted: nothing happened, and
//    the writes are sent again once. Never acknowledged blindly.
//  - While the server cannot be reached, writes fail at once with kStorageUnavailable and the
//    writer reconnects with backoff; the cause is logged rate-limited (StorageHealth).
// Reads: blocking queries on a small pool of connections. A connection found broken empties
// the pool (the idle ones most likely died with it, in a server restart) and the read is
// tried once more on a fresh connection.
class PostgresStore final : public Store {
  friend class PostgresMailClaim;

 public:
  static constexpr size_t kMaxBatch = 512;

  // Connects to `url` (postgresql://user:password@host:port/db), applies migrations and
  // starts the writer. Fails when the server cannot be reached or a migration fails.
  static Result<std::unique_ptr<PostgresStore>> open(const std::string& url,
                                                     PostgresOptions options = {});
  ~PostgresStore() override;  // close(), then every connection is closed

  Result<DirectorySnapshot> load_directory(int64_t now_us) override;
  void put_registration(PendingRegistration reg, OutboxMail mail, Callback<void> done) override;
  void put_mail(OutboxMail mail, Callback<void> done) override;
  void verify_registration(std::string key_hash, int64_t now_us, int64_t new_user_id,
                           Callback<UserRecord> done) override;
  void put_login_token(TokenRecord token, std::string verified_password_hash,
                       Callback<void> done) override;
  void revoke_token(std::string token_hash, int64_t now_us, Callback<int64_t> done) override;
  void touch_token(std::string token_hash, int64_t now_us, Callback<void> done) override;
  void put_password_reset(PasswordReset reset, OutboxMail mail, Callback<void> done) override;
  void reset_password(std::string key_hash, std::string password_hash, int64_t now_us,
                      Callback<PasswordChanged> done) override;
  void change_password(int64_t user_id, std::string old_hash, std::string new_hash,
                       std::string keep_token_hash, int64_t now_us,
                       Callback<PasswordChanged> done) override;
  void set_user_disabled(int64_t user_id, bool disabled, int64_t now_us,
                         Callback<AccountStateOutcome> done) override;
  void delete_user(int64_t user_id, std::string verified_password_hash, int64_t now_us,
                   Callback<AccountDeleted> done) override;
  void request_friend(int64_t from_id, int64_t to_id, int64_t new_chat_id, int64_t now_us,
                      Callback<FriendRequestOutcome> done) override;
  void accept_friend(int64_t user_id, int64_t requester_id, int64_t new_chat_id, int64_t now_us,
                     Callback<int64_t> done) override;
  void cancel_friend_request(int64_t user_id, int64_t other_id,
                             Callback<FriendRequestRecord> done) override;
  void unfriend(int64_t user_id, int64_t other_id, Callback<void> done) override;
  void block_user(int64_t blocker_id, int64_t blocked_id, int64_t now_us,
                  Callback<BlockOutcome> done) override;
  void unblock_user(int64_t blocker_id, int64_t blocked_id, Callback<bool> done) override;
  void put_message(MessageRecord message, Callback<StoredMessage> done) override;
  void put_message_once(MessageRecord message, std::string nonce, int64_t reuse_before_us,
                        Callback<SentMessage> done) override;
  void mark_read(int64_t user_id, int64_t chat_id, int64_t message_id,
                 Callback<ReadMark> done) override;
  void set_presence_hidden(int64_t user_id, bool hidden, Callback<void> done) override;
  void edit_message(int64_t chat_id, int64_t message_id, int64_t author_id, std::string content,
                    int64_t now_us, Callback<MessageRecord> done) override;
  void create_guild(GuildRecord guild, Callback<GuildState> done) override;
  void rename_guild(int64_t guild_id, int64_t actor_id, std::string name,
                    Callback<GuildState> done) override;
  void add_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id, int64_t now_us,
                        int64_t max_members, Callback<GuildState> done) override;
  void remove_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id,
                           Callback<GuildState> done) override;
  void leave_guild(int64_t guild_id, int64_t user_id, Callback<GuildLeaveOutcome> done) override;
  void delete_guild(int64_t guild_id, int64_t actor_id, Callback<GuildState> done) override;
  void mark_mail_sent(int64_t mail_id, int64_t now_us, Callback<void> done) override;
  void reschedule_mail(int64_t mail_id, int attempts, int64_t next_attempt_us,
                       std::string last_error, Callback<void> done) override;

  Result<std::vector<MessageRecord>> load_messages(int64_t chat_id, int64_t before_us,
                                                   int limit) override;
  Result<std::vector<ChatChange>> load_chat_changes(int64_t chat_id, int64_t after_seq,
                                                    int limit) override;
  Result<std::vector<ChatPosition>> chat_positions(const std::vector<int64_t>& chat_ids) override;
  Result<std::vector<ChatSummary>> chat_summaries(int64_t user_id,
                                                  const std::vector<int64_t>& chat_ids,
                                                  int unread_cap) override;
  Result<std::vector<MessageRecord>> search_messages(const MessageSearch& search) override;
  Result<std::optional<TokenRecord>> find_token(const std::string& token_hash,
                                                int64_t now_us) override;
  Result<std::optional<UserRecord>> find_user(int64_t id) override;
  Result<std::vector<TokenRecord>> live_tokens_of(int64_t user_id, int64_t now_us) override;
  Result<std::vector<int64_t>> blocked_by(int64_t blocker_id) override;
  Result<std::optional<UserRecord>> find_user_by_name(const std::string& name) override;
  Result<std::optional<UserRecord>> find_user_by_email(const std::string& email) override;
  Result<std::optional<PendingRegistration>> find_pending(const std::string& email) override;
  Result<std::unique_ptr<MailClaim>> claim_due_mail(int64_t now_us, int limit) override;
  Result<std::optional<int64_t>> next_mail_due() override;
  Result<int64_t> unsent_mail_count() override;

  void flush() override;
  void close() override;

  uint64_t write_failures() const override { return write_health_.failures(); }
  uint64_t read_failures() const override { return read_health_.failures(); }
  bool can_write() const override { return writer_pid_.load() != 0; }

  // Deletes, through the writer like any write, at most options.prune_batch rows of each kind
  // that expired at now_us. The timer calls it; tests call it directly.
  void prune(int64_t now_us, Callback<PostgresPruneCounts> done);
  uint64_t prunes() const { return prunes_.load(); }
  // Statistics: transactions committed, writes they carried, in-doubt batches settled.
  uint64_t commits() const { return commits_.load(); }
  uint64_t writes() const { return writes_.load(); }
  uint64_t settled_in_doubt() const { return settled_.load(); }
  // Message sends that went in a statement with others (rwd_store_messages).
  uint64_t combined_sends() const { return combined_sends_.load(); }
  // Batches the commit window held open for more writes.
  uint64_t commit_windows_held() const { return windows_held_.load(); }
  // The server process of the writer's connection (0 when it has none), so that a test can
  // end it with pg_terminate_backend.
  int writer_backend_pid_for_test() const { return writer_pid_.load(); }
  // The next batch is sent whole and its connection then treated as lost before any answer
  // is read: the batch is in doubt, as when the network fails with a COMMIT in flight.
  void lose_connection_after_next_send_for_test() { lose_connection_for_test_.store(true); }
  // Schema version after migrations (max of schema_migrations).
  int schema_version();

 private:
  struct Write {
    const char* statement = nullptr;  // a prepared statement (see prepare_statements)
    std::vector<std::string> params;  // text; never NULL
    bool needs_result = false;        // the callback needs the statement's row
    // The row is also stored in the transaction (write_results), so that a batch found
    // committed after a lost connection still answers with it. Every decision keeps it.
    bool keep_result = false;
    // A read that gives the statement's row again once the write is known to have committed
    // (a batch in doubt settled as committed), for writes whose row is not kept: a message's
    // seq. Neither kept nor reread: the row is lost with the connection.
    const char* reread = nullptr;
    std::vector<std::string> reread_params;
    int64_t chat_id = 0;  // the chat whose seq the write takes, locked first (0: none)
    // A message's send (put_message): consecutive sends of a batch go as one statement.
    bool send = false;
    // Sent as its own statement: a combined send it was part of failed, and this tells
    // which of its messages broke the rule.
    bool alone = false;
    int sends = 0;  // transactions this write was sent in
    // Receives the statement's row (an empty Row for a statement without one) or the error.
    std::function<void(Result<postgres::Row>)> finish;
  };
  // The statement of a batch that carries writes first .. first + count - 1: one write, or
  // consecutive message sends together.
  struct BatchStatement {
    size_t first = 0;
    size_t count = 1;
  };
  struct Outcome {
    Write write;
    Result<postgres::Row> result;
  };
  // A batch whose COMMIT was in flight when the connection was lost.
  struct InDoubt {
    std::string marker;
    std::vector<Write> writes;
    Error cause;
  };

  PostgresStore(std::string url, PostgresOptions options);
  Status start();
  // chat_id: the chat whose seq the write takes (0: none).
  template <typename T, typename Parse>
  void submit(const char* statement, std::vector<std::string> params, bool needs_result,
              Parse parse, Callback<T> done, int64_t chat_id = 0);
  void enqueue(Write w);
  Write make_prune(int64_t now_us, Callback<PostgresPruneCounts> done);
  void maybe_queue_prune_locked();

  void writer_loop();
  // The commit window (options_.commit_delay_us); called with mu_ held and a write queued.
  void hold_batch_open(std::unique_lock<std::mutex>& lock);
  // Connects the writer (blocking, on the writer thread), settles a batch in doubt, prepares
  // the statements and enters pipeline mode. False when the server is still unreachable.
  // The writes of a settled batch that did not commit are left in `resend` (in submission
  // order) for the caller to queue before anything newer.
  bool connect_writer(std::vector<Write>& resend);
  // What the writes of a committed batch stored (kept_sql in the .cc), by their position.
  static Result<std::map<size_t, Result<postgres::Row>>> read_stored_results(
      PGconn* c, const std::string& marker);
  void disconnect_writer();
  // The writer has nothing to send: notices a connection the server closed meanwhile and
  // drops it, so that can_write() says so and the writer reconnects.
  void check_idle_connection();
  // Sends one batch and reads its answers; hands what it decided to the completion thread or
  // back to the queue.
  void run_batch(std::vector<Write> batch);
  // Waits until the writer's socket is readable (and flushes what is unsent); false when the
  // connection failed or timed out.
  bool wait_socket(std::chrono::steady_clock::time_point deadline);
  // The next result of the pipeline, or null when the connection failed.
  postgres::ResultPtr next_result(std::chrono::steady_clock::time_point deadline, bool* failed);
  void requeue_front(std::vector<Write> writes);
  static Result<postgres::Row> reread(PGconn* c, const Write& w);
  void complete(std::vector<Outcome> outcomes);
  void fail_all(std::vector<Write> writes, const Error& e);
  void completion_loop();

  Result<postgres::ConnPtr> borrow_reader();
  void return_reader(postgres::ConnPtr conn);
  // Runs a read query with parameters on a pooled connection; a connection found broken is
  // replaced once.
  Result<postgres::ResultPtr> read(const char* sql, const std::vector<std::string>& params);
  Error read_failed(Error e);
  // The user one row of users (id, name, email, password_hash, profile, created_us) that
  // `sql` with `param` selects, if any.
  Result<std::optional<UserRecord>> read_user(const char* sql, std::string param);

  const std::string url_;
  const PostgresOptions options_;
  SystemClock system_clock_;
  const Clock& clock_;
  StorageHealth write_health_;  // fed by the writer thread
  StorageHealth read_health_;   // fed by reading threads

  // Writer thread only.
  postgres::ConnPtr writer_conn_;
  std::optional<InDoubt> in_doubt_;
  int64_t reconnect_delay_us_ = 0;
  std::string connect_error_ = "not connected";  // why the last connection attempt failed
  std::chrono::steady_clock::time_point next_connect_;
  std::chrono::steady_clock::time_point next_idle_check_;
  bool lost_while_idle_ = false;  // logs the reconnection that follows
  std::atomic<int> writer_pid_{0};

  std::mutex mu_;
  std::condition_variable cv_;                        // writer waits for work
  std::condition_variable idle_cv_;                   // flush() waits for an empty, idle writer
  std::deque<Write> queue_;                           // guarded by mu_
  bool writer_busy_ = false;                          // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  bool closed_ = false;                               // guarded by mu_
  std::chrono::steady_clock::time_point next_prune_;  // guarded by mu_
  // The writer holds a batch open (the commit window): a new write need not wake it.
  bool holding_batch_ = false;  // guarded by mu_
  CommitWindow window_;         // guarded by mu_
  std::thread writer_;

  static constexpr size_t kMaxCompletedBatches = 64;  // then the writer waits
  static constexpr int64_t kSlowBatchMs = 200;        // a commit slower than this is logged
  std::chrono::steady_clock::time_point next_slow_batch_log_{};  // writer thread
  std::condition_variable completed_cv_;
  std::condition_variable completed_room_;
  std::deque<std::vector<Outcome>> completed_;  // guarded by mu_
  bool completing_ = false;                     // guarded by mu_
  bool completion_stopping_ = false;            // guarded by mu_
  std::thread completion_;

  std::mutex readers_mu_;
  std::vector<postgres::ConnPtr> readers_;  // guarded by readers_mu_

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> prunes_{0};
  std::atomic<uint64_t> settled_{0};
  std::atomic<uint64_t> combined_sends_{0};
  std::atomic<uint64_t> windows_held_{0};
  std::atomic<bool> lose_connection_for_test_{false};
};

}  // namespace rwd::store
