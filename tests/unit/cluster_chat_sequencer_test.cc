// The per-node order of a chat's changes (cluster/chat_sequencer.h) over a real SQLite store:
// in order at once, duplicates dropped, events that cross within the bound reordered, a gap
// filled from the store (sends, edits and deletions as the live path delivers them), a lost
// last change found by a sweep, a change committed after the stream started found by the
// settle check, and the memory bounds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "base/crypto.h"
#include "cluster/chat_sequencer.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_sqlite_store.h"

namespace rwd::cluster {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kOwner = 101;
constexpr int64_t kGuild = 700;  // also its chat's id
const StreamKey kGuildStream{kGuild, 0};

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

template <typename T, typename F>
Result<T> wait_for(F start) {
  std::promise<Result<T>> p;
  start([&](Result<T> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

class ChatSequencerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status opened = store_.open("rewind-sequencer-test");
    ASSERT_TRUE(opened.ok()) << opened.error().detail;
    store::PendingRegistration reg{"owner@example.test",      "owner", "hash",
                                   crypto::sha256_hex("key"), 1000,    int64_t{1} << 60};
    ASSERT_TRUE(
        (wait_for<void>([&](auto cb) {
           store_->put_registration(reg, store::OutboxMail{0, reg.email, "s", "b", 0, 0}, cb);
         }).ok()));
    ASSERT_TRUE((wait_for<store::UserRecord>([&](auto cb) {
                   store_->verify_registration(crypto::sha256_hex("key"), 2000, kOwner, cb);
                 }).ok()));
    ASSERT_TRUE((wait_for<store::GuildState>([&](auto cb) {
                   store_->create_guild({kGuild, "crew", kOwner, 3000}, cb);
                 }).ok()));
  }
  void TearDown() override {
    if (sequencer_) sequencer_->stop();
    pool_.stop();
    sequencer_.reset();
    store_.reset();
  }

  void make(SequencerSettings settings) {
    sequencer_ = std::make_unique<ChatSequencer>(
        settings, *store_, pool_, [this](const StreamKey&, const domain::ChatEvent& e) {
          std::lock_guard lock(mu_);
          got_.push_back(e);
        });
    sequencer_->start();
  }
  // Follows the guild's chat and waits for its start.
  void follow() {
    sequencer_->follow(kGuildStream, {kGuild, true});
    ASSERT_TRUE(wait_until([&] { return sequencer_->watermark(kGuildStream).has_value(); }));
  }

  // Commits a message; returns the event the live path would publish.
  domain::ChatEvent send(int64_t id, const std::string& text) {
    store::MessageRecord rec{id, kGuild, kOwner, text, id * 10, false, std::nullopt, 0};
    auto stored = wait_for<store::StoredMessage>([&](auto cb) { store_->put_message(rec, cb); });
    EXPECT_TRUE(stored.ok());
    domain::ChatEvent e;
    e.message = {id,
                 kGuild,
                 kOwner,
                 text,
                 stored.ok() ? stored->created_us : id * 10,
                 std::nullopt,
                 stored.ok() ? stored->seq : 0};
    e.chat_id = kGuild;
    e.guild = true;
    e.recipients = {kOwner};
    return e;
  }
  int64_t edit(int64_t id, const std::string& text, int64_t now) {
    auto r = wait_for<store::MessageRecord>(
        [&](auto cb) { store_->edit_message(kGuild, id, kOwner, text, now, cb); });
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->seq : 0;
  }

  std::vector<int64_t> seqs() {
    std::lock_guard lock(mu_);
    std::vector<int64_t> out;
    for (const auto& e : got_) out.push_back(e.message.seq);
    return out;
  }
  std::vector<domain::ChatEvent> got() {
    std::lock_guard lock(mu_);
    return got_;
  }

  static SequencerSettings quick() {
    SequencerSettings s;
    s.hold_bound = 50ms;
    s.sweep_interval = 0ms;
    s.settle_check = 10'000ms;
    return s;
  }

  rwd::testing::TempSqliteStore store_;
  ThreadPool pool_{"sequencer-test", 2, 64};
  std::unique_ptr<ChatSequencer> sequencer_;
  std::mutex mu_;
  std::vector<domain::ChatEvent> got_;
};

TEST_F(ChatSequencerTest, EventsInOrderAreDeliveredAtOnce) {
  make(quick());
  follow();
  auto e1 = send(1, "one"), e2 = send(2, "two"), e3 = send(3, "three");
  sequencer_->offer(kGuildStream, e1, false);
  sequencer_->offer(kGuildStream, e2, false);
  sequencer_->offer(kGuildStream, e3, false);
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(sequencer_->counters().held, 0u);
  EXPECT_EQ(sequencer_->watermark(kGuildStream), 3);
}

TEST_F(ChatSequencerTest, ADuplicateIsDroppedAndCounted) {
  make(quick());
  follow();
  auto e1 = send(1, "one");
  sequencer_->offer(kGuildStream, e1, false);
  sequencer_->offer(kGuildStream, e1, false);
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1}));
  EXPECT_EQ(sequencer_->counters().duplicates, 1u);
}

