#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "store/commit_window.h"
#include "store/sqlite/wal_checkpoint_policy.h"
#include "store/storage_health.h"
#include "store/store.h"

struct sqlite3;

namespace rwd::store {

class Connection;

struct SqliteOptions {
  const Clock* clock = nullptr;  // the system clock when null
  // Storage failures are logged at most once per this interval while they last.
  int64_t failure_log_interval_us = 10'000'000;
  StorageHealth::Sink failure_log;  // tests; empty: spdlog

  // Pruning: every interval the writer deletes, in bounded batches, tokens past their expiry
  // or revoked, pending registrations past their expiry and mail sent more than
  // sent_mail_retention_us ago (kept that long for diagnosis). 0: no timer (prune() still
  // works).
  int64_t prune_interval_us = 60'000'000;
  int64_t sent_mail_retention_us = int64_t{7} * 24 * 3600 * 1'000'000;
  int prune_batch = 500;  // rows per table per transaction

  // The commit window's bound (CommitWindow): when writes keep coming, the writer holds a
  // batch smaller than its bound for about two more writes, never longer than this, so one
  // fdatasync serves several. 0: commit what is waiting at once.
  int64_t commit_delay_us = 0;

  // The WAL is copied back into the database file (a checkpoint) by a thread of its own once
  // it holds this many pages, so that no commit waits for that copy and its sync; a commit
  // copies at most the few pages committed during the thread's last run (an eighth of this),
  // unless the WAL outgrows four times this (WalCheckpointPolicy).
  int checkpoint_pages = 4000;
};

// Rows one prune() deleted.
struct PruneCounts {
  int64_t expired_tokens = 0;
  int64_t revoked_tokens = 0;
  int64_t registrations = 0;
  int64_t sent_mail = 0;
  bool any_batch_full = false;  // more may be left: prune again soon
};

// The SQLite store: one file in WAL mode, synchronous=FULL (a commit is on disk before it
// is acknowledged: it survives a process crash and a power loss). One writer thread owns
// the write connection and groups every write queued while the previous commit was
// syncing into the next transaction (up to kMaxBatch), so the cost of a sync is shared.
// Reads use a small pool of read-only connections and never wait for the writer. Write
// callbacks run in commit order on a completion thread ("db-done"), or on the writer itself
// when no write waits (one thread hand-off less at a moderate rate).
//
// Decisions (store.h) run on the writer inside the batch's transaction, reading the rows
// the writes before them left, committed or not; a decision that changes several rows runs
// in a savepoint, so a rule broken or a statement failed undoes that write alone.
//
// Failures the environment causes (SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_BUSY,
// SQLITE_LOCKED, SQLITE_NOMEM, SQLITE_READONLY, SQLITE_PROTOCOL) reach callers as
// kStorageUnavailable with no detail (retrying later can succeed); their cause, SQLite's text
// and code, goes to the log, rate-limited, and they are counted (write_failures(),
// read_failures()). Every other failure is kInternal.
class SqliteStore final : public Store {
 public:
  static constexpr size_t kMaxBatch = 512;

  // Opens (creating when needed) `path`, applies migrations and starts the writer thread.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   SqliteOptions options = {});
  ~SqliteStore() override;  // drains the writer queue, then closes every connection

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

  // Stops the writer after draining its queue; later writes fail with kStorageUnavailable.
  void close() override;

