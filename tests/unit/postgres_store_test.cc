// What only the PostgreSQL store has to keep (the rules both stores share are the StoreContract
// suite's): migrations that two processes can run at once, a batch in doubt after a lost
// connection settled instead of acknowledged blindly, and a writer that reconnects by itself.
// Against a real server: REWIND_TEST_DATABASE_URL (tests/scripts/postgres-cluster); skipped
// when it is unset.
#include "store/postgres/postgres_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "postgres_test_db.h"
#include "store/postgres/migrations.h"
#include "store/postgres/worker_lease.h"

namespace rwd::store {
namespace {

using rwd::testing::PostgresTestDb;

template <typename T, typename Submit>
Result<T> wait_for(Submit submit) {
  std::promise<Result<T>> p;
  auto f = p.get_future();
  submit([&p](Result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

template <typename T>
Status status_of(const Result<T>& r) {
  if (!r.ok()) return r.error();
  return {};
}

// Runs one query on `url` and returns the first value of its first row ("" if none).
std::string query_value(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  std::string out;
  PGresult* r = PQexec(c, sql.c_str());
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
    out = std::string("error: ") + PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  return out;
}

// Time by hand; read by the store's writer thread.
class ManualClock final : public Clock {
 public:
  int64_t now_us() const override { return now.load(); }
  std::atomic<int64_t> now{1'000'000};
};

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (PostgresTestDb::server_url().empty())
      GTEST_SKIP() << "REWIND_TEST_DATABASE_URL is not set (see tests/scripts/postgres-cluster)";
    db_ = std::make_unique<PostgresTestDb>();
    ASSERT_FALSE(db_->url().empty()) << db_->error();
  }

  std::unique_ptr<PostgresStore> open(PostgresOptions options = {}) {
    options.failure_log = [this](bool, const std::string& line) {
      std::lock_guard lock(log_mu_);
      log_.push_back(line);
    };
    auto s = PostgresStore::open(db_->url(), std::move(options));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().detail);
    return s.ok() ? std::move(s.value()) : nullptr;
  }

  // Creates a user through registration, as the domain does.
  void make_user(PostgresStore& s, int64_t id, const std::string& name) {
    PendingRegistration reg{name + "@example.com", name, "hash", "key-" + name, 1, 1'000'000'000};
    ASSERT_TRUE(wait_for<void>([&](auto cb) {
                  s.put_registration(reg, OutboxMail{0, reg.email, "s", "b", 0, 1}, cb);
                }).ok());
    auto u =
        wait_for<UserRecord>([&](auto cb) { s.verify_registration("key-" + name, 2, id, cb); });
    ASSERT_TRUE(u.ok()) << u.error().detail;
  }

  std::string value(const std::string& sql) { return query_value(db_->url(), sql); }

  std::unique_ptr<PostgresTestDb> db_;
  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_F(PostgresStoreTest, MigrationsRunOnceWhenTwoProcessesStartAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto s = PostgresStore::open(db_->url());
      if (s.ok()) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(value("SELECT count(*) FROM schema_migrations"),
            std::to_string(postgres::latest_schema_version()));
  // And opening again changes nothing.
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->schema_version(), postgres::latest_schema_version());
}

TEST_F(PostgresStoreTest, DecisionsReturnWhatTheyProduced) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  make_user(*s, 2, "bob");
  make_user(*s, 3, "cat");
  auto r1 = wait_for<FriendRequestOutcome>([&](auto cb) { s->request_friend(1, 2, 100, 10, cb); });
  ASSERT_TRUE(r1.ok()) << r1.error().detail;
  EXPECT_FALSE(r1->befriended);
  auto again =
      wait_for<FriendRequestOutcome>([&](auto cb) { s->request_friend(1, 2, 100, 10, cb); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kAlreadyRequested);
  auto crossed =
      wait_for<FriendRequestOutcome>([&](auto cb) { s->request_friend(2, 1, 101, 11, cb); });
  ASSERT_TRUE(crossed.ok());
  EXPECT_TRUE(crossed->befriended);
  EXPECT_EQ(crossed->chat_id, 101);
  // A name that looks like a taken one is refused at verification.
  PendingRegistration twin{"twin@example.com", "ANN", "hash", "key-twin", 1, 1'000'000'000};
  ASSERT_TRUE(wait_for<void>([&](auto cb) {
                s->put_registration(twin, OutboxMail{0, twin.email, "s", "b", 0, 1}, cb);
              }).ok());
  auto taken = wait_for<UserRecord>([&](auto cb) { s->verify_registration("key-twin", 2, 9, cb); });
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, Errc::kNameTaken);

  auto g = wait_for<GuildState>([&](auto cb) {
    s->create_guild(GuildRecord{500, "g", 1, 20}, cb);
  });
  ASSERT_TRUE(g.ok()) << g.error().detail;
  ASSERT_EQ(g->members.size(), 1u);
  auto added = wait_for<GuildState>([&](auto cb) { s->add_guild_member(500, 1, 2, 10, 10, cb); });
  ASSERT_TRUE(added.ok()) << added.error().detail;
  ASSERT_EQ(added->members.size(), 2u);
  EXPECT_EQ(added->members[1].joined_us, 20);  // never before the last member
  auto stranger =
      wait_for<GuildState>([&](auto cb) { s->add_guild_member(500, 1, 3, 30, 10, cb); });
  EXPECT_EQ(stranger.error().code, Errc::kNotFriends);
  auto left = wait_for<GuildLeaveOutcome>([&](auto cb) { s->leave_guild(500, 1, cb); });
  ASSERT_TRUE(left.ok()) << left.error().detail;
  ASSERT_TRUE(left->after && left->new_owner);
  EXPECT_EQ(*left->new_owner, 2);
  EXPECT_EQ(left->after->guild.owner_id, 2);
  auto last = wait_for<GuildLeaveOutcome>([&](auto cb) { s->leave_guild(500, 2, cb); });
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->after);

  MessageRecord m{7, 101, 1, "hello", 50, false, std::nullopt};
  ASSERT_TRUE(wait_for<StoredMessage>([&](auto cb) { s->put_message(m, cb); }).ok());
  // Sent again (as after a lost connection): still one message.
  ASSERT_TRUE(wait_for<StoredMessage>([&](auto cb) { s->put_message(m, cb); }).ok());
  auto edited = wait_for<MessageRecord>([&](auto cb) { s->edit_message(101, 7, 1, "hi", 60, cb); });
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->created_us, 50);
  auto page = s->load_messages(101, 1000, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].content, "hi");
  EXPECT_EQ((*page)[0].edited_us, 60);
}

