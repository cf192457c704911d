#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "base/crypto.h"
#include "metrics/counters.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/migrations.h"

namespace rwd::store {
namespace {

namespace fs = std::filesystem;

template <typename T>
Result<T> wait(std::function<void(Callback<T>)> call) {
  std::promise<Result<T>> p;
  call([&p](Result<T> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

// Time by hand; read by the store's writer thread.
class ManualClock final : public Clock {
 public:
  int64_t now_us() const override { return now_.load(); }
  void set(int64_t us) { now_.store(us); }

 private:
  std::atomic<int64_t> now_{1000};
};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rewind-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void reopen(SqliteOptions options = {}) {
    store_.reset();
    auto s = SqliteStore::open((dir_ / "rewind.db").string(), std::move(options));
    ASSERT_TRUE(s.ok()) << s.error().detail;
    store_ = std::move(s.value());
  }

  // Creates a user through the real registration path.
  int64_t make_user(const std::string& name, int64_t id) {
    PendingRegistration reg{
        name + "@example.test", name, "hash", crypto::sha256_hex("key-" + name), 1000,
        1'000'000'000'000'000};
    EXPECT_TRUE((wait<void>([&](Callback<void> cb) {
                   store_->put_registration(reg, OutboxMail{0, reg.email, "s", "b", 0, 0}, cb);
                 }).ok()));
    auto u = wait<UserRecord>([&](Callback<UserRecord> cb) {
      store_->verify_registration(crypto::sha256_hex("key-" + name), 2000, id, cb);
    });
    EXPECT_TRUE(u.ok());
    return id;
  }

  int64_t befriend(int64_t a, int64_t b, int64_t chat_id) {
    auto asked = wait<FriendRequestOutcome>([&](Callback<FriendRequestOutcome> cb) {
      store_->request_friend(a, b, chat_id, 3000, cb);
    });
    EXPECT_TRUE(asked.ok());
    auto r = wait<int64_t>(
        [&](Callback<int64_t> cb) { store_->accept_friend(b, a, chat_id, 3000, cb); });
    EXPECT_TRUE(r.ok());
    return r.value();
  }

  Status put_message(int64_t id, int64_t chat, int64_t author, const std::string& text,
                     int64_t at) {
    auto seq = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
      store_->put_message(MessageRecord{id, chat, author, text, at, false, std::nullopt}, cb);
    });
    if (!seq.ok()) return seq.error();
    return {};
  }

  // Rows of `table`, read on a connection of the test's own.
  int64_t rows(const std::string& table) {
    auto c = Connection::open((dir_ / "rewind.db").string(), true);
    EXPECT_TRUE(c.ok());
    sql_ = "SELECT COUNT(*) FROM " + table;
    auto q = c.value()->query(sql_.c_str());
    return q.step() ? q.int64(0) : -1;
  }

  Status put_token(const std::string& hash, int64_t user, int64_t expires_us) {
    return wait<void>([&](Callback<void> cb) {
      store_->put_token(TokenRecord{hash, user, 0, expires_us}, cb);
    });
  }

  // Alice (101) and Bob (102), friends, then the store reopened with a commit window of
  // `delay_us`; returns their chat.
  int64_t chat_with_window(int64_t delay_us) {
    int64_t chat = befriend(make_user("alice", 101), make_user("bob", 102), 500);
    SqliteOptions options;
    options.commit_delay_us = delay_us;
    reopen(options);
    return chat;
  }

  PruneCounts prune(int64_t now_us) {
    auto r = wait<PruneCounts>([&](Callback<PruneCounts> cb) { store_->prune(now_us, cb); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? r.value() : PruneCounts{};
  }

  fs::path dir_;
  std::unique_ptr<SqliteStore> store_;
  std::string sql_;
};

TEST_F(SqliteStoreTest, OpenAppliesEveryMigrationOnceAndReopensCleanly) {
  EXPECT_EQ(store_->schema_version(), latest_schema_version());
  reopen();
  EXPECT_EQ(store_->schema_version(), latest_schema_version());
  EXPECT_TRUE(store_->integrity_ok());
}

// SQLite keeps no memory statistics in the server's process: they would put each of its
// allocations behind one process-wide mutex, and nothing reads them.
TEST_F(SqliteStoreTest, SqliteKeepsNoMemoryStatistics) {
  ASSERT_TRUE(apply_sqlite_process_settings());
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  ASSERT_TRUE(put_message(1, befriend(a, b, 500), a, "counted?", 10).ok());
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

// A database of schema version 4 (before the chat sequence) with messages: the migration
// gives them seqs in id order per chat, and each chat's last_seq their count, so that the
// changes after it continue the sequence.
TEST_F(SqliteStoreTest, TheChatSequenceMigrationNumbersExistingMessagesInIdOrder) {
  store_.reset();
  const std::string path = (dir_ / "old.db").string();
  {
    auto c = Connection::open(path, false);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(migrate(*c.value(), 4).ok());
    ASSERT_TRUE(c.value()
                    ->exec(R"sql(
INSERT INTO users (id, name, name_lower, name_skeleton, email, email_lower, password_hash,
                   created_us)
VALUES (1, 'ann', 'ann', 'ann', 'ann@x.test', 'ann@x.test', 'h', 1),
       (2, 'bob', 'bob', 'bob', 'bob@x.test', 'bob@x.test', 'h', 1),
       (3, 'cat', 'cat', 'cat', 'cat@x.test', 'cat@x.test', 'h', 1);
INSERT INTO chats (id, kind, user_lo, user_hi, created_us)
VALUES (500, 0, 1, 2, 1), (600, 0, 1, 3, 1), (700, 1, NULL, NULL, 1);
INSERT INTO messages (id, chat_id, author_id, content, created_us) VALUES
  (30, 500, 1, 'third', 3), (10, 500, 2, 'first', 1), (20, 500, 1, 'second', 2);
INSERT INTO messages (id, chat_id, author_id, content, created_us, edited_us) VALUES
  (15, 600, 3, 'edited before', 1, 5);
)sql")
                    .ok());
  }
  auto opened = SqliteStore::open(path);
  ASSERT_TRUE(opened.ok()) << opened.error().detail;
  store_ = std::move(opened.value());
  EXPECT_EQ(store_->schema_version(), latest_schema_version());
  auto changes = store_->load_chat_changes(500, 0, 10);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*changes)[i].message.seq, i + 1);
    EXPECT_EQ((*changes)[i].message.id, (i + 1) * 10);
    EXPECT_EQ((*changes)[i].kind, ChangeKind::kSend);
  }
  auto positions = store_->chat_positions({500, 600, 700});
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 3u);
  EXPECT_EQ(positions->at(0).last_seq, 3);
  EXPECT_EQ(positions->at(1).last_seq, 1);
  EXPECT_EQ(positions->at(2).last_seq, 0);
  // The sequence goes on from there.
  auto seq = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
    store_->put_message(MessageRecord{40, 500, 2, "fourth", 4, false, std::nullopt}, cb);
  });
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(seq->seq, 4);
  auto edited = wait<MessageRecord>(
      [&](Callback<MessageRecord> cb) { store_->edit_message(600, 15, 3, "again", 9, cb); });
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->seq, 2);
  auto chat600 = store_->load_chat_changes(600, 0, 10);
  ASSERT_TRUE(chat600.ok());
  ASSERT_EQ(chat600->size(), 2u);
  EXPECT_EQ(chat600->at(0).message.content, "edited before");
  EXPECT_EQ(chat600->at(1).message.content, "again");
  EXPECT_TRUE(store_->integrity_ok());
}