TEST_F(ChatSequencerTest, EventsThatCrossWithinTheBoundAreReordered) {
  auto settings = quick();
  settings.hold_bound = 5000ms;
  make(settings);
  follow();
  auto e1 = send(1, "one"), e2 = send(2, "two");
  sequencer_->offer(kGuildStream, e2, false);
  EXPECT_TRUE(seqs().empty());
  sequencer_->offer(kGuildStream, e1, false);
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(sequencer_->counters().held, 1u);
  EXPECT_EQ(sequencer_->counters().fills, 0u);
}

// 2 waits for 1; 4 comes, then 1: 1 and 2 go, and 4 now waits for 3. Its bound starts when
// 1 closed the first gap, not when 2 came: 3, on its way, is not read from the store.
TEST_F(ChatSequencerTest, EachGapHasItsOwnBound) {
  auto settings = quick();
  settings.hold_bound = 1000ms;
  make(settings);
  follow();
  auto e1 = send(1, "one"), e2 = send(2, "two"), e3 = send(3, "three"), e4 = send(4, "four");
  sequencer_->offer(kGuildStream, e2, false);
  std::this_thread::sleep_for(700ms);
  sequencer_->offer(kGuildStream, e4, false);
  sequencer_->offer(kGuildStream, e1, false);
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2}));
  std::this_thread::sleep_for(600ms);  // past the first gap's bound, within the second's
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(sequencer_->counters().fills, 0u);
  sequencer_->offer(kGuildStream, e3, false);
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(sequencer_->counters().fills, 0u);
}

TEST_F(ChatSequencerTest, AGapIsFilledFromTheStoreAsTheLivePathWouldHaveDeliveredIt) {
  make(quick());
  follow();
  send(1, "one");
  send(2, "two");
  int64_t edited = edit(1, "one, edited", 50'000);
  int64_t deleted = edit(2, "", 60'000);
  auto e5 = send(5, "five");
  ASSERT_EQ(e5.message.seq, 5);
  auto start = std::chrono::steady_clock::now();
  sequencer_->offer(kGuildStream, e5, false);  // 1..4 were lost
  ASSERT_TRUE(wait_until([&] { return seqs().size() == 5; }));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 50ms);  // the hold bound first
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2, edited, deleted, 5}));
  auto events = got();
  EXPECT_EQ(events[0].action, domain::ChatAction::kSend);
  EXPECT_EQ(events[0].message.id, 1);
  EXPECT_EQ(events[0].message.wire_chat_id, kGuild);
  EXPECT_EQ(events[0].message.author_id, kOwner);
  EXPECT_EQ(events[0].message.content, "one");  // as of the send
  EXPECT_FALSE(events[0].message.edited_us);
  EXPECT_TRUE(events[0].guild);
  EXPECT_EQ(events[0].origin.connection, 0u);
  EXPECT_TRUE(events[0].recipients.empty());  // a guild stream: the bus names its members
  EXPECT_EQ(events[2].action, domain::ChatAction::kEdit);
  EXPECT_EQ(events[2].message.id, 1);
  EXPECT_EQ(events[2].message.content, "one, edited");
  EXPECT_EQ(events[2].message.edited_us, 50'000);
  EXPECT_EQ(events[3].action, domain::ChatAction::kEdit);  // a deletion: an edit to nothing
  EXPECT_EQ(events[3].message.id, 2);
  EXPECT_EQ(events[3].message.content, "");
  EXPECT_EQ(events[3].message.edited_us, 60'000);
  EXPECT_EQ(events[4].message.content, "five");
  auto c = sequencer_->counters();
  EXPECT_EQ(c.fills, 1u);
  EXPECT_EQ(c.filled, 4u);
  // The lost ones arriving late are duplicates now.
  sequencer_->offer(kGuildStream, send(6, "six"), false);
  EXPECT_EQ(seqs().back(), 6);
}

TEST_F(ChatSequencerTest, ADirectMessageStreamFillsForItsOwnUser) {
  make(quick());
  StreamKey mine{kGuild, kOwner};
  sequencer_->follow(mine, {12345, false});
  ASSERT_TRUE(wait_until([&] { return sequencer_->watermark(mine).has_value(); }));
  send(1, "one");
  auto e2 = send(2, "two");
  sequencer_->offer(mine, e2, false);
  ASSERT_TRUE(wait_until([&] { return seqs().size() == 2; }));
  auto events = got();
  EXPECT_EQ(events[0].recipients, (std::vector<int64_t>{kOwner}));
  EXPECT_EQ(events[0].message.wire_chat_id, 12345);
  EXPECT_FALSE(events[0].guild);
}

TEST_F(ChatSequencerTest, ALostLastChangeIsFoundByASweep) {
  make(quick());
  follow();
  auto e1 = send(1, "one");
  send(2, "two");  // lost, and nothing after it
  sequencer_->offer(kGuildStream, e1, false);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1}));  // no gap seen
  EXPECT_TRUE(sequencer_->sweep_all());
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(sequencer_->counters().sweeps, 1u);
  EXPECT_EQ(sequencer_->counters().filled, 1u);
}