  // Schema version after migrations (PRAGMA user_version).
  int schema_version();
  // PRAGMA integrity_check == "ok".
  bool integrity_ok();
  // Makes the next commit of a client's writes fail (it is rolled back): a failed commit is
  // never acknowledged. The store's own upkeep (an index step, which may commit first) is
  // left alone.
  void fail_next_commit_for_test() { fail_next_commit_.store(true); }
  // While paused the writer starts no transaction, so the writes queued meanwhile share the
  // next batch once resumed (up to kMaxBatch). Do not flush() while paused.
  void pause_writer_for_test();
  void resume_writer_for_test();
  // Statistics for benchmarks: transactions committed and writes they carried.
  uint64_t commits() const { return commits_.load(); }
  uint64_t writes() const { return writes_.load(); }
  // Batches the commit window held open for more writes.
  uint64_t commit_windows_held() const { return windows_held_.load(); }
  // Checkpoints the checkpoint thread ran (SqliteOptions::checkpoint_pages).
  uint64_t checkpoints() const { return checkpoints_.load(); }
  // Checkpoints the writer ran inside a commit (WalCheckpointPolicy says when).
  uint64_t checkpoints_in_commit() const { return checkpoints_in_commit_.load(); }
  // Deletes, through the writer like any write, at most options.prune_batch rows of each kind
  // that expired at now_us (see SqliteOptions). The timer calls it; tests call it directly.
  void prune(int64_t now_us, Callback<PruneCounts> done);
  // Prunes run by the timer so far.
  uint64_t prunes() const { return prunes_.load(); }

  // Writes and reads refused by the environment since start-up (any thread; for metrics).
  uint64_t write_failures() const override { return write_health_.failures(); }
  uint64_t read_failures() const override { return read_health_.failures(); }
  // A prune is a write too: every --prune-interval one commits (or fails) even when no client
  // writes, so the answer follows the disk without traffic.
  bool can_write() const override { return !write_health_.failing(); }
  // Caps the database file at `pages` pages (PRAGMA max_page_count, for this connection): a
  // write that needs more fails with SQLITE_FULL, as on a full disk. Acknowledged when set.
  void set_max_page_count_for_test(int64_t pages, Callback<void> done);
  // PRAGMA page_count of the database file.
  int64_t page_count();

 private:
  struct Write {
    std::function<Status(Connection&)> apply;  // runs inside the transaction
    // A write of several statements runs inside a savepoint so that it fails whole; a single
    // statement is atomic by itself and skips the two extra statements.
    bool multi_statement = false;
    // The store's own upkeep (an index step), which no client waits for: alone in the queue,
    // it never holds the commit window open, and the window does not count it as traffic.
    bool background = false;
    // `batch_error` is why the transaction did not commit (when it did not).
    std::function<void(bool committed, const Error* batch_error)> finish;
  };

  SqliteStore(std::string path, SqliteOptions options);
  Status start();
  enum class Shape { kOneStatement, kManyStatements };
  template <typename T, typename Body>
  Write make_write(Shape shape, Body body, Callback<T> done);
  template <typename T, typename Body>
  void submit(Shape shape, Body body, Callback<T> done);
  // Queues w for the writer; when the store is closed, fails it at once.
  void enqueue(Write w);
  Write make_prune(int64_t now_us, Callback<PruneCounts> done);
  // With mu_ held, on the writer thread: queues a prune when the timer is due.
  void maybe_queue_prune_locked();
  // The search index (migration 14): a write that indexes the next `limit` messages not yet
  // indexed, in id order (the writer's commit order), and moves search_progress. `counted`:
  // the messages counted as waiting when it was queued.
  Write make_index_step(int64_t limit, int64_t counted);
  // With mu_ held, on the writer thread: queues an index step when one is due (a search asks;
  // a full step waits; or messages have waited kIndexInterval). Returns when the next one is
  // due by time alone (time_point::max(): none waits).
  std::chrono::steady_clock::time_point maybe_queue_index_locked();
  // On a reading thread, before a search: has the writer index up to the newest message
  // committed now (waits at most 2 s; a search then finds every message committed before
  // it was asked).
  void catch_up_search_index(Connection& reader);
  void writer_loop();
  // The commit window (SqliteOptions::commit_delay_us); called with mu_ held and a write queued.
  void hold_batch_open(std::unique_lock<std::mutex>& lock);
  // SQLite's WAL hook on the writer's connection, after each commit: wakes the checkpoint
  // thread once the WAL holds options_.checkpoint_pages pages, or copies the rest itself
  // (WalCheckpointPolicy).
  static int wal_committed(void* store, sqlite3* db, const char* schema, int pages);
  void checkpoint_loop();
  Result<std::unique_ptr<Connection>> borrow_reader();
  void return_reader(std::unique_ptr<Connection> conn);
  // The user `sql` (a literal selecting a user's columns, with one parameter bound to key)
  // finds, if any.
  Result<std::optional<UserRecord>> find_user_where(const char* sql, const std::string& key);
  // Counts and logs a read the environment refused; returns what the caller gets.
  Error read_failed(Error e);