TEST_F(SqliteStoreTest, AcknowledgedWritesSurviveReopen) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  ASSERT_TRUE(put_message(1, chat, a, "hello", 10).ok());
  reopen();
  auto snap = store_->load_directory(0);
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->users.size(), 2u);
  EXPECT_EQ(snap->friendships.size(), 1u);
  ASSERT_EQ(snap->dm_chats.size(), 1u);
  EXPECT_EQ(snap->dm_chats[0].chat_id, 500);
  auto msgs = store_->load_messages(chat, 100, 10);
  ASSERT_TRUE(msgs.ok());
  ASSERT_EQ(msgs->size(), 1u);
  EXPECT_EQ(msgs->front().content, "hello");
}

TEST_F(SqliteStoreTest, FailedCommitIsNeverAcknowledged) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  store_->fail_next_commit_for_test();
  EXPECT_FALSE(put_message(1, chat, a, "lost", 10).ok());
  EXPECT_TRUE(store_->load_messages(chat, 100, 10)->empty());
  EXPECT_TRUE(put_message(2, chat, a, "kept", 11).ok());
  EXPECT_EQ(store_->load_messages(chat, 100, 10)->size(), 1u);
}

TEST_F(SqliteStoreTest, WritesRefusedForSpaceFailAsStorageUnavailableAreLoggedOnceAndRecover) {
  std::mutex mu;
  std::vector<std::pair<bool, std::string>> lines;
  SqliteOptions options;
  options.failure_log = [&](bool is_error, const std::string& line) {
    std::lock_guard lock(mu);
    lines.emplace_back(is_error, line);
  };
  reopen(std::move(options));
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  ASSERT_TRUE(put_message(1, chat, a, "before", 10).ok());
  EXPECT_TRUE(store_->can_write());
  auto cap = [&](int64_t pages) {
    return wait<void>([&](Callback<void> cb) { store_->set_max_page_count_for_test(pages, cb); });
  };
  // The file may not grow any more: the next write that needs a page fails with SQLITE_FULL.
  ASSERT_TRUE(cap(store_->page_count()).ok());
  const std::string big(64 * 1024, 'x');
  for (int i = 0; i < 5; ++i) {
    Status s = put_message(10 + i, chat, a, big, 20 + i);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::kStorageUnavailable);
    EXPECT_EQ(s.error().detail, "");  // SQLite's words go to the log, not to clients
  }
  EXPECT_EQ(store_->write_failures(), 5u);
  EXPECT_FALSE(store_->can_write());  // readiness: not until a write commits again
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(lines.size(), 1u);  // one line for the five (within the 10 s interval)
    EXPECT_TRUE(lines[0].first);
    EXPECT_NE(lines[0].second.find("SQLITE_FULL"), std::string::npos) << lines[0].second;
    EXPECT_NE(lines[0].second.find("storing a message"), std::string::npos) << lines[0].second;
  }
  // Space returns: the next commit ends the outage (lifting the cap is itself a write, which
  // may be the commit that ends it).
  ASSERT_TRUE(cap(1 << 30).ok());
  ASSERT_TRUE(put_message(20, chat, a, big, 30).ok());
  EXPECT_TRUE(store_->can_write());
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_FALSE(lines[1].first);
    EXPECT_NE(lines[1].second.find("storage writable again after 5 failed writes"),
              std::string::npos)
        << lines[1].second;
  }
  auto msgs = store_->load_messages(chat, 1000, 10);
  ASSERT_TRUE(msgs.ok());
  ASSERT_EQ(msgs->size(), 2u);  // nothing refused was stored
  EXPECT_EQ(msgs->front().content, "before");
  EXPECT_EQ(store_->read_failures(), 0u);
}