TEST_F(ChatSequencerTest, APeriodicSweepFindsALostLastChange) {
  auto settings = quick();
  settings.sweep_interval = 100ms;
  make(settings);
  follow();
  send(1, "one");  // lost
  ASSERT_TRUE(wait_until([&] { return seqs().size() == 1; }, 2000ms));
  EXPECT_GE(sequencer_->counters().sweeps, 1u);
}

TEST_F(ChatSequencerTest, AStreamStartsAtTheChatsPositionAndTheSettleCheckCatchesUp) {
  send(1, "before");
  send(2, "before");
  auto settings = quick();
  settings.settle_check = 1000ms;
  make(settings);
  follow();
  EXPECT_EQ(sequencer_->watermark(kGuildStream), 2);  // what came before is history
  send(3, "after the start, lost on the way");
  ASSERT_TRUE(wait_until([&] { return seqs().size() == 1; }, 3000ms));
  EXPECT_EQ(seqs(), (std::vector<int64_t>{3}));
}

TEST_F(ChatSequencerTest, EventsBeforeTheStartAreHeldThenDelivered) {
  make(quick());
  auto e1 = send(1, "one"), e2 = send(2, "two");
  // The pool is busy: the stream's position is read only once both events are in.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(pool_.try_submit([released] { released.wait(); }));
  // Followed by its first event: held until the position is read, yet news here.
  sequencer_->offer(kGuildStream, e2, true);
  sequencer_->offer(kGuildStream, e1, true);
  EXPECT_TRUE(seqs().empty());
  release.set_value();
  ASSERT_TRUE(wait_until([&] { return seqs().size() == 2; }));
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(sequencer_->watermark(kGuildStream), 2);
}

