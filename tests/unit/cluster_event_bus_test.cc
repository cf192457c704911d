// Three nodes' event buses over one in-memory broker (loopback_broker.h), sharing one real
// SQLite store as the nodes of a cluster share their database: events reach every node that
// hosts a recipient, once per recipient; directory changes made on one node are applied on
// the others; subscriptions follow sessions and guild membership; malformed messages are
// counted and dropped; a reconnect after a gap reloads the directory; chat messages the broker
// lost are filled from the store, once and in order; a lost directory change is noticed.
#include "cluster/cluster_event_bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/crypto.h"
#include "base/snowflake.h"
#include "cluster/envelope_codec.h"
#include "domain/chats.h"
#include "domain/guilds.h"
#include "domain/social.h"
#include "loopback_broker.h"
#include "store/sqlite/sqlite_store.h"
#include "temp_sqlite_store.h"

namespace rwd::cluster {
namespace {

using namespace domain;
using namespace std::chrono_literals;
using rwd::testing::LoopbackBroker;
using rwd::testing::LoopbackServer;

constexpr auto kUnsubscribeDelay = 150ms;

template <typename Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// One node: its Directory loaded from the shared store, its broker client, its bus, and a
// subscriber that records what it is given.
struct Node {
  Node(const std::string& name, LoopbackServer& server, store::Store& store, const Clock& clock)
      : broker(server),
        pool("reload-" + name, 1, 16),
        bus(ClusterSettings{name, kUnsubscribeDelay, 50ms}, broker, directory, store, pool, clock) {
    auto snapshot = store.load_directory(clock.now_us());
    EXPECT_TRUE(snapshot.ok());
    directory.load(snapshot.value());
    bus.subscribe([this](const Event& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    });
    bus.set_resync_hook([this] { ++resyncs; });
    bus.start();
    broker.start();
  }
  ~Node() {
    broker.stop();
    bus.stop();
    pool.stop();
  }

  // How many times `user` was given an event on this node.
  int deliveries(int64_t user) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& event : events) {
      std::visit(
          [&](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, FriendEvent>) {
              n += (e.tell_target && e.target.id == user) + (e.tell_actor && e.actor.id == user);
            } else if constexpr (std::is_same_v<T, TokenRevokedEvent> ||
                                 std::is_same_v<T, ReadEvent>) {
              n += e.user_id == user;
            } else {
              n += static_cast<int>(std::count(e.recipients.begin(), e.recipients.end(), user));
            }
          },
          event);
    }
    return n;
  }
  std::vector<Event> taken() {
    std::lock_guard lock(mu);
    return std::exchange(events, {});
  }
  bool subscribed(LoopbackServer& server, const std::string& channel) {
    return server.subscribed(&broker, channel);
  }

  Directory directory;
  LoopbackBroker broker;
  ThreadPool pool;
  ClusterEventBus bus;
  std::mutex mu;
  std::vector<Event> events;  // guarded by mu
  std::atomic<int> resyncs{0};
};

class ClusterEventBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status opened = store_.open("rewind-cluster-test");
    ASSERT_TRUE(opened.ok()) << opened.error().detail;
    alice_ = make_user("alice", 101);
    bob_ = make_user("bob", 102);
    carol_ = make_user("carol", 103);
    a_ = std::make_unique<Node>("node-a", server_, *store_, clock_);
    b_ = std::make_unique<Node>("node-b", server_, *store_, clock_);
    c_ = std::make_unique<Node>("node-c", server_, *store_, clock_);
    // Each node reloads once when its broker first reports up.
    ASSERT_TRUE(wait_until([&] {
      return a_->bus.counters().reloads == 1 && b_->bus.counters().reloads == 1 &&
             c_->bus.counters().reloads == 1;
    }));
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    c_.reset();
    store_.reset();
  }

  UserView make_user(const std::string& name, int64_t id) {
    store::PendingRegistration reg{
        name + "@example.test", name, "hash", crypto::sha256_hex("key-" + name), 1000,
        int64_t{1} << 60};
    std::promise<Status> put;
    store_->put_registration(reg, {0, reg.email, "s", "b", 0, 0},
                             [&](Status s) { put.set_value(s); });
    EXPECT_TRUE(put.get_future().get().ok());
    std::promise<Result<store::UserRecord>> verified;
    store_->verify_registration(crypto::sha256_hex("key-" + name), 2000, id,
                                [&](Result<store::UserRecord> r) { verified.set_value(r); });
    EXPECT_TRUE(verified.get_future().get().ok());
    return UserView{id, name, std::nullopt};
  }

  // Runs a service call on its Done and waits for the outcome.
  template <typename Call>
  Status run(Call call) {
    auto done = std::make_shared<std::promise<Status>>();
    auto future = done->get_future();
    call([done](Status s) { done->set_value(std::move(s)); });
    return future.get();
  }
  // The same for Chats::send, whose answer may be a message (a retried nonce): its status.
  template <typename Call>
  Status run_send(Call call) {
    return run([&](auto done) {
      call([done](Result<std::optional<ChatMessage>> r) {
        done(r.ok() ? Status() : Status(r.error()));
      });
    });
  }

  static ChatEvent direct_message(const UserView& from, const UserView& to) {
    ChatEvent e;
    e.message = {9001, from.id ^ to.id, from.id, "hello", 1'000'000, std::nullopt};
    e.recipients = {from.id, to.id};
    e.origin = {7, "req-1", ""};
    return e;
  }

  SystemClock clock_;
  SnowflakeGenerator ids_{1};
  rwd::testing::TempSqliteStore store_;
  LoopbackServer server_;
  std::unique_ptr<Node> a_, b_, c_;
  UserView alice_, bob_, carol_;
};

TEST_F(ClusterEventBusTest, ADirectMessageReachesEachRecipientOnceOnEveryNode) {
  a_->bus.watch_user(alice_.id);
  b_->bus.watch_user(bob_.id);
  c_->bus.watch_user(alice_.id);
  c_->bus.watch_user(bob_.id);
  a_->bus.publish(direct_message(alice_, bob_));
  server_.drain();
  // A delivered it to its subscribers at once (to alice: bob has no session there) and
  // ignored its own echo on rw:u:alice.
  EXPECT_EQ(a_->deliveries(alice_.id), 1);
  EXPECT_EQ(a_->deliveries(bob_.id), 0);
  EXPECT_EQ(a_->taken().size(), 1u);
  EXPECT_EQ(a_->bus.counters().own_echoes, 1u);
  EXPECT_EQ(a_->bus.counters().published, 2u);  // one PUBLISH per member
  EXPECT_EQ(b_->deliveries(bob_.id), 1);
  EXPECT_EQ(b_->deliveries(alice_.id), 0);
  EXPECT_EQ(c_->deliveries(alice_.id), 1);
  EXPECT_EQ(c_->deliveries(bob_.id), 1);
  // The origin is A's connection: it must not match a connection of B or C.
  for (auto* node : {b_.get(), c_.get()})
    for (const auto& e : node->taken()) {
      const auto& chat = std::get<ChatEvent>(e);
      EXPECT_EQ(chat.origin.connection, 0u);
      EXPECT_EQ(chat.message.content, "hello");
    }
}

TEST_F(ClusterEventBusTest, ANodeWithoutTheRecipientsGetsNothing) {
  a_->bus.watch_user(alice_.id);
  c_->bus.watch_user(carol_.id);
  a_->bus.publish(direct_message(alice_, bob_));
  server_.drain();
  EXPECT_TRUE(b_->taken().empty());
  EXPECT_TRUE(c_->taken().empty());
  EXPECT_EQ(c_->bus.counters().received, 0u);
}

TEST_F(ClusterEventBusTest, AFriendEventTellsEachSideOnce) {
  c_->bus.watch_user(alice_.id);
  c_->bus.watch_user(bob_.id);
  b_->bus.watch_user(bob_.id);
  a_->bus.publish(FriendEvent{FriendAction::kRequest, bob_, alice_, 42});
  server_.drain();
  EXPECT_EQ(c_->deliveries(alice_.id), 1);
  EXPECT_EQ(c_->deliveries(bob_.id), 1);
  EXPECT_EQ(b_->deliveries(bob_.id), 1);
  EXPECT_EQ(b_->deliveries(alice_.id), 0);
  for (const auto& e : c_->taken()) EXPECT_EQ(std::get<FriendEvent>(e).origin, 0u);
}