// A write whose statement breaks a constraint (a bug) fails alone; its batch's other writes
// still commit.
TEST_F(PostgresStoreTest, AFailingStatementFailsAloneInItsBatch) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  std::vector<std::future<Status>> results;
  std::vector<std::promise<Status>> promises(20);
  for (int i = 0; i < 20; ++i) {
    results.push_back(promises[i].get_future());
    // Chat 999 does not exist for i == 10: the foreign key refuses it.
    int64_t chat = i == 10 ? 999 : 0;
    if (chat == 0) {
      s->put_token(TokenRecord{"t" + std::to_string(i), 1, 1, 2},
                   [&promises, i](Status st) { promises[i].set_value(st); });
    } else {
      s->put_message(
          MessageRecord{1, chat, 1, "x", 1, false, std::nullopt},
          [&promises, i](Result<StoredMessage> st) { promises[i].set_value(status_of(st)); });
    }
  }
  for (int i = 0; i < 20; ++i) {
    Status st = results[i].get();
    if (i == 10) {
      ASSERT_FALSE(st.ok());
      EXPECT_EQ(st.error().code, Errc::kInternal);
    } else {
      EXPECT_TRUE(st.ok()) << i << ": " << st.error().detail;
    }
  }
  EXPECT_EQ(value("SELECT count(*) FROM tokens"), "19");
}