TEST_F(SqliteStoreTest, AConstraintFailureIsInternalAndNotAStorageFailure) {
  int64_t a = make_user("alice", 101);
  Status s = put_message(1, 99999, a, "no such chat", 10);  // foreign key
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::kInternal);
  EXPECT_EQ(store_->write_failures(), 0u);
}

TEST_F(SqliteStoreTest, AFailingWriteIsRolledBackAloneInItsBatch) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  std::promise<void> all;
  std::atomic<int> left{3}, ok{0};
  auto cb = [&](Result<StoredMessage> s) {
    ok += s.ok();
    if (--left == 0) all.set_value();
  };
  store_->put_message({1, chat, a, "one", 10, false, std::nullopt}, cb);
  store_->put_message({2, 99999, a, "no such chat", 11, false, std::nullopt},
                      cb);  // foreign key fails
  store_->put_message({3, chat, a, "three", 12, false, std::nullopt}, cb);
  all.get_future().wait();
  EXPECT_EQ(ok.load(), 2);
  EXPECT_EQ(store_->load_messages(chat, 100, 10)->size(), 2u);
}

TEST_F(SqliteStoreTest, ConcurrentWritesShareCommits) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  uint64_t commits_before = store_->commits();
  std::promise<void> all;
  std::atomic<int> left{2000};
  for (int i = 0; i < 2000; ++i)
    store_->put_message({1000 + i, chat, a, "m", 100 + i, false, std::nullopt},
                        [&](Result<StoredMessage> s) {
                          EXPECT_TRUE(s.ok());
                          if (--left == 0) all.set_value();
                        });
  all.get_future().wait();
  uint64_t commits = store_->commits() - commits_before;
  EXPECT_LT(commits, 2000u);  // group commit: many writes per transaction
  EXPECT_GE(commits, 2000u / SqliteStore::kMaxBatch);
}

// Sends n messages, one every `every`, without waiting for the acknowledgements; returns when
// all are acknowledged.
void send_paced(SqliteStore& store, int64_t chat, int64_t author, int64_t first_id, int n,
                std::chrono::milliseconds every = std::chrono::milliseconds(2)) {
  std::promise<void> all;
  std::atomic<int> left{n};
  for (int i = 0; i < n; ++i) {
    store.put_message({first_id + i, chat, author, "m", 100 + i, false, std::nullopt},
                      [&](Result<StoredMessage> s) {
                        EXPECT_TRUE(s.ok());
                        if (--left == 0) all.set_value();
                      });
    std::this_thread::sleep_for(every);
  }
  all.get_future().wait();
}

// Writes that keep coming, one every 2 ms, each alone when it arrives: the commit window
// holds a batch open for the next ones, so several share one commit.
TEST_F(SqliteStoreTest, WritesThatKeepComingShareCommitsThroughTheWindow) {
  int64_t a = 101;
  int64_t chat = chat_with_window(50'000);
  // The first writes teach the window the pace (the time between writes starts at 1 s).
  send_paced(*store_, chat, a, 1000, 60);
  uint64_t commits_before = store_->commits();
  constexpr int kWrites = 100;
  send_paced(*store_, chat, a, 2000, kWrites);
  EXPECT_GT(store_->commit_windows_held(), 0u);
  EXPECT_LE(store_->commits() - commits_before, uint64_t{kWrites} * 6 / 10)
      << "the window grouped nothing";
  EXPECT_EQ(store_->load_messages(chat, 4000, 200)->size(), size_t{60 + kWrites});
}

// The writer runs a batch's callbacks itself when nothing waits; a write that comes while it
// does (here: from the first callback) sends the rest of them to the completion thread, and
// the callbacks still run in commit order.
TEST_F(SqliteStoreTest, CallbacksRunInCommitOrderWhenTheWriterHandsTheRestOver) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  for (int round = 0; round < 20; ++round) {
    std::mutex mu;
    std::vector<int> order;
    std::promise<void> all;
    auto note = [&](int n) {
      std::lock_guard lock(mu);
      order.push_back(n);
      if (order.size() == 3) all.set_value();
    };
    int64_t id = 10'000 + round * 10;
    store_->pause_writer_for_test();
    store_->put_message(
        {id, chat, a, "first", id, false, std::nullopt}, [&, id](Result<StoredMessage> r) {
          EXPECT_TRUE(r.ok());
          note(1);
          store_->put_message({id + 2, chat, a, "third", id + 2, false, std::nullopt},
                              [&](Result<StoredMessage> r3) {
                                EXPECT_TRUE(r3.ok());
                                note(3);
                              });
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        });
    store_->put_message({id + 1, chat, a, "second", id + 1, false, std::nullopt},
                        [&](Result<StoredMessage> r) {
                          EXPECT_TRUE(r.ok());
                          note(2);
                        });
    store_->resume_writer_for_test();
    all.get_future().wait();
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3})) << "round " << round;
  }
}