TEST_F(ClusterEventBusTest, ATokenRevocationReachesTheUsersNodes) {
  b_->bus.watch_user(bob_.id);
  a_->bus.publish(TokenRevokedEvent{bob_.id, "hash"});
  server_.drain();
  auto events = b_->taken();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(std::get<TokenRevokedEvent>(events[0]).token_hash, "hash");
  EXPECT_TRUE(c_->taken().empty());
}

TEST_F(ClusterEventBusTest, ASessionIsReadyOnceTheBrokerConfirmedItsUsersChannels) {
  std::atomic<bool> ready{false};
  server_.pause(true);  // the confirmations wait
  b_->bus.watch_user(bob_.id);
  EXPECT_FALSE(b_->bus.when_receiving(bob_.id, [&] { ready = true; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(ready);
  server_.pause(false);
  ASSERT_TRUE(wait_until([&] { return ready.load(); }, 1000ms));
  EXPECT_EQ(b_->bus.counters().receive_waits, 1u);
  EXPECT_EQ(b_->bus.counters().receive_wait_timeouts, 0u);
  // A second session of the user: the channel is confirmed already.
  EXPECT_TRUE(b_->bus.when_receiving(bob_.id, [] { ADD_FAILURE() << "called"; }));
  EXPECT_EQ(b_->bus.counters().receive_waits, 1u);
}

TEST_F(ClusterEventBusTest, AConfirmationThatDoesNotComeIsWaitedForBoundedAndCounted) {
  std::atomic<bool> ready{false};
  server_.pause(true);
  c_->bus.watch_user(carol_.id);
  auto asked = std::chrono::steady_clock::now();
  EXPECT_FALSE(c_->bus.when_receiving(carol_.id, [&] { ready = true; }));
  ASSERT_TRUE(wait_until([&] { return ready.load(); }, 4000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 1900ms);  // the 2 s bound
  EXPECT_EQ(c_->bus.counters().receive_wait_timeouts, 1u);
  server_.pause(false);
}

TEST_F(ClusterEventBusTest, NothingIsWaitedForWhileTheBrokerIsDown) {
  server_.set_up(false);
  server_.drain();
  a_->bus.watch_user(alice_.id);
  EXPECT_TRUE(a_->bus.when_receiving(alice_.id, [] { ADD_FAILURE() << "called"; }));
  EXPECT_EQ(a_->bus.counters().receive_waits, 0u);
  server_.set_up(true);
  server_.drain();
}

TEST_F(ClusterEventBusTest, DirectoryChangesMadeOnOneNodeAreAppliedOnTheOthers) {
  Social social_a(*store_, a_->directory, a_->bus, ids_, clock_, 100, 60'000'000);
  Social social_b(*store_, b_->directory, b_->bus, ids_, clock_, 100, 60'000'000);
  ASSERT_TRUE(run([&](auto done) { social_a.request(alice_, 1, "bob", done); }).ok());
  server_.drain();
  EXPECT_TRUE(b_->directory.has_request(alice_.id, bob_.id));
  EXPECT_TRUE(c_->directory.has_request(alice_.id, bob_.id));
  // Bob accepts on B, where the request came from A.
  ASSERT_TRUE(run([&](auto done) { social_b.respond(bob_, 1, "alice", done); }).ok());
  server_.drain();
  for (auto* node : {a_.get(), c_.get()}) {
    EXPECT_TRUE(node->directory.are_friends(alice_.id, bob_.id));
    EXPECT_EQ(node->directory.dm_chat(alice_.id, bob_.id),
              b_->directory.dm_chat(bob_.id, alice_.id));
    EXPECT_FALSE(node->directory.has_request(alice_.id, bob_.id));
  }
  // A user verified on A can log in on C; a token issued on A is known on B; its removal too.
  a_->directory.apply(
      change::UserAdded{{104, "dave", "Dave@example.test", "phc", std::nullopt, 5}});
  int64_t now = clock_.now_us();
  a_->directory.apply(change::TokenAdded{{"tok", 104, now, now + 60'000'000}});
  server_.drain();
  auto creds = c_->directory.credentials_by_email("dave@example.test");
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->password_hash, "phc");
  EXPECT_EQ(b_->directory.token_user("tok", now), std::optional<int64_t>(104));
  a_->directory.apply(change::TokenRemoved{"tok"});
  server_.drain();
  EXPECT_EQ(b_->directory.token_user("tok", now), std::nullopt);
  // Applied as remote there: B and C published nothing on rw:dir.
  // B and C applied the others' changes; B's own acceptance came back to it as an echo only.
  EXPECT_EQ(b_->bus.counters().remote_changes, 4u);
  EXPECT_EQ(c_->bus.counters().remote_changes, 5u);
  EXPECT_EQ(a_->bus.counters().remote_changes, 1u);
}

TEST_F(ClusterEventBusTest, GuildChannelsFollowMembershipMadeOnAnotherNode) {
  Social social_a(*store_, a_->directory, a_->bus, ids_, clock_, 100, 60'000'000);
  Guilds guilds_a(GuildSettings{}, *store_, a_->directory, a_->bus, ids_, clock_);
  ASSERT_TRUE(run([&](auto done) { social_a.request(alice_, 1, "bob", done); }).ok());
  ASSERT_TRUE(run([&](auto done) { social_a.request(bob_, 2, "alice", done); }).ok());
  a_->bus.watch_user(alice_.id);
  b_->bus.watch_user(bob_.id);
  c_->bus.watch_user(alice_.id);
  c_->bus.watch_user(bob_.id);
  ASSERT_TRUE(run([&](auto done) { guilds_a.create(alice_, "crew", {}, done); }).ok());
  server_.drain();
  auto guilds = a_->directory.guild_summaries_of(alice_.id);
  ASSERT_EQ(guilds.size(), 1u);
  const int64_t guild = guilds[0].id;
  const std::string channel = "rw:g:" + std::to_string(guild);
  EXPECT_TRUE(a_->subscribed(server_, channel));
  EXPECT_TRUE(c_->subscribed(server_, channel));  // alice is on C too
  EXPECT_FALSE(b_->subscribed(server_, channel));
  EXPECT_EQ(c_->deliveries(alice_.id), 1);  // created: through rw:u:alice only
  c_->taken();
  a_->taken();

  // Bob is added on A: B, where bob is, must follow the guild, and bob hears he joined once.
  ASSERT_TRUE(run([&](auto done) { guilds_a.add(alice_, guild, "bob", {}, done); }).ok());
  server_.drain();
  EXPECT_TRUE(b_->subscribed(server_, channel));
  EXPECT_EQ(b_->deliveries(bob_.id), 1);
  EXPECT_EQ(c_->deliveries(alice_.id), 1);
  EXPECT_EQ(c_->deliveries(bob_.id), 1);
  a_->taken();
  b_->taken();
  c_->taken();

  // A guild message: one PUBLISH, each online member once on each node.
  ChatEvent chat;
  chat.guild = true;
  chat.message = {5000, guild, alice_.id, "to the crew", 1, std::nullopt};
  chat.recipients = {alice_.id, bob_.id};
  chat.origin = {3, "r", ""};
  uint64_t before = a_->bus.counters().published;
  a_->bus.publish(chat);
  server_.drain();
  EXPECT_EQ(a_->bus.counters().published, before + 1);
  EXPECT_EQ(a_->deliveries(alice_.id), 1);
  EXPECT_EQ(b_->deliveries(bob_.id), 1);
  EXPECT_EQ(b_->deliveries(alice_.id), 0);
  EXPECT_EQ(c_->deliveries(alice_.id), 1);
  EXPECT_EQ(c_->deliveries(bob_.id), 1);
  b_->taken();
  c_->taken();

  // Bob is removed on A: he hears it once on B, and B leaves the channel after the delay.
  ASSERT_TRUE(run([&](auto done) { guilds_a.remove(alice_, guild, "bob", {}, done); }).ok());
  server_.drain();
  EXPECT_EQ(b_->deliveries(bob_.id), 1);
  EXPECT_EQ(c_->deliveries(bob_.id), 1);
  EXPECT_EQ(c_->deliveries(alice_.id), 1);
  EXPECT_TRUE(b_->subscribed(server_, channel));  // not at once: the delay
  EXPECT_TRUE(wait_until([&] { return !b_->subscribed(server_, channel); }));
  EXPECT_TRUE(c_->subscribed(server_, channel));  // alice is still on C
}

TEST_F(ClusterEventBusTest, SubscriptionsFollowWatchAndUnwatchAfterADelay) {
  const std::string channel = "rw:u:" + std::to_string(bob_.id);
  EXPECT_TRUE(b_->subscribed(server_, "rw:dir"));
  EXPECT_FALSE(b_->subscribed(server_, channel));
  b_->bus.watch_user(bob_.id);
  EXPECT_TRUE(b_->subscribed(server_, channel));
  b_->bus.unwatch_user(bob_.id);
  EXPECT_TRUE(b_->subscribed(server_, channel));
  EXPECT_TRUE(wait_until([&] { return !b_->subscribed(server_, channel); }));
  // A reconnect within the delay keeps the subscription.
  b_->bus.watch_user(bob_.id);
  b_->bus.unwatch_user(bob_.id);
  std::this_thread::sleep_for(kUnsubscribeDelay / 3);
  b_->bus.watch_user(bob_.id);
  std::this_thread::sleep_for(kUnsubscribeDelay * 3);
  EXPECT_TRUE(b_->subscribed(server_, channel));
}

TEST_F(ClusterEventBusTest, MalformedMessagesAreCountedAndNeverDelivered) {
  b_->bus.watch_user(bob_.id);
  const std::string user_channel = "rw:u:" + std::to_string(bob_.id);
  ChatEvent dm = direct_message(alice_, bob_);
  std::string valid_event = encode_envelope("node-x", Event{dm});
  std::string valid_change = encode_envelope("node-x", DirectoryChange{change::GuildErased{1}});
  ChatEvent guild_chat = dm;
  guild_chat.guild = true;
  guild_chat.message.wire_chat_id = 777;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {user_channel, "not json"},
      {user_channel, "{\"origin\":\"node-x\",\"kind\":\"chat\"}"},
      {user_channel, "{\"origin\":\"node-x\",\"kind\":\"poke\",\"fields\":{}}"},
      {user_channel,
       "{\"origin\":\"node-x\",\"kind\":\"token_revoked\",\"fields\":{\"user\":\"102\","
       "\"token_hash\":\"h\"}}"},
      {user_channel, "{\"origin\":\"node-x\",\"kind\":\"token_revoked\",\"fields\":{}}"},
      {"rw:dir", valid_event},       // an event on the changes' channel
      {user_channel, valid_change},  // a change on a user's channel
      {"rw:g:778", encode_envelope("node-x", Event{guild_chat})},  // another guild's message
  };
  for (const auto& [channel, payload] : bad) server_.inject(channel, payload);
  server_.drain();
  EXPECT_EQ(b_->bus.counters().decode_failures, bad.size() - 1);  // B does not follow rw:g:778
  EXPECT_EQ(b_->bus.counters().received, bad.size() - 1);
  EXPECT_TRUE(b_->taken().empty());
  EXPECT_TRUE(b_->directory.user(bob_.id));
  // And the bus goes on.
  server_.inject(user_channel, valid_event);
  server_.drain();
  EXPECT_EQ(b_->deliveries(bob_.id), 1);
}

TEST_F(ClusterEventBusTest, AReconnectAfterAGapReloadsTheDirectory) {
  Social social_a(*store_, a_->directory, a_->bus, ids_, clock_, 100, 60'000'000);
  // The change's message is lost between the nodes (the broker dropped it).
  server_.drop_next(1);
  ASSERT_TRUE(run([&](auto done) { social_a.request(alice_, 1, "carol", done); }).ok());
  server_.drain();
  EXPECT_TRUE(a_->directory.has_request(alice_.id, carol_.id));
  EXPECT_FALSE(b_->directory.has_request(alice_.id, carol_.id));
  // The link goes down and comes back: every node reloads from the store, then resyncs.
  server_.set_up(false);
  server_.set_up(true);
  ASSERT_TRUE(wait_until([&] { return b_->bus.counters().reloads == 2; }));
  EXPECT_TRUE(b_->directory.has_request(alice_.id, carol_.id));
  EXPECT_TRUE(wait_until([&] { return b_->resyncs == 2 && c_->bus.counters().reloads == 2; }));
  EXPECT_TRUE(c_->directory.has_request(alice_.id, carol_.id));
  EXPECT_TRUE(a_->directory.has_request(alice_.id, carol_.id));
}

TEST_F(ClusterEventBusTest, ChatMessagesTheBrokerLostAreFilledFromTheStoreOnceAndInOrder) {
  Social social_a(*store_, a_->directory, a_->bus, ids_, clock_, 100, 60'000'000);
  Social social_b(*store_, b_->directory, b_->bus, ids_, clock_, 100, 60'000'000);
  ASSERT_TRUE(run([&](auto done) { social_a.request(alice_, 1, "bob", done); }).ok());
  server_.drain();
  ASSERT_TRUE(run([&](auto done) { social_b.respond(bob_, 1, "alice", done); }).ok());
  server_.drain();
  a_->bus.watch_user(alice_.id);
  b_->bus.watch_user(bob_.id);
  ASSERT_TRUE(wait_until([&] { return b_->bus.sequencer_counters().streams == 1; }));
  std::this_thread::sleep_for(700ms);  // the stream started, and its settle sweep is done
  a_->taken();
  b_->taken();
  ThreadPool reads("reads", 1, 16);
  Chats chats_a(ChatSettings{}, *store_, a_->directory, a_->bus, reads, ids_, clock_);
  const int64_t chat = alice_.id ^ bob_.id;
  auto say = [&](const std::string& text, int lost) {
    server_.drop_next(lost);  // rw:u:alice, then rw:u:bob
    ASSERT_TRUE(run_send([&](auto done) { chats_a.send(alice_, chat, text, {}, done); }).ok());
    server_.drain();
  };
  say("one", 0);
  say("two", 2);  // lost on the way; "three" reveals the gap
  say("three", 0);
  ASSERT_TRUE(wait_until([&] { return b_->deliveries(bob_.id) == 3; }));
  say("four", 2);  // lost, and nothing after it: the sweep after a reconnect finds it
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(b_->deliveries(bob_.id), 3);
  server_.set_up(false);
  server_.set_up(true);
  ASSERT_TRUE(wait_until([&] { return b_->deliveries(bob_.id) == 4; }));
  std::this_thread::sleep_for(300ms);  // nothing more, nothing twice
  std::vector<std::string> got;
  for (const auto& e : b_->taken()) got.push_back(std::get<ChatEvent>(e).message.content);
  EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three", "four"}));
  EXPECT_GE(b_->bus.sequencer_counters().fills, 2u);
  EXPECT_EQ(b_->bus.sequencer_counters().filled, 2u);
  // A delivered its own commits at once, each once.
  EXPECT_EQ(a_->deliveries(alice_.id), 4);
  reads.stop();
}

// A and B are friends, each online on their node, B's stream of their chat started: what A
// then sends is B's to receive. Returns the chat.
int64_t chat_of_online_friends(Node& a, Node& b, LoopbackServer& server, store::Store& store,
                               SnowflakeGenerator& ids, const Clock& clock, const UserView& alice,
                               const UserView& bob) {
  Social social_a(store, a.directory, a.bus, ids, clock, 100, 60'000'000);
  Social social_b(store, b.directory, b.bus, ids, clock, 100, 60'000'000);
  std::promise<Status> asked, answered;
  social_a.request(alice, 1, bob.name, [&](Status s) { asked.set_value(s); });
  EXPECT_TRUE(asked.get_future().get().ok());
  server.drain();
  social_b.respond(bob, 1, alice.name, [&](Status s) { answered.set_value(s); });
  EXPECT_TRUE(answered.get_future().get().ok());
  server.drain();
  a.bus.watch_user(alice.id);
  b.bus.watch_user(bob.id);
  EXPECT_TRUE(wait_until([&] { return b.bus.sequencer_counters().streams == 1; }));
  std::this_thread::sleep_for(700ms);  // the stream started, and its settle sweep is done
  a.taken();
  b.taken();
  return alice.id ^ bob.id;
}

// Alice's last session on B closed (she went on on A): B keeps her channel a while for a
// reconnect, and what she sends arrives there. Nobody on B reads it: B must not follow her
// side of the chat (a stream that would see only her channel's half of the chat and fill the
// rest from the store for nobody).
TEST_F(ClusterEventBusTest, AChannelKeptAfterTheLastSessionLeftStartsNoStream) {
  const int64_t chat =
      chat_of_online_friends(*a_, *b_, server_, *store_, ids_, clock_, alice_, bob_);
  b_->bus.watch_user(alice_.id);
  ASSERT_TRUE(wait_until([&] { return b_->bus.sequencer_counters().streams == 2; }));
  b_->bus.unwatch_user(alice_.id);
  EXPECT_EQ(b_->bus.sequencer_counters().streams, 1u);
  ASSERT_TRUE(b_->subscribed(server_, "rw:u:" + std::to_string(alice_.id)));
  ThreadPool reads("reads", 1, 16);
  Chats chats_a(ChatSettings{}, *store_, a_->directory, a_->bus, reads, ids_, clock_);
  ASSERT_TRUE(run_send([&](auto done) { chats_a.send(alice_, chat, "moved", {}, done); }).ok());
  server_.drain();
  ASSERT_TRUE(wait_until([&] { return b_->deliveries(bob_.id) == 1; }));
  EXPECT_EQ(b_->bus.counters().unwatched, 1u);
  EXPECT_EQ(b_->bus.sequencer_counters().streams, 1u);
  EXPECT_EQ(b_->deliveries(alice_.id), 0);
  reads.stop();
}

// A's own link is down while B's stays up: what A publishes meanwhile is dropped, and nothing
// B receives shows a gap (the message was the chat's last). Once A's link is back, A says so
// on rw:dir and every other node reloads and sweeps: B gets the message from the store.
TEST_F(ClusterEventBusTest, WhatANodePublishedWhileItsOwnLinkWasDownIsAnnouncedAndFilledElsewhere) {
  const int64_t chat =
      chat_of_online_friends(*a_, *b_, server_, *store_, ids_, clock_, alice_, bob_);
  ThreadPool reads("reads", 1, 16);
  Chats chats_a(ChatSettings{}, *store_, a_->directory, a_->bus, reads, ids_, clock_);
  a_->broker.cut(true);
  ASSERT_TRUE(wait_until([&] { return !a_->broker.up(); }));
  server_.drain();
  ASSERT_TRUE(
      run_send([&](auto done) { chats_a.send(alice_, chat, "while cut off", {}, done); }).ok());
  EXPECT_EQ(a_->deliveries(alice_.id), 1);  // A's own subscribers had it at once
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(b_->deliveries(bob_.id), 0);
  EXPECT_EQ(a_->bus.counters().resyncs_announced, 0u);  // not while down: nobody would hear
  a_->broker.cut(false);
  ASSERT_TRUE(wait_until([&] { return b_->deliveries(bob_.id) == 1; }));
  EXPECT_EQ(std::get<ChatEvent>(b_->taken().at(0)).message.content, "while cut off");
  EXPECT_EQ(a_->bus.counters().resyncs_announced, 1u);
  EXPECT_TRUE(wait_until([&] {
    return b_->bus.counters().resyncs_received == 1 && c_->bus.counters().resyncs_received == 1;
  }));
  EXPECT_EQ(a_->bus.counters().resyncs_received, 0u);  // its own notice is an echo
  std::this_thread::sleep_for(300ms);                  // nothing twice
  EXPECT_TRUE(b_->taken().empty());
  reads.stop();
}

// The link is up but the broker refuses a publish (its queue to the server is full): the
// node says so at once, and the others fill what it lost.
TEST_F(ClusterEventBusTest, APublishTheBrokerRefusedWhileUpIsAnnouncedAtOnce) {
  const int64_t chat =
      chat_of_online_friends(*a_, *b_, server_, *store_, ids_, clock_, alice_, bob_);
  ThreadPool reads("reads", 1, 16);
  Chats chats_a(ChatSettings{}, *store_, a_->directory, a_->bus, reads, ids_, clock_);
  // The first copy is refused; so is the notice that follows it, and the second copy: the
  // next publish (that copy's) finds more drops than announced and says it again.
  server_.refuse_next(3);
  ASSERT_TRUE(run_send([&](auto done) { chats_a.send(alice_, chat, "refused", {}, done); }).ok());
  ASSERT_TRUE(wait_until([&] { return b_->deliveries(bob_.id) == 1; }));
  EXPECT_EQ(std::get<ChatEvent>(b_->taken().at(0)).message.content, "refused");
  EXPECT_EQ(a_->bus.counters().resyncs_announced, 2u);
  EXPECT_EQ(a_->broker.counters().dropped, 3u);
  EXPECT_TRUE(wait_until([&] { return b_->bus.counters().resyncs_received == 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(b_->taken().empty());
  reads.stop();
}

TEST_F(ClusterEventBusTest, ASingleLostDirectoryChangeIsRepairedByTheNextOne) {
  Social social_a(*store_, a_->directory, a_->bus, ids_, clock_, 100, 60'000'000);
  ASSERT_TRUE(run([&](auto done) { social_a.request(alice_, 1, "bob", done); }).ok());
  server_.drain();
  // The link stays up, but one change is lost on the way (a subscriber cut off for being
  // slow): nothing else would tell B.
  server_.drop_next(1);
  ASSERT_TRUE(run([&](auto done) { social_a.request(alice_, 2, "carol", done); }).ok());
  server_.drain();
  EXPECT_FALSE(b_->directory.has_request(alice_.id, carol_.id));
  EXPECT_EQ(b_->bus.counters().directory_gaps, 0u);
  // A's next change carries a number one past the one B missed: B reloads.
  ASSERT_TRUE(run([&](auto done) { social_a.remove(alice_, 3, "bob", done); }).ok());
  server_.drain();
  ASSERT_TRUE(wait_until([&] { return b_->bus.counters().reloads == 2; }));
  EXPECT_EQ(b_->bus.counters().directory_gaps, 1u);
  EXPECT_TRUE(b_->directory.has_request(alice_.id, carol_.id));
  EXPECT_FALSE(b_->directory.has_request(alice_.id, bob_.id));
  EXPECT_EQ(c_->bus.counters().directory_gaps, 1u);
  EXPECT_EQ(a_->bus.counters().directory_gaps, 0u);
}

TEST_F(ClusterEventBusTest, AReloadKeepsTheGuildChannelsOfOnlineMembers) {
  // A guild created while the link was down: B learns of it only from the reload, and must
  // follow it for bob, who is online there.
  b_->bus.watch_user(bob_.id);
  server_.set_up(false);
  std::promise<Result<store::GuildState>> created;
  store_->create_guild({555, "late", bob_.id, 10},
                       [&](Result<store::GuildState> r) { created.set_value(r); });
  ASSERT_TRUE(created.get_future().get().ok());
  server_.set_up(true);
  ASSERT_TRUE(wait_until([&] { return b_->bus.counters().reloads == 2; }));
  EXPECT_TRUE(b_->directory.is_guild(555));
  EXPECT_TRUE(b_->subscribed(server_, "rw:g:555"));
}

}  // namespace
}  // namespace rwd::cluster