// A connection lost while its batch waits inside the transaction (the server reported why):
// that transaction cannot have committed; the batch is sent again on a new connection and
// acknowledged once, stored once.
TEST_F(PostgresStoreTest, ABatchRefusedByAConnectionLossIsSentAgain) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  int writer_pid = s->writer_backend_pid_for_test();
  ASSERT_NE(writer_pid, 0);
  // A lock the message's insert waits for, so that the batch is in flight for sure.
  PGconn* blocker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"));
  std::promise<Status> acked;
  s->put_message(MessageRecord{42, 500, 1, "lost", 5, false, std::nullopt},
                 [&acked](Result<StoredMessage> st) { acked.set_value(status_of(st)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(value("SELECT pg_terminate_backend(" + std::to_string(writer_pid) + ")"), "t");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  PQclear(PQexec(blocker, "ROLLBACK"));
  PQfinish(blocker);
  auto f = acked.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  Status st = f.get();
  EXPECT_TRUE(st.ok()) << st.error().detail;
  EXPECT_EQ(value("SELECT count(*) FROM messages WHERE id = 42"), "1");
  EXPECT_NE(s->writer_backend_pid_for_test(), writer_pid);
}

// The answers of a batch never come (the network failed with its COMMIT in flight) while the
// transaction is still open on the server. The settlement waits for that transaction: it
// commits, and the batch is acknowledged — not refused, and not sent twice.
TEST_F(PostgresStoreTest, ABatchInDoubtThatCommittedIsAcknowledged) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  PGconn* blocker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"));
  s->lose_connection_after_next_send_for_test();
  std::promise<Status> acked;
  s->put_message(MessageRecord{42, 500, 1, "in doubt", 5, false, std::nullopt},
                 [&acked](Result<StoredMessage> st) { acked.set_value(status_of(st)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  PQclear(PQexec(blocker, "ROLLBACK"));  // the lost transaction goes on and commits
  PQfinish(blocker);
  auto f = acked.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  Status st = f.get();
  EXPECT_TRUE(st.ok()) << st.error().detail;
  EXPECT_EQ(s->settled_in_doubt(), 1u);
  EXPECT_EQ(value("SELECT count(*) FROM messages WHERE id = 42"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM write_batches WHERE fenced"), "0");
}

// The same, but the lost transaction never commits (its server process ends): the fence goes
// in, so it never can, and the batch is sent again on the new connection.
TEST_F(PostgresStoreTest, ABatchInDoubtThatDidNotCommitIsSentAgain) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  int lost_pid = s->writer_backend_pid_for_test();
  PGconn* blocker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"));
  s->lose_connection_after_next_send_for_test();
  std::promise<Status> acked;
  s->put_message(MessageRecord{42, 500, 1, "in doubt", 5, false, std::nullopt},
                 [&acked](Result<StoredMessage> st) { acked.set_value(status_of(st)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(value("SELECT pg_terminate_backend(" + std::to_string(lost_pid) + ")"), "t");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  PQclear(PQexec(blocker, "ROLLBACK"));
  PQfinish(blocker);
  auto f = acked.get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  Status st = f.get();
  EXPECT_TRUE(st.ok()) << st.error().detail;
  EXPECT_EQ(s->settled_in_doubt(), 1u);
  EXPECT_EQ(value("SELECT count(*) FROM messages WHERE id = 42"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM write_batches WHERE fenced"), "1");
}

// A batch in doubt that committed answers each write with what the write produced, read back
// from the results stored in the batch's own transaction: decisions taken, refusals, names
// that need quoting, arrays, NULLs. Without them the callbacks (and the Directory cache, which
// they update) would miss changes that committed.
TEST_F(PostgresStoreTest, ABatchInDoubtThatCommittedAnswersWithTheResultsItStored) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  make_user(*s, 2, "bob");
  make_user(*s, 3, "cat");
  ASSERT_TRUE(
      wait_for<FriendRequestOutcome>([&](auto cb) { s->request_friend(1, 2, 100, 10, cb); }).ok());
  ASSERT_TRUE(wait_for<int64_t>([&](auto cb) { s->accept_friend(2, 1, 100, 11, cb); }).ok());
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  ASSERT_TRUE(wait_for<void>([&](auto cb) {
                s->put_token(TokenRecord{"tok", 2, 1, 500}, cb);
              }).ok());

  const std::string results_before = value("SELECT count(*) FROM write_results");

  // The first batch waits for a lock, so that the writes after it queue up and go together
  // in the next batch, whose answers are then lost.
  PGconn* blocker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"));
  std::promise<Status> waiting;
  s->put_message(MessageRecord{42, 100, 1, "first", 5, false, std::nullopt},
                 [&](Result<StoredMessage> r) { waiting.set_value(status_of(r)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  s->lose_connection_after_next_send_for_test();

  const std::string odd_name = "a, \"quoted\" (name) \\ ";
  std::promise<Result<GuildState>> renamed, added, refused;  // refused: bob and cat are strangers
  std::promise<Result<GuildLeaveOutcome>> left;
  std::promise<Result<int64_t>> revoked;
  std::promise<Result<FriendRequestOutcome>> requested;
  std::promise<Status> unfriended;
  s->rename_guild(500, 1, odd_name, [&](Result<GuildState> r) { renamed.set_value(r); });
  s->add_guild_member(500, 1, 2, 20, 10, [&](Result<GuildState> r) { added.set_value(r); });
  s->add_guild_member(500, 2, 3, 21, 10, [&](Result<GuildState> r) { refused.set_value(r); });
  s->leave_guild(500, 2, [&](Result<GuildLeaveOutcome> r) { left.set_value(r); });
  s->revoke_token("tok", 30, [&](Result<int64_t> r) { revoked.set_value(r); });
  s->request_friend(1, 3, 101, 31, [&](Result<FriendRequestOutcome> r) { requested.set_value(r); });
  s->unfriend(1, 2, [&](Status st) { unfriended.set_value(st); });
  // A send keeps no row (its seq is read back from messages); an edit is a decision and does.
  std::promise<Result<StoredMessage>> sent;
  std::promise<Result<MessageRecord>> edited;
  s->put_message(MessageRecord{43, 100, 1, "second", 6, false, std::nullopt},
                 [&](Result<StoredMessage> r) { sent.set_value(r); });
  s->edit_message(100, 42, 1, "first, edited", 32,
                  [&](Result<MessageRecord> r) { edited.set_value(r); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  PQclear(PQexec(blocker, "ROLLBACK"));
  PQfinish(blocker);

  auto ready = [](auto& promise) {
    auto f = promise.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    return f.get();
  };
  Status first = ready(waiting);
  EXPECT_TRUE(first.ok()) << first.error().detail;
  auto r = ready(renamed);
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r->guild.name, odd_name);
  EXPECT_EQ(r->guild.owner_id, 1);
  auto a = ready(added);
  ASSERT_TRUE(a.ok()) << a.error().detail;
  ASSERT_EQ(a->members.size(), 2u);
  EXPECT_EQ(a->members[1].user_id, 2);
  auto no = ready(refused);
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.error().code, Errc::kNotFriends);  // bob may add only his own friends
  auto l = ready(left);
  ASSERT_TRUE(l.ok()) << l.error().detail;
  ASSERT_TRUE(l->after);
  EXPECT_FALSE(l->new_owner);  // a NULL column
  EXPECT_EQ(l->after->members.size(), 1u);
  auto t = ready(revoked);
  ASSERT_TRUE(t.ok()) << t.error().detail;
  EXPECT_EQ(*t, 2);
  auto q = ready(requested);
  ASSERT_TRUE(q.ok()) << q.error().detail;
  EXPECT_FALSE(q->befriended);
  Status u = ready(unfriended);
  EXPECT_TRUE(u.ok()) << u.error().detail;
  auto m = ready(sent);
  ASSERT_TRUE(m.ok()) << m.error().detail;
  EXPECT_EQ(m->seq, 2);
  auto e = ready(edited);
  ASSERT_TRUE(e.ok()) << e.error().detail;
  EXPECT_EQ(e->seq, 3);
  EXPECT_EQ(e->created_us, 5);

  EXPECT_EQ(s->settled_in_doubt(), 1u);
  // Eight decisions kept their rows; the send did not.
  EXPECT_EQ(std::stoll(value("SELECT count(*) FROM write_results")) - std::stoll(results_before),
            8);
  EXPECT_EQ(value("SELECT count(*) FROM write_batches WHERE fenced"), "0");
  EXPECT_EQ(value("SELECT name FROM guilds WHERE id = 500"), odd_name);
}

// The results a batch kept go with its marker when that is pruned.
TEST_F(PostgresStoreTest, KeptResultsArePrunedWithTheirBatch) {
  ManualClock clock;
  PostgresOptions options;
  options.clock = &clock;
  options.batch_marker_retention_us = 1'000;
  auto s = open(options);
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  EXPECT_NE(value("SELECT count(*) FROM write_results"), "0");
  clock.now += 2'000;  // past the retention of every batch so far, not of the prune's own
  auto n = wait_for<PostgresPruneCounts>([&](auto cb) { s->prune(clock.now_us(), cb); });
  ASSERT_TRUE(n.ok()) << n.error().detail;
  EXPECT_EQ(value("SELECT count(*) FROM write_batches"), "1");
  EXPECT_EQ(value("SELECT count(*) FROM write_results"), "0");
}

// A row read back from its record's text is the row the statement gave: NULLs, empty strings,
// quotes, backslashes, commas, parentheses, arrays and booleans.
TEST_F(PostgresStoreTest, ARowReadFromItsRecordTextIsTheRowItself) {
  auto s = open();
  ASSERT_TRUE(s);
  PGconn* c = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  const char* sql =
      "WITH r AS (SELECT 'ok'::text, NULL::bigint, ''::text, 'a \"b\" \\ (c), d'::text, "
      "ARRAY[1,-2,3]::bigint[], true, ' x '::text, NULL::text) "
      "SELECT r.*, r::text FROM r";
  PGresult* r = PQexec(c, sql);
  ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQresultErrorMessage(r);
  postgres::Row direct(r, 0);
  auto parsed = postgres::Row::from_record_text(direct.text(8));
  PQclear(r);
  PQfinish(c);
  ASSERT_TRUE(parsed.ok()) << parsed.error().detail;
  ASSERT_EQ(parsed->size(), 8u);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(parsed->is_null(i), direct.is_null(i)) << i;
    EXPECT_EQ(parsed->text(i), direct.text(i)) << i;
  }
  EXPECT_EQ(parsed->text(3), "a \"b\" \\ (c), d");
  EXPECT_EQ(parsed->int64_array(4), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_TRUE(parsed->boolean(5));
  EXPECT_FALSE(postgres::Row::from_record_text("(\"open").ok());
}

// A batch in doubt settles as not committed while a newer write waits behind the settlement:
// the settled writes are applied first, as they were submitted, and acknowledged first. Two
// renames of one guild end with the second name. (The writer also keeps this order when the
// newer write was already taken into a batch when the connection came back: writer_loop
// queues the settled writes in front of that batch.)
TEST_F(PostgresStoreTest, WritesSettledAsNotCommittedGoBeforeNewerOnes) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  int lost_pid = s->writer_backend_pid_for_test();
  PGconn* blocker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN; LOCK TABLE guilds IN ACCESS EXCLUSIVE MODE"));
  s->lose_connection_after_next_send_for_test();
  std::mutex order_mu;
  std::vector<std::string> order;
  std::promise<Result<GuildState>> first, second;
  s->rename_guild(500, 1, "first", [&](Result<GuildState> r) {
    {
      std::lock_guard lock(order_mu);
      order.push_back("first");
    }
    first.set_value(std::move(r));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Submitted while the first is in doubt: the writer reconnects for it, and its fence waits
  // for the lost transaction, still open on the server behind the lock.
  s->rename_guild(500, 1, "second", [&](Result<GuildState> r) {
    {
      std::lock_guard lock(order_mu);
      order.push_back("second");
    }
    second.set_value(std::move(r));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(value("SELECT pg_terminate_backend(" + std::to_string(lost_pid) + ")"), "t");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  PQclear(PQexec(blocker, "ROLLBACK"));
  PQfinish(blocker);
  auto f1 = first.get_future(), f2 = second.get_future();
  ASSERT_EQ(f1.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  ASSERT_EQ(f2.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  auto r1 = f1.get(), r2 = f2.get();
  ASSERT_TRUE(r1.ok()) << r1.error().detail;
  ASSERT_TRUE(r2.ok()) << r2.error().detail;
  EXPECT_EQ(r1->guild.name, "first");
  EXPECT_EQ(r2->guild.name, "second");
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(value("SELECT name FROM guilds WHERE id = 500"), "second");
}

// A message under an id another message holds (two processes minting ids with one worker id)
// fails loudly; the same message sent again is a no-op.
TEST_F(PostgresStoreTest, AMessageUnderATakenIdFailsAndARepeatIsANoOp) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  MessageRecord m{42, 500, 1, "hello", 5, false, std::nullopt};
  ASSERT_TRUE(wait_for<StoredMessage>([&](auto cb) { s->put_message(m, cb); }).ok());
  EXPECT_TRUE(wait_for<StoredMessage>([&](auto cb) { s->put_message(m, cb); }).ok());
  MessageRecord other{42, 500, 1, "another", 6, false, std::nullopt};
  Status st = status_of(wait_for<StoredMessage>([&](auto cb) { s->put_message(other, cb); }));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInternal);
  EXPECT_EQ(value("SELECT count(*) FROM messages WHERE id = 42"), "1");
  EXPECT_EQ(value("SELECT content FROM messages WHERE id = 42"), "hello");
}

// The sends queued behind a batch go together as one statement: each chat's messages take
// its next seqs in submission order, texts that need quoting in an array arrive intact, and a
// repeat answers its seq. A send under an id another message holds fails alone: the batch
// goes again with its sends one by one, and the others are stored, in order, without a gap.
TEST_F(PostgresStoreTest, SendsQueuedTogetherGoAsOneStatementAndKeepEveryRule) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  for (int64_t guild : {500, 501})
    ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                  s->create_guild(GuildRecord{guild, "g", 1, 1}, cb);
                }).ok());
  // Runs `queue` while a first send waits for a lock, so that what it submits meanwhile goes
  // in the next batch together.
  auto behind_a_blocked_send = [&](int64_t first_id, const std::function<void()>& queue) {
    PGconn* blocker = PQconnectdb(db_->url().c_str());
    ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
    PQclear(PQexec(blocker, "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"));
    std::promise<Result<StoredMessage>> first;
    s->put_message(MessageRecord{first_id, 500, 1, "first", 1, false, std::nullopt},
                   [&](Result<StoredMessage> r) { first.set_value(r); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    queue();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    PQclear(PQexec(blocker, "ROLLBACK"));
    PQfinish(blocker);
    EXPECT_TRUE(first.get_future().get().ok());
  };
  const std::string odd = "a \"quoted\", {braced} \\ text";
  std::vector<std::promise<Result<StoredMessage>>> seqs(10);
  behind_a_blocked_send(10, [&] {
    for (int i = 0; i < 10; ++i)
      s->put_message(
          MessageRecord{100 + i, 500 + i % 2, 1, i == 3 ? odd : "m", 10 + i, false, std::nullopt},
          [&seqs, i](Result<StoredMessage> r) { seqs[i].set_value(r); });
  });
  for (int i = 0; i < 10; ++i) {
    auto r = seqs[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.error().detail;
    // Chat 500's first seq went to the blocked send.
    EXPECT_EQ(r->seq, i % 2 == 0 ? 2 + i / 2 : 1 + i / 2) << i;
  }
  EXPECT_GE(s->combined_sends(), 10u);
  EXPECT_EQ(value("SELECT content FROM messages WHERE id = 103"), odd);
  EXPECT_EQ(value("SELECT last_seq FROM chats WHERE id = 500"), "6");
  EXPECT_EQ(value("SELECT last_seq FROM chats WHERE id = 501"), "5");

  // A new send, a repeat of a stored one, another, one under a taken id, a repeat of a send
  // of the same batch, and another new one.
  std::vector<std::promise<Result<StoredMessage>>> more(6);
  behind_a_blocked_send(11, [&] {
    const MessageRecord sends[] = {
        {200, 500, 1, "new", 50, false, std::nullopt},
        {100, 500, 1, "m", 10, false, std::nullopt},  // stored with seq 2
        {201, 501, 1, "new", 51, false, std::nullopt},
        {102, 500, 1, "another", 52, false, std::nullopt},  // 102 is taken
        {200, 500, 1, "new", 50, false, std::nullopt},      // the first of this batch again
        {202, 500, 1, "new", 53, false, std::nullopt},
    };
    for (int i = 0; i < 6; ++i)
      s->put_message(sends[i], [&more, i](Result<StoredMessage> r) { more[i].set_value(r); });
  });
  std::vector<Result<StoredMessage>> got;
  for (auto& p : more) got.push_back(p.get_future().get());
  ASSERT_TRUE(got[0].ok()) << got[0].error().detail;
  EXPECT_EQ(got[0]->seq, 8);  // the blocked send took 7
  ASSERT_TRUE(got[1].ok()) << got[1].error().detail;
  EXPECT_EQ(got[1]->seq, 2);
  ASSERT_TRUE(got[2].ok()) << got[2].error().detail;
  EXPECT_EQ(got[2]->seq, 6);
  ASSERT_FALSE(got[3].ok());
  EXPECT_EQ(got[3].error().code, Errc::kInternal);
  ASSERT_TRUE(got[4].ok()) << got[4].error().detail;
  EXPECT_EQ(got[4]->seq, 8);
  ASSERT_TRUE(got[5].ok()) << got[5].error().detail;
  EXPECT_EQ(got[5]->seq, 9);
  EXPECT_EQ(value("SELECT content FROM messages WHERE id = 102"), "m");
  EXPECT_EQ(value("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM messages "
                  "WHERE chat_id = 500"),
            "1,2,3,4,5,6,7,8,9");
  EXPECT_EQ(value("SELECT last_seq FROM chats WHERE id = 500"), "9");
  EXPECT_EQ(value("SELECT last_seq FROM chats WHERE id = 501"), "6");
}

// The sends of one statement (rwd_store_messages) take times as one at a time would: each at
// its own, or 1 µs after the chat's latest (store.h, put_message).
TEST_F(PostgresStoreTest, SendsQueuedTogetherTakeTimesUniqueInTheirChat) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  for (int64_t guild : {500, 501})
    ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                  s->create_guild(GuildRecord{guild, "g", 1, 1}, cb);
                }).ok());
  PGconn* blocker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"));
  std::promise<Result<StoredMessage>> first;
  s->put_message(MessageRecord{1, 500, 1, "first", 1000, false, std::nullopt},
                 [&](Result<StoredMessage> r) { first.set_value(r); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Queued while the first waits for the lock: the next batch, as one statement.
  const std::pair<int64_t, int64_t> sends[] = {
      {500, 1000}, {501, 7}, {500, 990}, {501, 7}, {500, 1500}};
  std::vector<std::promise<Result<StoredMessage>>> answers(std::size(sends));
  for (size_t i = 0; i < std::size(sends); ++i)
    s->put_message(MessageRecord{10 + static_cast<int64_t>(i), sends[i].first, 1, "m",
                                 sends[i].second, false, std::nullopt},
                   [&answers, i](Result<StoredMessage> r) { answers[i].set_value(r); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  PQclear(PQexec(blocker, "ROLLBACK"));
  PQfinish(blocker);
  auto f = first.get_future().get();
  ASSERT_TRUE(f.ok()) << f.error().detail;
  EXPECT_EQ(f->created_us, 1000);
  const int64_t expected[] = {1001, 7, 1002, 8, 1500};
  for (size_t i = 0; i < std::size(sends); ++i) {
    auto r = answers[i].get_future().get();
    ASSERT_TRUE(r.ok()) << r.error().detail;
    EXPECT_EQ(r->created_us, expected[i]) << i;
  }
  EXPECT_GE(s->combined_sends(), std::size(sends));
  EXPECT_EQ(value("SELECT string_agg(created_us::text, ',' ORDER BY seq) FROM messages "
                  "WHERE chat_id = 500"),
            "1000,1001,1002,1500");
  EXPECT_EQ(value("SELECT string_agg(created_us::text, ',' ORDER BY seq) FROM messages "
                  "WHERE chat_id = 501"),
            "7,8");
}

// The server refuses connections for a while (as while it restarts): writes fail at once with
// kStorageUnavailable, never an acknowledgement, the outage is logged, and the store
// reconnects by itself when the server is back.
TEST_F(PostgresStoreTest, WritesFailDuringAnOutageAndTheStoreReconnects) {
  PostgresOptions options;
  options.reconnect_max_delay_us = 200'000;
  auto s = open(options);
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  auto g = wait_for<GuildState>([&](auto cb) { s->create_guild(GuildRecord{500, "g", 1, 1}, cb); });
  ASSERT_TRUE(g.ok());

  ASSERT_EQ(PostgresTestDb::admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS false"),
            "");
  ASSERT_EQ(PostgresTestDb::admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = '" +
                                  db_->name() + "'"),
            "");
  int refused = 0, acknowledged = 0;
  for (int i = 0; i < 20; ++i) {
    Status st = status_of(wait_for<StoredMessage>([&](auto cb) {
      s->put_message(MessageRecord{100 + i, 500, 1, "m", 10 + i, false, std::nullopt}, cb);
    }));
    if (st.ok()) {
      ++acknowledged;
    } else {
      EXPECT_EQ(st.error().code, Errc::kStorageUnavailable);
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  auto read = s->load_messages(500, 1000, 10);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().code, Errc::kStorageUnavailable);
  EXPECT_GT(s->write_failures(), 0u);

  ASSERT_EQ(PostgresTestDb::admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS true"), "");
  Status after = Error{Errc::kInternal};
  for (int i = 0; i < 50 && !after.ok(); ++i) {
    after = status_of(wait_for<StoredMessage>([&](auto cb) {
      s->put_message(MessageRecord{1000 + i, 500, 1, "back", 100 + i, false, std::nullopt}, cb);
    }));
    if (!after.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(after.ok());
  // Every acknowledged message is there, and no refused one is.
  EXPECT_EQ(value("SELECT count(*) FROM messages WHERE id < 1000"), std::to_string(acknowledged));
  EXPECT_TRUE(s->load_messages(500, 100000, 100).ok());
  std::lock_guard lock(log_mu_);
  bool recovered = false;
  for (const std::string& line : log_)
    recovered |= line.find("writable again") != std::string::npos;
  EXPECT_TRUE(recovered);
}

// Readiness follows the writer's connection without any write: an idle writer notices that
// the server closed its connection, says it cannot write while the server refuses it, and
// reconnects by itself once it accepts again.
TEST_F(PostgresStoreTest, AnIdleWriterNoticesALostConnectionAndReconnectsWithoutAWrite) {
  PostgresOptions options;
  options.reconnect_max_delay_us = 200'000;
  auto s = open(options);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->can_write());
  int writer_pid = s->writer_backend_pid_for_test();
  ASSERT_NE(writer_pid, 0);
  auto wait_until = [](auto done) {
    for (int i = 0; i < 100 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return done();
  };
  ASSERT_EQ(PostgresTestDb::admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS false"),
            "");
  ASSERT_EQ(
      PostgresTestDb::admin("SELECT pg_terminate_backend(" + std::to_string(writer_pid) + ")"), "");
  EXPECT_TRUE(wait_until([&] { return !s->can_write(); }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // reconnecting, refused
  EXPECT_FALSE(s->can_write());
  ASSERT_EQ(PostgresTestDb::admin("ALTER DATABASE " + db_->name() + " ALLOW_CONNECTIONS true"), "");
  EXPECT_TRUE(wait_until([&] { return s->can_write(); }));
  EXPECT_NE(s->writer_backend_pid_for_test(), writer_pid);
  EXPECT_EQ(s->write_failures(), 0u);  // nothing was refused: nothing was written
}

// A server restart kills every pooled read connection at once: the first read after it finds
// one dead and must not take another dead one for its second try.
TEST_F(PostgresStoreTest, AReadAfterEveryPooledConnectionDiedSucceeds) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  auto g = wait_for<GuildState>([&](auto cb) { s->create_guild(GuildRecord{500, "g", 1, 1}, cb); });
  ASSERT_TRUE(g.ok());
  const std::string readers = "SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                              db_->name() + "' AND application_name = 'rewind-reader'";
  // Concurrent reads leave several connections in the pool.
  for (int round = 0; round < 20 && std::stoi(value(readers)) < 3; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < 20; ++i) EXPECT_TRUE(s->load_messages(500, 1000, 10).ok());
      });
    for (std::thread& t : threads) t.join();
  }
  ASSERT_GE(std::stoi(value(readers)), 3);
  const std::string kill =
      "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM "
      "pg_stat_activity WHERE datname = '" +
      db_->name() + "' AND application_name = 'rewind-reader'";
  ASSERT_GE(std::stoi(value(kill)), 3);
  for (int i = 0; i < 100 && value(readers) != "0"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(value(readers), "0");
  auto read = s->load_messages(500, 1000, 10);
  EXPECT_TRUE(read.ok()) << read.error().detail;
}

TEST_F(PostgresStoreTest, PruneDeletesWhatServesNothing) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<void>([&](auto cb) { s->put_token(TokenRecord{"old", 1, 1, 5}, cb); }).ok());
  ASSERT_TRUE(wait_for<void>([&](auto cb) {
                s->put_token(TokenRecord{"live", 1, 1, 500}, cb);
              }).ok());
  auto n = wait_for<PostgresPruneCounts>([&](auto cb) { s->prune(100, cb); });
  ASSERT_TRUE(n.ok()) << n.error().detail;
  EXPECT_EQ(n->expired_tokens, 1);
  EXPECT_EQ(value("SELECT string_agg(hash, ',') FROM tokens"), "live");
}

// A database of schema version 4 (before the chat sequence) with messages: the migration
// gives them seqs in id order per chat, and each chat's last_seq their count.
TEST_F(PostgresStoreTest, TheChatSequenceMigrationNumbersExistingMessagesInIdOrder) {
  {
    PGconn* c = PQconnectdb(db_->url().c_str());
    ASSERT_EQ(PQstatus(c), CONNECTION_OK);
    Status migrated = postgres::migrate(c, 4);
    ASSERT_TRUE(migrated.ok()) << migrated.error().detail;
    PGresult* r = PQexec(c, R"sql(
INSERT INTO users (id, name, name_key, name_skeleton, email, email_lower, password_hash,
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
)sql");
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQresultErrorMessage(r);
    PQclear(r);
    PQfinish(c);
  }
  EXPECT_EQ(value("SELECT max(version) FROM schema_migrations"), "4");
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->schema_version(), postgres::latest_schema_version());
  auto changes = s->load_chat_changes(500, 0, 10);
  ASSERT_TRUE(changes.ok()) << changes.error().detail;
  ASSERT_EQ(changes->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*changes)[i].message.seq, i + 1);
    EXPECT_EQ((*changes)[i].message.id, (i + 1) * 10);
    EXPECT_EQ((*changes)[i].kind, ChangeKind::kSend);
  }
  auto positions = s->chat_positions({500, 600, 700});
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 3u);
  EXPECT_EQ(positions->at(0).last_seq, 3);
  EXPECT_EQ(positions->at(1).last_seq, 1);
  EXPECT_EQ(positions->at(2).last_seq, 0);
  // Each chat's latest message time, from the messages there (migration 18).
  EXPECT_EQ(value("SELECT string_agg(last_created_us::text, ',' ORDER BY id) FROM chats"),
            "3,1,0");
  auto seq = wait_for<StoredMessage>([&](auto cb) {
    s->put_message(MessageRecord{40, 500, 2, "fourth", 3, false, std::nullopt, 0}, cb);
  });
  ASSERT_TRUE(seq.ok()) << seq.error().detail;
  EXPECT_EQ(seq->seq, 4);
  EXPECT_EQ(seq->created_us, 4);  // "third" has 3
  auto edited =
      wait_for<MessageRecord>([&](auto cb) { s->edit_message(600, 15, 3, "again", 9, cb); });
  ASSERT_TRUE(edited.ok()) << edited.error().detail;
  EXPECT_EQ(edited->seq, 2);
  auto chat600 = s->load_chat_changes(600, 0, 10);
  ASSERT_TRUE(chat600.ok());
  ASSERT_EQ(chat600->size(), 2u);
  EXPECT_EQ(chat600->at(0).message.content, "edited before");
  EXPECT_EQ(chat600->at(1).message.content, "again");
}

// Two processes (two stores on one database) writing to the same chats at once, each batch
// touching them in the opposite order of the other's: every change is acknowledged, the seqs
// of each chat are 1..N with none missing or repeated, and no transaction deadlocked (the
// batch's chats are locked in id order first).
TEST_F(PostgresStoreTest, TwoProcessesWritingToTheSameChatsGetGaplessSeqsWithoutDeadlock) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  make_user(*first, 1, "ann");
  make_user(*first, 2, "bob");
  for (int64_t guild : {500, 600})
    ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                  first->create_guild(GuildRecord{guild, "g", 1, 1}, cb);
                }).ok());
  struct Ack {
    int64_t chat, seq;
  };
  std::mutex mu;
  std::vector<Ack> acked[2];
  int failures = 0;
  auto record = [&](int who, int64_t chat) {
    return [&, who, chat](int64_t seq) {
      std::lock_guard lock(mu);
      acked[who].push_back({chat, seq});
    };
  };
  auto failed = [&](const Error& e) {
    std::lock_guard lock(mu);
    ++failures;
    ADD_FAILURE() << e.detail;
  };
  // Long runs of one chat, so that a batch holds its first chat for a while before it
  // reaches the second: without the locks taken in id order up front, the two processes'
  // batches would each hold one chat and wait for the other.
  constexpr int kBlocks = 6, kRun = 100;
  auto writer = [&](int who, PostgresStore& s) {
    // The first writes to 600 then 500, the second 500 then 600.
    int64_t chats[2] = {who == 0 ? 600 : 500, who == 0 ? 500 : 600};
    for (int block = 0; block < kBlocks; ++block) {
      for (int64_t chat : chats) {
        for (int k = 0; k < kRun; ++k) {
          int i = block * kRun + k;
          int64_t id = (who + 1) * 1'000'000 + i * 10 + chat / 100;
          s.put_message(MessageRecord{id, chat, 1, "m", 100 + i, false, std::nullopt, 0},
                        [record = record(who, chat), failed](Result<StoredMessage> r) {
                          if (!r.ok()) return failed(r.error());
                          record(r->seq);
                        });
          if (i % 4 == 0)
            s.edit_message(chat, id, 1, i % 8 == 0 ? "" : "edited", 200 + i,
                           [record = record(who, chat), failed](Result<MessageRecord> r) {
                             if (!r.ok()) return failed(r.error());
                             record(r->seq);
                           });
        }
      }
    }
    s.flush();
  };
  std::thread a(writer, 0, std::ref(*first)), b(writer, 1, std::ref(*second));
  a.join();
  b.join();
  EXPECT_EQ(failures, 0);
  const int64_t per_chat = 2 * (kBlocks * kRun + kBlocks * kRun / 4);
  std::map<int64_t, std::vector<int64_t>> seqs;
  for (int who = 0; who < 2; ++who) {
    std::map<int64_t, int64_t> last;
    for (const Ack& x : acked[who]) {
      // Each process sees its own changes of a chat in rising seq order.
      EXPECT_GT(x.seq, last[x.chat]);
      last[x.chat] = x.seq;
      seqs[x.chat].push_back(x.seq);
    }
  }
  for (int64_t chat : {500, 600}) {
    std::vector<int64_t>& got = seqs[chat];
    std::sort(got.begin(), got.end());
    ASSERT_EQ(static_cast<int64_t>(got.size()), per_chat);
    for (int64_t i = 0; i < per_chat; ++i) ASSERT_EQ(got[i], i + 1) << "chat " << chat;
    auto changes = first->load_chat_changes(chat, 0, 10'000);
    ASSERT_TRUE(changes.ok());
    EXPECT_EQ(static_cast<int64_t>(changes->size()), per_chat);
  }
  auto positions = second->chat_positions({500, 600});
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 2u);
  EXPECT_EQ(positions->at(0).last_seq, per_chat);
  EXPECT_EQ(positions->at(1).last_seq, per_chat);
  first.reset();
  second.reset();
  // A backend's statistics reach pg_stat_database when it exits.
  std::string deadlocks;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    deadlocks = value("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
    if (deadlocks != "0") break;
  }
  EXPECT_EQ(deadlocks, "0");
}

// A message put again after its batch was found committed in doubt took one seq, and the seq
// read back is the one it took.
TEST_F(PostgresStoreTest, AMessageFoundCommittedInDoubtAnswersItsSeq) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  auto before = wait_for<StoredMessage>([&](auto cb) {
    s->put_message(MessageRecord{41, 500, 1, "before", 4, false, std::nullopt, 0}, cb);
  });
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->seq, 1);
  s->lose_connection_after_next_send_for_test();
  auto seq = wait_for<StoredMessage>([&](auto cb) {
    s->put_message(MessageRecord{42, 500, 1, "in doubt", 5, false, std::nullopt, 0}, cb);
  });
  ASSERT_TRUE(seq.ok()) << seq.error().detail;
  EXPECT_EQ(seq->seq, 2);
  EXPECT_EQ(seq->created_us, 5);  // read back with the seq
  EXPECT_EQ(s->settled_in_doubt(), 1u);
  // Put again (as a resend would): a no-op answering the same seq.
  auto again = wait_for<StoredMessage>([&](auto cb) {
    s->put_message(MessageRecord{42, 500, 1, "in doubt", 5, false, std::nullopt, 0}, cb);
  });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->seq, 2);
  EXPECT_EQ(value("SELECT last_seq FROM chats WHERE id = 500"), "2");
}

TEST_F(PostgresStoreTest, WorkerIdsAreLeasedOnceEach) {
  auto s = open();  // migrations
  ASSERT_TRUE(s);
  auto a = WorkerIdLease::acquire(db_->url(), 60'000'000);
  auto b = WorkerIdLease::acquire(db_->url(), 60'000'000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a.value()->worker_id(), b.value()->worker_id());
  int freed = a.value()->worker_id();
  a.value().reset();  // released
  auto c = WorkerIdLease::acquire(db_->url(), 60'000'000);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value()->worker_id(), freed);
  // An id given explicitly is refused while a live process holds it.
  auto taken = WorkerIdLease::claim(db_->url(), freed);
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().detail.find("--worker-id"), std::string::npos);
  auto free_one = WorkerIdLease::claim(db_->url(), 777);
  EXPECT_TRUE(free_one.ok());
}

TEST_F(PostgresStoreTest, AnExpiredLeaseIsTakenOverAndALiveOneRefused) {
  auto s = open();  // migrations
  ASSERT_TRUE(s);
  // A process that died without releasing its id, and one that is alive elsewhere.
  value(
      "WITH i AS (INSERT INTO worker_leases (worker_id, holder, expires_us) VALUES "
      "(900, 'dead:1:x', rwd_now_us() - 1), (901, 'alive:2:y', rwd_now_us() + 60000000) "
      "RETURNING 1) SELECT count(*) FROM i");
  auto taken_over = WorkerIdLease::claim(db_->url(), 900);
  ASSERT_TRUE(taken_over.ok()) << taken_over.error().detail;
  EXPECT_EQ(value("SELECT holder FROM worker_leases WHERE worker_id = 900"),
            taken_over.value()->holder());
  auto refused = WorkerIdLease::claim(db_->url(), 901);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().detail,
            "--worker-id 901 is held by another running process on this database (each process "
            "needs its own; leave it out to get a free one)");
  // A free id is never one a live lease holds.
  auto leased = WorkerIdLease::acquire(db_->url());
  ASSERT_TRUE(leased.ok());
  EXPECT_NE(leased.value()->worker_id(), 901);
  EXPECT_NE(leased.value()->worker_id(), 900);
}

TEST_F(PostgresStoreTest, ALeaseTakenByAnotherProcessStopsTheHolder) {
  auto s = open();
  ASSERT_TRUE(s);
  std::promise<void> lost;
  auto lease = WorkerIdLease::acquire(db_->url(), 600'000, [&lost] { lost.set_value(); });
  ASSERT_TRUE(lease.ok());
  // Another process took the id after this one stalled past its ttl.
  value("WITH u AS (UPDATE worker_leases SET holder = 'other:3:z' WHERE worker_id = " +
        std::to_string(lease.value()->worker_id()) + " RETURNING 1) SELECT count(*) FROM u");
  EXPECT_EQ(lost.get_future().wait_for(std::chrono::seconds(3)), std::future_status::ready);
}

TEST_F(PostgresStoreTest, ALeaseThatCannotBeRenewedStopsTheHolderBeforeItExpires) {
  auto s = open();
  ASSERT_TRUE(s);
  std::promise<std::chrono::steady_clock::time_point> lost;
  const auto acquired = std::chrono::steady_clock::now();
  auto lease = WorkerIdLease::acquire(
      db_->url(), 1'200'000, [&lost] { lost.set_value(std::chrono::steady_clock::now()); });
  ASSERT_TRUE(lease.ok());
  // The database stops answering: the lease's row is locked, so a renewal hangs.
  PGconn* blocker = PQconnectdb(db_->url().c_str());
  ASSERT_EQ(PQstatus(blocker), CONNECTION_OK);
  PQclear(PQexec(blocker, "BEGIN"));
  PQclear(PQexec(blocker, ("SELECT * FROM worker_leases WHERE worker_id = " +
                           std::to_string(lease.value()->worker_id()) + " FOR UPDATE")
                              .c_str()));
  auto when = lost.get_future();
  ASSERT_EQ(when.wait_for(std::chrono::seconds(3)), std::future_status::ready);
  // Stopped at ttl - ttl/6 (1 s), before the lease (1.2 s) could pass to another process.
  auto after = when.get() - acquired;
  EXPECT_GE(after, std::chrono::milliseconds(900));
  EXPECT_LT(after, std::chrono::milliseconds(1200));
  PQclear(PQexec(blocker, "ROLLBACK"));
  PQfinish(blocker);
}

// Every node runs a mail sender on the one outbox: a mail another node holds is skipped, so
// each mail goes out once.
TEST_F(PostgresStoreTest, NodesClaimingMailAtOnceNeverGetTheSameMail) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  constexpr int kMails = 60;
  for (int i = 0; i < kMails; ++i)
    a->put_mail(OutboxMail{0, "a@b.cd", "s", "b", 0, 100}, [](Status) {});
  a->flush();
  auto held = std::move(a->claim_due_mail(500, 8).value());
  ASSERT_EQ(held->mail().size(), 8u);
  auto other = std::move(b->claim_due_mail(500, 8).value());
  ASSERT_EQ(other->mail().size(), 8u);
  for (const OutboxMail& m : other->mail())
    for (const OutboxMail& h : held->mail()) ASSERT_NE(m.id, h.id);
  held.reset();  // neither sent: both back in the outbox
  other.reset();

  std::mutex mu;
  std::vector<int64_t> sent;
  auto sender = [&](PostgresStore& node) {
    for (int round = 0; round < kMails; ++round) {  // bounded, should claims ever repeat
      auto claim = node.claim_due_mail(500, 8);
      ASSERT_TRUE(claim.ok()) << claim.error().detail;
      if (claim.value()->mail().empty()) return;
      for (const OutboxMail& m : claim.value()->mail()) {
        claim.value()->sent(m.id, 600);
        std::lock_guard lock(mu);
        sent.push_back(m.id);
      }
      ASSERT_TRUE(claim.value()->commit().ok());
    }
  };
  std::thread ta(sender, std::ref(*a)), tb(sender, std::ref(*b)), tc(sender, std::ref(*a));
  ta.join();
  tb.join();
  tc.join();
  std::sort(sent.begin(), sent.end());
  EXPECT_EQ(sent.size(), static_cast<size_t>(kMails));
  EXPECT_EQ(std::adjacent_find(sent.begin(), sent.end()), sent.end()) << "a mail sent twice";
  EXPECT_EQ(a->unsent_mail_count().value(), 0);
  EXPECT_EQ(value("SELECT count(*) FROM outbox WHERE body <> ''"), "0");  // links gone once sent
}

// A node that dies while sending holds nothing afterwards: its mail is due again at once on
// the other nodes (sent at least once, never lost or held for a lease's length).
TEST_F(PostgresStoreTest, MailClaimedByANodeThatDiedIsDueAgainAtOnce) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(wait_for<void>([&](auto cb) {
                a->put_mail(OutboxMail{0, "a@b.cd", "s", "b", 0, 100}, cb);
              }).ok());
  auto held = std::move(a->claim_due_mail(500, 8).value());
  ASSERT_EQ(held->mail().size(), 1u);
  EXPECT_TRUE(b->claim_due_mail(500, 8).value()->mail().empty());
  // The claiming connection goes away as it would with its process.
  EXPECT_EQ(value("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM "
                  "pg_stat_activity WHERE state LIKE 'idle in transaction%' AND datname = "
                  "current_database()"),
            "1");
  std::vector<OutboxMail> again;
  for (int i = 0; i < 100 && again.empty(); ++i) {
    again = b->claim_due_mail(500, 8).value()->mail();
    if (again.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(again.size(), 1u);
  held->sent(held->mail()[0].id, 600);
  EXPECT_FALSE(held->commit().ok());  // what the dead claim recorded is not kept
}

// Sends n messages to `chat`, one every `every`, without waiting for the acknowledgements;
// returns when all are acknowledged.
void send_paced(PostgresStore& store, int64_t chat, int64_t author, int64_t first_id, int n,
                std::chrono::milliseconds every = std::chrono::milliseconds(2)) {
  std::promise<void> all;
  std::atomic<int> left{n};
  for (int i = 0; i < n; ++i) {
    store.put_message({first_id + i, chat, author, "m", 100 + i, false, std::nullopt},
                      [&](Result<StoredMessage> r) {
                        EXPECT_TRUE(r.ok()) << r.error().detail;
                        if (--left == 0) all.set_value();
                      });
    std::this_thread::sleep_for(every);
  }
  all.get_future().wait();
}

// Writes that keep coming, one every 2 ms, each alone when it arrives: the commit window holds
// a batch open for the next ones, so several share one transaction and one WAL flush.
TEST_F(PostgresStoreTest, WritesThatKeepComingShareCommitsThroughTheWindow) {
  PostgresOptions options;
  options.commit_delay_us = 50'000;
  auto s = open(options);
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  // The first writes teach the window the pace (the time between writes starts at 1 s).
  send_paced(*s, 500, 1, 1000, 60);
  uint64_t commits_before = s->commits();
  constexpr int kWrites = 100;
  send_paced(*s, 500, 1, 2000, kWrites);
  EXPECT_GT(s->commit_windows_held(), 0u);
  EXPECT_LE(s->commits() - commits_before, uint64_t{kWrites} * 6 / 10)
      << "the window grouped nothing";
  EXPECT_EQ(value("SELECT count(*) FROM messages WHERE chat_id = 500"),
            std::to_string(60 + kWrites));
}

// Without a window each write that arrives alone is committed alone, at once.
TEST_F(PostgresStoreTest, WithoutAWindowNoBatchIsHeld) {
  auto s = open();
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  send_paced(*s, 500, 1, 1000, 60);
  EXPECT_EQ(s->commit_windows_held(), 0u);
}

// Closing while the window holds a batch open commits it: nothing queued is lost.
TEST_F(PostgresStoreTest, CloseCommitsWhatTheWindowHolds) {
  PostgresOptions options;
  options.commit_delay_us = 5'000'000;
  auto s = open(options);
  ASSERT_TRUE(s);
  make_user(*s, 1, "ann");
  ASSERT_TRUE(wait_for<GuildState>([&](auto cb) {
                s->create_guild(GuildRecord{500, "g", 1, 1}, cb);
              }).ok());
  // One write every 200 ms: the window (twice the time between writes) is over a second.
  send_paced(*s, 500, 1, 1000, 5, std::chrono::milliseconds(200));
  uint64_t held = s->commit_windows_held();
  std::promise<Result<StoredMessage>> last;
  s->put_message({5000, 500, 1, "held", 900, false, std::nullopt},
                 [&](Result<StoredMessage> r) { last.set_value(std::move(r)); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (s->commit_windows_held() == held && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GT(s->commit_windows_held(), held);
  s->close();
  auto r = last.get_future().get();
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(value("SELECT content FROM messages WHERE id = 5000"), "held");
}

}  // namespace
}  // namespace rwd::store