// A write after a spell longer than the window is committed at once, and so is the next
// one sent on its acknowledgement while writes stay rarer than one per window: an occasional
// message, or a user's few steps in a row, never waits for company.
TEST_F(SqliteStoreTest, AWriteAfterAQuietSpellIsNotHeldByTheWindow) {
  int64_t a = 101;
  int64_t chat = chat_with_window(20'000);
  send_paced(*store_, chat, a, 1000, 60);
  uint64_t held = store_->commit_windows_held();
  EXPECT_GT(held, 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(put_message(1, chat, a, "after a pause", 10).ok());
  EXPECT_EQ(store_->commit_windows_held(), held);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE(put_message(2, chat, a, "first step", 11).ok());
  ASSERT_TRUE(put_message(3, chat, a, "second step", 12).ok());
  EXPECT_EQ(store_->commit_windows_held(), held);
}

// SQLite's automatic checkpoint (every 1,000 pages, inside the commit that crosses them) is
// off: with the checkpoint thread's threshold out of reach, the WAL grows past 1,000 pages and
// nobody copies it back.
TEST_F(SqliteStoreTest, TheAutomaticCheckpointIsOff) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  SqliteOptions options;
  options.checkpoint_pages = 1'000'000;
  reopen(options);
  const std::string long_text(3000, 'x');  // about a page per message
  for (int i = 0; i < 1500; ++i)
    ASSERT_TRUE(put_message(10'000 + i, chat, a, long_text, 100 + i).ok());
  EXPECT_GT(fs::file_size(dir_ / "rewind.db-wal"), uintmax_t{1200} * 4096);
  EXPECT_EQ(store_->checkpoints() + store_->checkpoints_in_commit(), 0u);
}

// The search index is written in steps after the sends (migration 14): a search finds every
// message committed before it, a store reopened indexes what it had not indexed yet, edits
// and deletions of indexed and not yet indexed messages keep the index whole, and a message
// stored with an id the index has passed (a clock set back across a restart) is indexed too.
TEST_F(SqliteStoreTest, SearchFindsEveryCommittedMessageAcrossIndexSteps) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  auto found = [&](const std::string& word) {
    auto r = store_->search_messages({{word}, {chat}, 0, 2000});
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->size() : 0;
  };
  auto edit = [&](int64_t id, const std::string& text) {
    return wait<MessageRecord>([&](Callback<MessageRecord> cb) {
             store_->edit_message(chat, id, a, text, 9000, cb);
           })
        .ok();
  };
  for (int i = 0; i < 1200; ++i)  // several steps' worth
    ASSERT_TRUE(put_message(10'000 + i, chat, a, "word" + std::to_string(i % 3), 100 + i).ok());
  EXPECT_EQ(found("word0"), 400u);
  EXPECT_EQ(found("word"), 1200u);
  ASSERT_TRUE(edit(10'000, "changed"));  // indexed
  ASSERT_TRUE(edit(10'001, ""));
  for (int i = 0; i < 300; ++i)
    ASSERT_TRUE(put_message(20'000 + i, chat, b, "late", 5000 + i).ok());
  ASSERT_TRUE(put_message(5'000, chat, a, "early bird", 50).ok());  // below the progress
  store_->flush();
  reopen();  // what the writer had not indexed yet is indexed after the start, unasked
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (rows("message_search_docsize") < 1501 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(rows("message_search_docsize"), 1200 + 300 + 1);  // one row per indexed message
  EXPECT_EQ(found("late"), 300u);
  EXPECT_EQ(found("word2"), 400u);
  EXPECT_EQ(found("word0"), 399u);
  EXPECT_EQ(found("changed"), 1u);
  EXPECT_EQ(found("early"), 1u);
  ASSERT_TRUE(edit(5'000, "late bird"));
  EXPECT_EQ(found("late"), 301u);
  EXPECT_EQ(found("early"), 0u);
  // FTS5's own check of an external-content index against its table.
  auto c = Connection::open((dir_ / "rewind.db").string(), false);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c.value()
                  ->exec("INSERT INTO message_search (message_search) VALUES ('integrity-check')")
                  .ok())
      << c.value()->last_error();
}

// FTS5's automatic merge is off (migration 15): each index step merges a bounded share of
// the segments instead. Ten steps of 200 messages would leave ten segments unmerged (FTS5's
// emergency merge starts at sixteen); merged as they come, a few remain.
TEST_F(SqliteStoreTest, TheSearchIndexStepsMergeTheSegmentsTheyWrite) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  for (int i = 0; i < 2000; ++i)  // ten steps' worth: a step takes 200
    ASSERT_TRUE(put_message(10'000 + i, chat, a, "word" + std::to_string(i % 7), 100 + i).ok());
  auto r = store_->search_messages({{"word3"}, {chat}, 0, 2000});  // every step has run after it
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 286u);  // i % 7 == 3 for i < 2000
  auto c = Connection::open((dir_ / "rewind.db").string(), true);
  ASSERT_TRUE(c.ok());
  {
    auto q = c.value()->query("SELECT v FROM message_search_config WHERE k = 'automerge'");
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.int64(0), 0);
  }
  auto q = c.value()->query("SELECT count(DISTINCT segid) FROM message_search_idx");
  ASSERT_TRUE(q.step());
  EXPECT_GE(q.int64(0), 1);
  EXPECT_LE(q.int64(0), 5);
}

// Past its threshold the checkpoint thread copies the WAL back, the writer copies the few
// pages committed meanwhile and starts the WAL over: it stays small however much is written
// (without the writer's part, 1,500 messages grow it to about 9,000 pages). However the
// threads are scheduled, the writer copies everything at four thresholds (WalCheckpointPolicy's
// tests): the bound below holds either way. The pauses let the thread run, as the quiet
// moments of real traffic do, so that its part is seen too.
TEST_F(SqliteStoreTest, TheCheckpointThreadKeepsTheWalSmall) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  SqliteOptions options;
  options.checkpoint_pages = 100;
  reopen(options);
  const uint64_t checkpoints_counted = metrics::counters().wal_checkpoints_ok.load();
  const std::string long_text(3000, 'x');
  for (int i = 0; i < 1500; ++i) {
    ASSERT_TRUE(put_message(10'000 + i, chat, a, long_text, 100 + i).ok());
    if (i % 100 == 99) std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  EXPECT_GT(store_->checkpoints(), 0u);
  EXPECT_GE(metrics::counters().wal_checkpoints_ok.load() - checkpoints_counted,
            store_->checkpoints());
  // Four thresholds and the batch that crossed them (one message here: a few pages).
  EXPECT_LT(fs::file_size(dir_ / "rewind.db-wal"), uintmax_t{4 * 100 + 20} * (4096 + 24));
  EXPECT_EQ(store_->load_messages(chat, 1'000'000, 2000)->size(), 1500u);
  reopen();
  EXPECT_EQ(store_->load_messages(chat, 1'000'000, 2000)->size(), 1500u);
}

// Closing while the window holds a batch open commits it: nothing queued is lost.
TEST_F(SqliteStoreTest, CloseCommitsWhatTheWindowHolds) {
  int64_t a = 101;
  int64_t chat = chat_with_window(5'000'000);
  // One write every 200 ms: the window (twice the time between writes) is over a second.
  send_paced(*store_, chat, a, 1000, 5, std::chrono::milliseconds(200));
  uint64_t held = store_->commit_windows_held();
  std::promise<Result<StoredMessage>> last;
  store_->put_message({5000, chat, a, "held", 900, false, std::nullopt},
                      [&](Result<StoredMessage> r) { last.set_value(std::move(r)); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (store_->commit_windows_held() == held && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GT(store_->commit_windows_held(), held);
  store_->close();
  auto r = last.get_future().get();
  ASSERT_TRUE(r.ok()) << r.error().detail;
  reopen();
  auto msgs = store_->load_messages(chat, 9000, 100);
  ASSERT_TRUE(msgs.ok());
  ASSERT_EQ(msgs->size(), 6u);
  EXPECT_EQ(msgs->back().content, "held");
}

// A batch the writer finds with three writes in it already is committed at once (writes
// come faster than commits end); one of two is held for more.
TEST_F(SqliteStoreTest, ABatchOfThreeWritesIsNotHeldAndOneOfTwoIs) {
  int64_t a = 101;
  int64_t chat = chat_with_window(5'000'000);
  // One write every 200 ms: the window (twice the time between writes) is over a second.
  send_paced(*store_, chat, a, 1000, 5, std::chrono::milliseconds(200));
  auto batch_of = [&](int64_t first_id, int n) {
    std::atomic<int> left{n};
    std::promise<void> all;
    store_->pause_writer_for_test();
    for (int64_t id = first_id; id < first_id + n; ++id)
      store_->put_message({id, chat, a, "m", id, false, std::nullopt},
                          [&](Result<StoredMessage> r) {
                            EXPECT_TRUE(r.ok()) << r.error().detail;
                            if (--left == 0) all.set_value();
                          });
    store_->resume_writer_for_test();
    ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  };
  // The search index's step for those writes (200 ms after the first) is done before the
  // batches below, so that it is not a third write in the batch of two.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  uint64_t held = store_->commit_windows_held();
  batch_of(5000, 3);
  EXPECT_EQ(store_->commit_windows_held(), held);
  batch_of(6000, 2);
  EXPECT_EQ(store_->commit_windows_held(), held + 1);
}

TEST_F(SqliteStoreTest, HistoryIsNewestBeforeTheCursorOldestFirstWithoutDeleted) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  for (int i = 1; i <= 10; ++i)
    ASSERT_TRUE(put_message(i, chat, a, std::to_string(i), i * 10).ok());
  auto del = wait<MessageRecord>(
      [&](Callback<MessageRecord> cb) { store_->edit_message(chat, 8, a, "", 999, cb); });
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(del->deleted);
  auto page = store_->load_messages(chat, 95, 3);  // before message 10 (t=100)
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].content, "6");
  EXPECT_EQ((*page)[1].content, "7");
  EXPECT_EQ((*page)[2].content, "9");
}

TEST_F(SqliteStoreTest, OnlyTheAuthorEditsALiveMessage) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  ASSERT_TRUE(put_message(1, chat, a, "hi", 10).ok());
  auto by_other = wait<MessageRecord>(
      [&](Callback<MessageRecord> cb) { store_->edit_message(chat, 1, b, "hacked", 20, cb); });
  EXPECT_EQ(by_other.error().code, Errc::kMessageNotFound);
  auto by_author = wait<MessageRecord>(
      [&](Callback<MessageRecord> cb) { store_->edit_message(chat, 1, a, "hello", 20, cb); });
  ASSERT_TRUE(by_author.ok());
  EXPECT_EQ(by_author->content, "hello");
  EXPECT_EQ(by_author->created_us, 10);
  EXPECT_EQ(store_->load_messages(chat, 100, 10)->front().content, "hello");
}

TEST_F(SqliteStoreTest, HistoryKeepsTheTimeOfTheLastEdit) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  ASSERT_TRUE(put_message(1, chat, a, "one", 10).ok());
  ASSERT_TRUE(put_message(2, chat, a, "two", 11).ok());
  auto edit = [&](int64_t now) {
    return wait<MessageRecord>(
        [&](Callback<MessageRecord> cb) { store_->edit_message(chat, 1, a, "uno", now, cb); });
  };
  auto first = edit(20);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->edited_us, std::optional<int64_t>(20));
  ASSERT_TRUE(edit(30).ok());
  auto page = store_->load_messages(chat, 100, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].edited_us, std::optional<int64_t>(30));
  EXPECT_EQ((*page)[1].edited_us, std::nullopt);  // never edited
}

TEST_F(SqliteStoreTest, VerificationConsumesTheKeyOnceAndHonoursExpiry) {
  PendingRegistration reg{"Eve@Example.test", "eve", "h", crypto::sha256_hex("k1"), 0, 5000};
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->put_registration(reg, OutboxMail{0, reg.email, "s", "b", 0, 0}, cb);
               }).ok()));
  auto pending = store_->find_pending("eve@example.TEST");
  ASSERT_TRUE(pending.ok() && pending.value());
  auto expired = wait<UserRecord>([&](Callback<UserRecord> cb) {
    store_->verify_registration(crypto::sha256_hex("k1"), 6000, 1, cb);
  });
  EXPECT_EQ(expired.error().code, Errc::kLinkInvalid);
  auto ok = wait<UserRecord>([&](Callback<UserRecord> cb) {
    store_->verify_registration(crypto::sha256_hex("k1"), 4000, 1, cb);
  });
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "eve");
  auto again = wait<UserRecord>([&](Callback<UserRecord> cb) {
    store_->verify_registration(crypto::sha256_hex("k1"), 4000, 2, cb);
  });
  EXPECT_EQ(again.error().code, Errc::kLinkInvalid);
}

TEST_F(SqliteStoreTest, ReRegisteringReplacesTheKey) {
  for (const char* key : {"old", "new"}) {
    PendingRegistration reg{"x@example.test", "xx", "h", crypto::sha256_hex(key), 0, 1 << 30};
    ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                   store_->put_registration(reg, OutboxMail{0, reg.email, "s", "b", 0, 0}, cb);
                 }).ok()));
  }
  auto old_key = wait<UserRecord>([&](Callback<UserRecord> cb) {
    store_->verify_registration(crypto::sha256_hex("old"), 10, 1, cb);
  });
  EXPECT_EQ(old_key.error().code, Errc::kLinkInvalid);
  EXPECT_TRUE((wait<UserRecord>([&](Callback<UserRecord> cb) {
                 store_->verify_registration(crypto::sha256_hex("new"), 10, 1, cb);
               }).ok()));
}

TEST_F(SqliteStoreTest, ANameTakenMeanwhileFailsVerification) {
  make_user("sam", 1);
  PendingRegistration reg{"other@example.test", "SAM", "h", crypto::sha256_hex("k"), 0, 1 << 30};
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->put_registration(reg, OutboxMail{0, reg.email, "s", "b", 0, 0}, cb);
               }).ok()));
  auto r = wait<UserRecord>([&](Callback<UserRecord> cb) {
    store_->verify_registration(crypto::sha256_hex("k"), 10, 2, cb);
  });
  EXPECT_EQ(r.error().code, Errc::kNameTaken);
}