TEST_F(ChatSequencerTest, HeldEventsAreBoundedAndTheDroppedOnesComeFromTheStore) {
  auto settings = quick();
  settings.hold_bound = 10'000ms;  // only the sweep below fills
  settings.max_held_per_stream = 3;
  make(settings);
  follow();
  std::vector<domain::ChatEvent> events;
  for (int64_t id = 1; id <= 6; ++id) events.push_back(send(id, "m" + std::to_string(id)));
  for (size_t i = 1; i < events.size(); ++i) sequencer_->offer(kGuildStream, events[i], false);
  auto c = sequencer_->counters();
  EXPECT_EQ(c.held, 3u);
  EXPECT_EQ(c.held_dropped, 2u);
  EXPECT_TRUE(seqs().empty());
  EXPECT_TRUE(sequencer_->sweep_all());
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(ChatSequencerTest, ASweepFillLongerThanOneTurnContinuesUntilCaughtUp) {
  auto settings = quick();
  settings.fill_page = 2;  // one turn reads 20 pages: 40 changes
  make(settings);
  follow();
  for (int64_t id = 1; id <= 45; ++id) send(id, "m" + std::to_string(id));  // all lost
  EXPECT_TRUE(sequencer_->sweep_all());
  EXPECT_GE(seqs().size(), 40u);
  // No sweep is due again (sweep_interval 0): the rest comes from the fill's next turn.
  ASSERT_TRUE(wait_until([&] { return seqs().size() == 45; }, 2000ms));
  std::vector<int64_t> expected;
  for (int64_t seq = 1; seq <= 45; ++seq) expected.push_back(seq);
  EXPECT_EQ(seqs(), expected);
  EXPECT_EQ(sequencer_->watermark(kGuildStream), 45);
}

TEST_F(ChatSequencerTest, ARefusedSubmissionHandsBackOnlyItsOwnStreams) {
  auto settings = quick();
  settings.retry = 100ms;
  // One thread, and room for one queued task.
  ThreadPool narrow("sequencer-narrow", 1, 1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> gate_entered{false};
  struct Opener {  // whatever happens below, the gate opens before the pool is joined
    std::promise<void>& p;
    bool open = false;
    void operator()() {
      if (!std::exchange(open, true)) p.set_value();
    }
    ~Opener() { (*this)(); }
  } open_gate{release};
  ChatSequencer sequencer(settings, *store_, narrow,
                          [](const StreamKey&, const domain::ChatEvent&) {});
  sequencer.start();
  StreamKey mine{kGuild, kOwner};  // a second stream of the same chat
  sequencer.follow(kGuildStream, {kGuild, true});
  sequencer.follow(mine, {kGuild, false});
  ASSERT_TRUE(wait_until([&] {
    return sequencer.watermark(kGuildStream).has_value() && sequencer.watermark(mine).has_value();
  }));
  ASSERT_TRUE(narrow.try_submit([released, &gate_entered] {
    gate_entered = true;
    released.wait();
  }));
  ASSERT_TRUE(wait_until([&] { return gate_entered.load(); }));
  send(1, "one");  // lost
  auto e2 = send(2, "two");
  sequencer.offer(kGuildStream, e2, false);  // 1 is missing: after the bound, its fill queues
  ASSERT_TRUE(wait_until([&] { return sequencer.filling(kGuildStream); }));
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(sequencer.counters().read_failures, 0u);  // accepted: the queue is full now
  domain::ChatEvent e2_mine = e2;
  e2_mine.recipients = {kOwner};
  e2_mine.guild = false;
  sequencer.offer(mine, e2_mine, false);  // its fill is refused
  ASSERT_TRUE(wait_until([&] { return sequencer.counters().read_failures >= 1; }));
  // The guild stream's fill, still queued, still owns the stream's reads.
  EXPECT_TRUE(sequencer.filling(kGuildStream));
  open_gate();
  ASSERT_TRUE(wait_until(
      [&] { return sequencer.watermark(kGuildStream) == 2 && sequencer.watermark(mine) == 2; }));
  sequencer.stop();
  narrow.stop();
}

TEST_F(ChatSequencerTest, StreamsAreBoundedAndAnUnfollowedStreamIsForgotten) {
  auto settings = quick();
  settings.max_streams = 2;
  make(settings);
  sequencer_->follow({1, 1}, {1, false});
  sequencer_->follow({1, 2}, {1, false});
  sequencer_->follow({2, 1}, {2, false});
  EXPECT_EQ(sequencer_->counters().streams, 2u);
  EXPECT_FALSE(sequencer_->following({2, 1}));
  auto e1 = send(1, "one");
  sequencer_->offer(kGuildStream, e1, true);  // no room: delivered as it came
  EXPECT_EQ(seqs(), (std::vector<int64_t>{1}));
  EXPECT_EQ(sequencer_->counters().unsequenced, 1u);
  sequencer_->unfollow_user(1);
  EXPECT_FALSE(sequencer_->following({1, 1}));
  EXPECT_TRUE(sequencer_->following({1, 2}));
  sequencer_->unfollow({1, 2});
  EXPECT_EQ(sequencer_->counters().streams, 0u);
}

}  // namespace
}  // namespace rwd::cluster
