// What only the PostgreSQL store has to keep (the rules both stores share are the StoreContract
// suite's): migrations that two processes can run at once, a batch in doubt after a lost
// connection settled instead of acknowledged blindly, and a writer that reconnects by itself.
// Against a real server: REWIND_TEST_DATABASE_URL (tests/scripts/postgres-cluster); skipped
// when it is unset.
#include "store/postgres/postgres_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <future>
#include <thread>

#include "postgres_test_db.h"
#include "store/postgres/migrations.h"

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
  ASSERT_TRUE(wait_for<void>([&](auto cb) { s->put_message(m, cb); }).ok());
  // Sent again (as after a lost connection): still one message.
  ASSERT_TRUE(wait_for<void>([&](auto cb) { s->put_message(m, cb); }).ok());
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
      s->put_message(MessageRecord{1, chat, 1, "x", 1, false, std::nullopt},
                     [&promises, i](Status st) { promises[i].set_value(st); });
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
                 [&acked](Status st) { acked.set_value(st); });
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
                 [&acked](Status st) { acked.set_value(st); });
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
                 [&acked](Status st) { acked.set_value(st); });
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
  ASSERT_TRUE(wait_for<void>([&](auto cb) { s->put_message(m, cb); }).ok());
  EXPECT_TRUE(wait_for<void>([&](auto cb) { s->put_message(m, cb); }).ok());
  MessageRecord other{42, 500, 1, "another", 6, false, std::nullopt};
  Status st = wait_for<void>([&](auto cb) { s->put_message(other, cb); });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::kInternal);
  EXPECT_EQ(value("SELECT count(*) FROM messages WHERE id = 42"), "1");
  EXPECT_EQ(value("SELECT content FROM messages WHERE id = 42"), "hello");
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
    Status st = wait_for<void>([&](auto cb) {
      s->put_message(MessageRecord{100 + i, 500, 1, "m", 10 + i, false, std::nullopt}, cb);
    });
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
    after = wait_for<void>([&](auto cb) {
      s->put_message(MessageRecord{1000 + i, 500, 1, "back", 100 + i, false, std::nullopt}, cb);
    });
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

}  // namespace
}  // namespace rwd::store