TEST_F(SqliteStoreTest, OutboxHoldsMailUntilMarkedSent) {
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->put_mail(OutboxMail{0, "a@b.cd", "subj", "body", 0, 100}, cb);
               }).ok()));
  auto due_mail = [&](int64_t now) {
    return std::move(store_->claim_due_mail(now, 10).value())->mail();
  };
  EXPECT_TRUE(due_mail(50).empty());
  auto due = due_mail(100);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(*store_->next_mail_due().value(), 100);
  int64_t id = due.front().id;
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                 store_->reschedule_mail(id, 1, 500, "temporary", cb);
               }).ok()));
  EXPECT_TRUE(due_mail(200).empty());
  EXPECT_EQ(rows("outbox WHERE body = 'body'"), 1);
  ASSERT_TRUE((wait<void>([&](Callback<void> cb) { store_->mark_mail_sent(id, 600, cb); }).ok()));
  EXPECT_TRUE(due_mail(1000).empty());
  EXPECT_EQ(rows("outbox WHERE body <> ''"), 0);  // the link in it goes once sent
  EXPECT_EQ(rows("outbox WHERE subject = 'subj'"), 1);
  EXPECT_FALSE(store_->next_mail_due().value());
}

TEST_F(SqliteStoreTest, RevokedAndExpiredTokensAreNotLoaded) {
  int64_t a = make_user("alice", 101);
  for (auto [hash, exp] :
       {std::pair<const char*, int64_t>{"live", 1000}, {"expired", 10}, {"revoked", 1000}})
    ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                   store_->put_token(TokenRecord{hash, a, 0, exp}, cb);
                 }).ok()));
  ASSERT_TRUE((
      wait<int64_t>([&](Callback<int64_t> cb) { store_->revoke_token("revoked", 100, cb); }).ok()));
  auto snap = store_->load_directory(100);
  ASSERT_EQ(snap->tokens.size(), 1u);
  EXPECT_EQ(snap->tokens[0].token_hash, "live");
}

