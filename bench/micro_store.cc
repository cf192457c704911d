// rewind-microbench, the SQLite store alone: what a commit of N chat messages costs the
// process (every thread: the caller, the writer, its callbacks) through SqliteStore, with no
// network and no protocol. Set beside `dm --rate` of rewind-bench, it separates the store's
// cost per message at a given batch size from the rest of the server's (BENCHMARKS.md).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "base/crypto.h"
#include "store/sqlite/sqlite_store.h"

namespace {

namespace fs = std::filesystem;
using namespace rwd;
using namespace rwd::store;

// Waits for a number of callbacks from the store's threads.
class Countdown {
 public:
  void reset(int n) {
    std::lock_guard lock(mu_);
    left_ = n;
    failed_ = false;
  }
  void done(bool ok) {
    std::lock_guard lock(mu_);
    if (!ok) failed_ = true;
    if (--left_ == 0) cv_.notify_one();
  }
  // False when a callback reported a failure.
  bool wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return left_ == 0; });
    return !failed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int left_ = 0;
  bool failed_ = false;
};

// A store in the working directory (the disk the server would use) with `chats` direct
// chats, each between two users of its own, made through the real registration and
// friendship paths.
class StoreWithChats {
 public:
  explicit StoreWithChats(int chats)
      : dir_(fs::current_path() / ("rewind-microbench-store-" + std::to_string(::getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto opened = SqliteStore::open((dir_ / "rewind.db").string(), SqliteOptions{});
    if (!opened.ok()) {
      error_ = opened.error().detail;
      return;
    }
    store_ = std::move(opened.value());
    for (int i = 0; i < chats && error_.empty(); ++i) {
      int64_t a = 1000 + 2 * i, b = a + 1, chat = 500'000 + i;
      if (!make_user(a) || !make_user(b)) break;
      Countdown wait;
      wait.reset(1);
      store_->request_friend(a, b, chat, 3000,
                             [&](Result<FriendRequestOutcome> r) { wait.done(r.ok()); });
      if (!wait.wait()) error_ = "a friend request failed";
      wait.reset(1);
      store_->accept_friend(b, a, chat, 3000, [&](Result<int64_t> r) { wait.done(r.ok()); });
      if (!wait.wait()) error_ = "accepting a friend request failed";
      chats_.push_back(chat);
      authors_.push_back(a);
    }
  }
  ~StoreWithChats() {
    store_.reset();
    fs::remove_all(dir_);
  }

  const std::string& error() const { return error_; }
  SqliteStore& store() { return *store_; }
  int64_t chat(size_t i) const { return chats_[i]; }
  int64_t author(size_t i) const { return authors_[i]; }

 private:
  bool make_user(int64_t id) {
    std::string name = "user" + std::to_string(id);
    PendingRegistration reg{
        name + "@example.test", name, "hash", crypto::sha256_hex("key-" + name), 1000,
        1'000'000'000'000'000};
    Countdown wait;
    wait.reset(1);
    store_->put_registration(reg, OutboxMail{0, reg.email, "s", "b", 0, 0},
                             [&](Result<void> r) { wait.done(r.ok()); });
    if (!wait.wait()) return error_ = "a registration failed", false;
    wait.reset(1);
    store_->verify_registration(crypto::sha256_hex("key-" + name), 2000, id,
                                [&](Result<UserRecord> r) { wait.done(r.ok()); });
    if (!wait.wait()) return error_ = "a verification failed", false;
    return true;
  }

  fs::path dir_;
  std::unique_ptr<SqliteStore> store_;
  std::vector<int64_t> chats_, authors_;
  std::string error_;
};

// One commit of N messages, each to a chat of its own (as at a moderate rate, where the few
// messages of a commit come from different conversations): the writer is held while they are
// queued, so they share one transaction and one sync, then every acknowledgement is awaited.
void BM_StoreCommitMessages(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  StoreWithChats db(n);
  if (!db.error().empty()) {
    state.SkipWithError(db.error().c_str());
    return;
  }
  const std::string text = "a chat message of about the length people type, forty-odd bytes";
  int64_t id = 1'000'000, at = 10'000'000;
  Countdown acks;
  const uint64_t commits_before = db.store().commits();
  for (auto _ : state) {
    acks.reset(n);
    db.store().pause_writer_for_test();
    for (int i = 0; i < n; ++i) {
      db.store().put_message(
          MessageRecord{++id, db.chat(i), db.author(i), text, ++at, false, std::nullopt},
          [&](Result<StoredMessage> r) { acks.done(r.ok()); });
    }
    db.store().resume_writer_for_test();
    if (!acks.wait()) {
      state.SkipWithError("a message was not stored");
      return;
    }
  }
  const double commits = static_cast<double>(db.store().commits() - commits_before);
  // One when every iteration was one transaction (the CPU time is then per commit of N).
  state.counters["msgs_per_commit"] =
      commits > 0 ? static_cast<double>(state.iterations()) * n / commits : 0;
}
// 1: a message alone in its commit; 3: what a commit holds at 2,000 messages/s (2.96 on
// average, BENCHMARKS.md); 10: a busier server. Larger batches are not shown: there this
// process's own frees of the callers' records (made on the caller, freed on the writer) make
// glibc give memory back with madvise every commit, which the server does not do.
BENCHMARK(BM_StoreCommitMessages)
    ->Arg(1)
    ->Arg(3)
    ->Arg(10)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