  const std::string path_;
  const SqliteOptions options_;
  SystemClock system_clock_;
  const Clock& clock_;
  StorageHealth write_health_;  // fed by the writer thread
  StorageHealth read_health_;   // fed by reading threads
  std::unique_ptr<Connection> writer_conn_;

  std::mutex mu_;
  std::condition_variable cv_;       // writer waits for work
  std::condition_variable idle_cv_;  // flush() waits for an empty, idle writer
  std::deque<Write> queue_;          // guarded by mu_
  bool writer_busy_ = false;         // guarded by mu_
  bool stopping_ = false;            // guarded by mu_
  bool paused_for_test_ = false;     // guarded by mu_
  // The writer holds a batch open (the commit window): a new write need not wake it.
  bool holding_batch_ = false;                        // guarded by mu_
  CommitWindow window_;                               // guarded by mu_
  std::chrono::steady_clock::time_point next_prune_;  // guarded by mu_
  // The search index: messages stored and not yet indexed (about: a failed send counts until
  // a step finds nothing), whether a step is queued, whether a search waits for one, and the
  // steps committed so far (index_cv_ tells the waiting searches).
  std::atomic<int64_t> unindexed_{0};
  bool index_queued_ = false;                         // guarded by mu_
  bool index_wanted_ = false;                         // guarded by mu_
  uint64_t index_steps_ = 0;                          // guarded by mu_
  std::chrono::steady_clock::time_point next_index_;  // guarded by mu_
  std::condition_variable index_cv_;
  std::thread writer_;

  // Committed batches wait here for the completion thread, which runs their callbacks in
  // commit order, so the writer can start the next transaction at once instead of also
  // delivering what the last one acknowledged.
  struct Completed {
    std::vector<Write> writes;
    bool committed;
    std::optional<Error> error;  // why it did not commit
  };
  static constexpr size_t kMaxCompletedBatches = 64;  // then the writer waits
  void completion_loop();
  // Runs a committed batch's callbacks on the writer (see writer_loop), handing the rest to
  // the completion thread when writes come meanwhile.
  void finish_on_writer(std::vector<Write>& batch, bool committed,
                        const std::optional<Error>& batch_error,
                        std::unique_lock<std::mutex>& lock);
  std::condition_variable completed_cv_;    // completion thread waits for batches
  std::condition_variable completed_room_;  // writer waits for room
  std::deque<Completed> completed_;         // guarded by mu_
  bool completing_ = false;           // callbacks are running (on either thread); guarded by mu_
  bool completion_stopping_ = false;  // guarded by mu_
  std::thread completion_;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> readers_;  // guarded by readers_mu_

  // The checkpoint thread and its own connection (a checkpoint in the writer's commit would
  // hold every acknowledgement behind the copy and the database file's sync).
  std::unique_ptr<Connection> checkpoint_conn_;                    // checkpoint thread only
  std::chrono::steady_clock::time_point next_checkpoint_warning_;  // checkpoint thread only
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_due_ = false;                // guarded by checkpoint_mu_
  bool checkpoint_stopping_ = false;           // guarded by checkpoint_mu_
  std::atomic<bool> checkpoint_asked_{false};  // the writer's hook asks once per checkpoint
  WalCheckpointPolicy checkpoint_policy_;      // who copies the WAL back, and when
  std::thread checkpointer_;

  std::atomic<bool> fail_next_commit_{false};
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> windows_held_{0};
  std::atomic<uint64_t> prunes_{0};
  std::atomic<uint64_t> checkpoints_{0};
  std::atomic<uint64_t> checkpoints_in_commit_{0};
};

}  // namespace rwd::store