TEST_F(SqliteStoreTest, WritesAfterCloseFailInsteadOfVanishing) {
  store_->close();
  Status s = wait<void>([&](Callback<void> cb) {
    store_->put_mail(OutboxMail{0, "a@b.cd", "s", "b", 0, 0}, cb);
  });
  EXPECT_FALSE(s.ok());
}

TEST_F(SqliteStoreTest, GuildWritesSurviveReopen) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  befriend(a, b, 500);
  befriend(a, c, 501);
  auto run = [&](auto fn) { return wait<GuildState>([&](Callback<GuildState> cb) { fn(cb); }); };
  ASSERT_TRUE(run([&](auto cb) { store_->create_guild({700, "crew", a, 10}, cb); }).ok());
  // The guild's chat exists (kind 1, same id): messages can point at it.
  ASSERT_TRUE(put_message(1, 700, a, "hi all", 11).ok());
  ASSERT_TRUE(run([&](auto cb) { store_->add_guild_member(700, a, b, 20, 10, cb); }).ok());
  ASSERT_TRUE(run([&](auto cb) { store_->add_guild_member(700, a, c, 30, 10, cb); }).ok());
  EXPECT_FALSE(run([&](auto cb) { store_->add_guild_member(700, a, c, 31, 10, cb); }).ok());
  ASSERT_TRUE(run([&](auto cb) { store_->rename_guild(700, a, "the crew", cb); }).ok());
  ASSERT_TRUE((wait<GuildLeaveOutcome>([&](Callback<GuildLeaveOutcome> cb) {
                 store_->leave_guild(700, a, cb);
               }).ok()));
  reopen();
  auto snap = store_->load_directory(0);
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->guilds.size(), 1u);
  EXPECT_EQ(snap->guilds[0].name, "the crew");
  EXPECT_EQ(snap->guilds[0].owner_id, b);
  EXPECT_EQ(snap->guilds[0].created_us, 10);
  ASSERT_EQ(snap->guild_members.size(), 2u);
  EXPECT_EQ(snap->dm_chats.size(), 2u);  // a guild's chat is not a direct-message chat
  EXPECT_EQ(store_->load_messages(700, 100, 10)->size(), 1u);
}

TEST_F(SqliteStoreTest, DeletingAGuildRemovesItAndItsMembersButKeepsItsHistory) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  befriend(a, b, 500);
  auto run = [&](auto fn) { return wait<GuildState>([&](Callback<GuildState> cb) { fn(cb); }); };
  ASSERT_TRUE(run([&](auto cb) { store_->create_guild({700, "crew", a, 10}, cb); }).ok());
  ASSERT_TRUE(run([&](auto cb) { store_->add_guild_member(700, a, b, 20, 10, cb); }).ok());
  ASSERT_TRUE(put_message(1, 700, a, "hi", 11).ok());
  ASSERT_TRUE(run([&](auto cb) { store_->delete_guild(700, a, cb); }).ok());
  auto snap = store_->load_directory(0);
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->guilds.empty());
  EXPECT_TRUE(snap->guild_members.empty());
  EXPECT_EQ(store_->load_messages(700, 100, 10)->size(), 1u);
  EXPECT_TRUE(store_->integrity_ok());
}

// Two decisions on one pair in a batch whose commit fails: the second saw the first (crossed
// requests befriended), and neither reached the disk.
TEST_F(SqliteStoreTest, AFailedBatchWithTwoOperationsOnOnePairChangesNothing) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  std::promise<void> all;
  std::atomic<int> left{2};
  std::vector<Result<FriendRequestOutcome>> outcomes(2, Errc::kInternal);
  // Both requests wait in the queue of a paused writer, so they share one batch.
  store_->pause_writer_for_test();
  store_->fail_next_commit_for_test();
  auto record = [&](int i) {
    return [&, i](Result<FriendRequestOutcome> r) {
      outcomes[i] = std::move(r);
      if (--left == 0) all.set_value();
    };
  };
  store_->request_friend(a, b, 500, 3000, record(0));
  store_->request_friend(b, a, 500, 3001, record(1));
  store_->resume_writer_for_test();
  all.get_future().wait();
  store_->flush();
  EXPECT_FALSE(outcomes[0].ok());
  EXPECT_FALSE(outcomes[1].ok());
  auto snap = store_->load_directory(0);
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->friend_requests.empty());
  EXPECT_TRUE(snap->friendships.empty());
  EXPECT_TRUE(snap->dm_chats.empty());
  // The same two in a batch that commits: the second saw the first and befriended.
  store_->pause_writer_for_test();
  left = 2;
  all = {};
  store_->request_friend(a, b, 500, 3000, record(0));
  store_->request_friend(b, a, 500, 3001, record(1));
  uint64_t commits_before = store_->commits();
  store_->resume_writer_for_test();
  all.get_future().wait();
  store_->flush();
  EXPECT_EQ(store_->commits() - commits_before, 1u);
  ASSERT_TRUE(outcomes[0].ok() && outcomes[1].ok());
  EXPECT_FALSE(outcomes[0]->befriended);
  EXPECT_TRUE(outcomes[1]->befriended);
  EXPECT_EQ(outcomes[1]->chat_id, 500);
}

TEST_F(SqliteStoreTest, PruneDeletesExpiredAndRevokedTokensExpiredRegistrationsAndOldSentMail) {
  SqliteOptions options;
  options.prune_interval_us = 0;  // by hand only
  options.sent_mail_retention_us = 500;
  reopen(std::move(options));
  int64_t a = make_user("alice", 101);  // leaves one unsent mail in the outbox
  ASSERT_TRUE(put_token("live", a, 2000).ok());
  ASSERT_TRUE(put_token("expired", a, 1000).ok());
  ASSERT_TRUE(put_token("revoked", a, 2000).ok());
  ASSERT_TRUE(
      (wait<int64_t>([&](Callback<int64_t> cb) { store_->revoke_token("revoked", 0, cb); }).ok()));
  for (auto [email, key, expires] : {std::tuple{"old@x.test", "k-old", int64_t{900}},
                                     std::tuple{"new@x.test", "k-new", int64_t{2000}}}) {
    PendingRegistration reg{email, email, "h", crypto::sha256_hex(key), 0, expires};
    ASSERT_TRUE((wait<void>([&](Callback<void> cb) {
                   store_->put_registration(reg, OutboxMail{0, email, "s", "b", 0, 0}, cb);
                 }).ok()));
  }
  auto claim = std::move(store_->claim_due_mail(1 << 30, 10).value());
  const auto& due = claim->mail();
  ASSERT_EQ(due.size(), 3u);
  claim->sent(due[0].id, 400);  // sent 600 µs before the prune: older than 500
  claim->sent(due[1].id, 600);  // sent 400 µs before: kept
  ASSERT_TRUE(claim->commit().ok());
  ASSERT_EQ(rows("outbox"), 3);

  PruneCounts n = prune(1000);
  EXPECT_EQ(n.expired_tokens, 1);  // expires_us <= now
  EXPECT_EQ(n.revoked_tokens, 1);
  EXPECT_EQ(n.registrations, 1);
  EXPECT_EQ(n.sent_mail, 1);
  EXPECT_FALSE(n.any_batch_full);

  EXPECT_EQ(rows("tokens"), 1);
  EXPECT_EQ(store_->load_directory(1000)->tokens.at(0).token_hash, "live");
  EXPECT_FALSE(store_->find_pending("old@x.test").value());
  EXPECT_TRUE(store_->find_pending("new@x.test").value());
  EXPECT_EQ(rows("outbox"), 2);  // the recent sent one and the unsent one
  EXPECT_EQ(store_->claim_due_mail(1 << 30, 10).value()->mail().size(), 1u);  // unsent: kept
  EXPECT_EQ(rows("users"), 1);

  n = prune(1000);  // nothing left to do
  EXPECT_EQ(n.expired_tokens + n.revoked_tokens + n.registrations + n.sent_mail, 0);
}

TEST_F(SqliteStoreTest, PruneDeletesInBoundedBatches) {
  SqliteOptions options;
  options.prune_interval_us = 0;
  options.prune_batch = 3;
  reopen(std::move(options));
  int64_t a = make_user("alice", 101);
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(put_token("t" + std::to_string(i), a, 10).ok());
  PruneCounts n = prune(100);
  EXPECT_EQ(n.expired_tokens, 3);
  EXPECT_TRUE(n.any_batch_full);
  EXPECT_EQ(prune(100).expired_tokens, 3);
  n = prune(100);
  EXPECT_EQ(n.expired_tokens, 1);
  EXPECT_FALSE(n.any_batch_full);
  EXPECT_EQ(rows("tokens"), 0);
}

TEST_F(SqliteStoreTest, TheTimerPrunesOnTheWriterByTheStoresClock) {
  ManualClock clock;
  clock.set(1000);
  SqliteOptions options;
  options.clock = &clock;
  options.prune_interval_us = 20'000;  // 20 ms
  reopen(std::move(options));
  int64_t a = make_user("alice", 101);
  ASSERT_TRUE(put_token("later", a, 5000).ok());
  auto wait_for = [&](auto done) {
    for (int i = 0; i < 500 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return done();
  };
  uint64_t prunes = store_->prunes();
  ASSERT_TRUE(wait_for([&] { return store_->prunes() >= prunes + 3; }));
  EXPECT_EQ(rows("tokens"), 1);  // not expired by the store's clock
  clock.set(6000);
  EXPECT_TRUE(wait_for([&] { return rows("tokens") == 0; }));
}

}  // namespace
}  // namespace rwd::store
