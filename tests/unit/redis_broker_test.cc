// RedisBroker against a real redis-server (Debian's, /usr/bin/redis-server), one per test on
// a free port in a temporary directory, killed at the end. Without redis-server the tests
// fail: scripts/install-deps --test installs it.
#include "broker/redis_broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/rate_limiter.h"
#include "base/shared_gauge.h"
#include "broker/cluster_limits.h"

extern char** environ;

namespace rwd::broker {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kRedisServer = "/usr/bin/redis-server";

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// True when a server on 127.0.0.1:port answers PING with +PONG within 200 ms.
bool answers_ping(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{0, 200 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::write(fd, "PING\r\n", 6) == 6) {
    char reply[16] = {};
    ok = ::read(fd, reply, sizeof(reply) - 1) >= 5 && std::string(reply).rfind("+PONG", 0) == 0;
  }
  ::close(fd);
  return ok;
}

// One redis-server of the test's own: `redis-server --port P --bind 127.0.0.1 --save ''
// --appendonly no --dir TMP`, restartable on the same port.
class RedisServer {
 public:
  RedisServer() {
    char pattern[] = "/tmp/rewind-redis-XXXXXX";
    if (::mkdtemp(pattern)) dir_ = pattern;
    port_ = free_port();
  }
  ~RedisServer() {
    kill_now();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  testing::AssertionResult start() {
    if (::access(kRedisServer, X_OK) != 0)
      return testing::AssertionFailure()
             << kRedisServer << " is missing: install redis-server (scripts/install-deps --test)";
    if (dir_.empty() || port_ == 0)
      return testing::AssertionFailure() << "no temporary directory or free port";
    std::string port = std::to_string(port_);
    std::string log = dir_ + "/redis.log";
    std::vector<std::string> args{kRedisServer, "--port", port, "--bind",
                                  "127.0.0.1",  "--save", "",   "--appendonly",
                                  "no",         "--dir",  dir_};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = ::posix_spawn(&pid_, kRedisServer, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = 0;
      return testing::AssertionFailure() << "posix_spawn " << kRedisServer << ": " << rc;
    }
    auto deadline = Clock::now() + 5s;
    while (Clock::now() < deadline) {
      if (answers_ping(port_)) return testing::AssertionSuccess();
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return testing::AssertionFailure() << "redis-server exited:\n" << read_log();
      }
      std::this_thread::sleep_for(10ms);
    }
    return testing::AssertionFailure() << "redis-server did not answer within 5 s:\n" << read_log();
  }

  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  uint16_t port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string read_log() const {
    std::ifstream in(dir_ + "/redis.log");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = 0;
};

// What one broker handed to its handlers, for the test's thread to wait on.
class Recorder {
 public:
  explicit Recorder(Broker& broker) {
    broker.on_message([this](std::string_view channel, std::string_view payload) {
      std::lock_guard lock(mu_);
      messages_.emplace_back(std::string(channel), std::string(payload));
      changed_.notify_all();
    });
    broker.on_state([this](bool up) {
      std::lock_guard lock(mu_);
      states_.push_back(up);
      changed_.notify_all();
    });
  }

  // Waits until `done` (called under the lock) holds, for at most `timeout`.
  bool wait(const std::function<bool()>& done, Clock::duration timeout) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, timeout, done);
  }
  bool wait_for_message(const std::string& channel, const std::string& payload,
                        Clock::duration timeout = 3s) {
    return wait([&] { return has_locked(channel, payload); }, timeout);
  }
  bool wait_for_messages(size_t n, Clock::duration timeout) {
    return wait([&] { return messages_.size() >= n; }, timeout);
  }
  // Waits for the state reports to reach `count` and returns whether they did.
  bool wait_for_states(size_t count, Clock::duration timeout) {
    return wait([&] { return states_.size() >= count; }, timeout);
  }

  std::vector<std::pair<std::string, std::string>> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::vector<bool> states() {
    std::lock_guard lock(mu_);
    return states_;
  }
  size_t count_on(const std::string& channel) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (auto& m : messages_) n += m.first == channel;
    return n;
  }

 private:
  bool has_locked(const std::string& channel, const std::string& payload) {
    for (auto& m : messages_)
      if (m.first == channel && m.second == payload) return true;
    return false;
  }

  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::pair<std::string, std::string>> messages_;
  std::vector<bool> states_;
};

std::unique_ptr<RedisBroker> make_broker(const std::string& url) {
  auto parsed = parse_redis_url(url);
  EXPECT_TRUE(parsed.ok()) << url;
  return std::make_unique<RedisBroker>(parsed.value());
}

bool wait_until(const std::function<bool()>& done, Clock::duration timeout) {
  auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class RedisBrokerTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(redis_.start()); }
  RedisServer redis_;
};

TEST_F(RedisBrokerTest, PublishedMessageReachesTheSubscriber) {
  auto broker = make_broker(redis_.url());
  Recorder got(*broker);
  broker->subscribe("rw:test");
  broker->start();
  ASSERT_TRUE(got.wait_for_states(1, 3s));
  EXPECT_TRUE(broker->up());
  EXPECT_EQ(got.states(), std::vector<bool>{true});
  broker->publish("rw:test", "hello");
  ASSERT_TRUE(got.wait_for_message("rw:test", "hello"));
  auto counters = broker->counters();
  EXPECT_EQ(counters.published, 1u);
  EXPECT_EQ(counters.received, 1u);
  EXPECT_EQ(counters.dropped, 0u);
}

TEST_F(RedisBrokerTest, EachSubscriptionIsConfirmedBeforeUpAndWhileUpAndAfterAReconnect) {
  auto broker = make_broker(redis_.url());
  auto sender = make_broker(redis_.url());
  Recorder got(*broker);
  std::mutex mu;
  std::vector<std::string> confirmed;  // guarded by mu
  // Whether the state was already up when each confirmation came.
  std::vector<bool> up_then;  // guarded by mu
  broker->on_subscribed([&](std::string_view channel) {
    std::lock_guard lock(mu);
    confirmed.emplace_back(channel);
    up_then.push_back(broker->up());
  });
  auto confirmations = [&] {
    std::lock_guard lock(mu);
    return confirmed;
  };
  broker->subscribe("rw:u:1");
  broker->start();
  sender->start();
  ASSERT_TRUE(got.wait_for_states(1, 3s));
  EXPECT_EQ(confirmations(), std::vector<std::string>{"rw:u:1"});  // the probe channel is not told
  ASSERT_TRUE(wait_until([&] { return sender->up(); }, 3s));
  broker->subscribe("rw:u:2");
  ASSERT_TRUE(wait_until([&] { return confirmations().size() == 2; }, 3s));
  EXPECT_EQ(confirmations().back(), "rw:u:2");
  // Confirmed: a message published from now on arrives.
  sender->publish("rw:u:2", "after the confirmation");
  EXPECT_TRUE(got.wait_for_message("rw:u:2", "after the confirmation"));

  redis_.kill_now();
  ASSERT_TRUE(got.wait_for_states(2, 3s));
  ASSERT_TRUE(redis_.start());
  ASSERT_TRUE(got.wait_for_states(3, 5s));
  auto again = confirmations();
  ASSERT_EQ(again.size(), 4u);
  std::vector<std::string> replayed(again.begin() + 2, again.end());
  std::sort(replayed.begin(), replayed.end());
  EXPECT_EQ(replayed, (std::vector<std::string>{"rw:u:1", "rw:u:2"}));
  std::lock_guard lock(mu);
  EXPECT_EQ(up_then, (std::vector<bool>{false, true, false, false}));  // replays: before up
}

TEST_F(RedisBrokerTest, OrderIsKeptOverTenThousandMessages) {
  auto sender = make_broker(redis_.url());
  auto receiver = make_broker(redis_.url());
  Recorder sent(*sender);
  Recorder got(*receiver);
  receiver->subscribe("rw:order");
  sender->start();
  receiver->start();
  ASSERT_TRUE(sent.wait_for_states(1, 3s));
  ASSERT_TRUE(got.wait_for_states(1, 3s));
  constexpr int kCount = 10000;
  for (int i = 0; i < kCount; ++i) sender->publish("rw:order", std::to_string(i));
  ASSERT_TRUE(got.wait_for_messages(kCount, 10s)) << got.messages().size();
  auto messages = got.messages();
  ASSERT_EQ(messages.size(), size_t{kCount});
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(messages[i].second, std::to_string(i)) << i;
  EXPECT_EQ(sender->counters().published, uint64_t{kCount});
  EXPECT_EQ(sender->counters().dropped, 0u);
}

TEST_F(RedisBrokerTest, UnsubscribeStopsDelivery) {
  auto sender = make_broker(redis_.url());
  auto receiver = make_broker(redis_.url());
  Recorder sent(*sender);
  Recorder got(*receiver);
  receiver->subscribe("rw:a");
  receiver->subscribe("rw:marker");
  sender->start();
  receiver->start();
  ASSERT_TRUE(sent.wait_for_states(1, 3s));
  ASSERT_TRUE(got.wait_for_states(1, 3s));
  sender->publish("rw:a", "before");
  ASSERT_TRUE(got.wait_for_message("rw:a", "before"));

  receiver->unsubscribe("rw:a");
  // The receiver's own operations run in order: once its marker comes back, the
  // unsubscription has been applied.
  receiver->publish("rw:marker", "1");
  ASSERT_TRUE(got.wait_for_message("rw:marker", "1"));
  sender->publish("rw:a", "after");
  sender->publish("rw:marker", "2");
  ASSERT_TRUE(got.wait_for_message("rw:marker", "2"));
  EXPECT_EQ(got.count_on("rw:a"), 1u);
}

TEST_F(RedisBrokerTest, TwoNodesExchangeMessagesBothWays) {
  auto node1 = make_broker(redis_.url());
  auto node2 = make_broker(redis_.url());
  EXPECT_NE(node1->instance(), node2->instance());
  Recorder got1(*node1);
  Recorder got2(*node2);
  node1->subscribe("rw:u:1");
  node2->subscribe("rw:u:2");
  node1->start();
  node2->start();
  ASSERT_TRUE(got1.wait_for_states(1, 3s));
  ASSERT_TRUE(got2.wait_for_states(1, 3s));
  node1->publish("rw:u:2", "from 1");
  node2->publish("rw:u:1", "from 2");
  EXPECT_TRUE(got2.wait_for_message("rw:u:2", "from 1"));
  EXPECT_TRUE(got1.wait_for_message("rw:u:1", "from 2"));
  EXPECT_EQ(got1.count_on("rw:u:2"), 0u);
  EXPECT_EQ(got2.count_on("rw:u:1"), 0u);
}

TEST_F(RedisBrokerTest, RestartedRedisIsReportedDownThenUpAndSubscriptionsWorkAgain) {
  auto node1 = make_broker(redis_.url());
  auto node2 = make_broker(redis_.url());
  Recorder got1(*node1);
  Recorder got2(*node2);
  node2->subscribe("rw:g:1");
  node1->start();
  node2->start();
  ASSERT_TRUE(got1.wait_for_states(1, 3s));
  ASSERT_TRUE(got2.wait_for_states(1, 3s));
  // A channel subscribed while up is part of the set replayed after the restart too.
  node2->subscribe("rw:u:7");
  node2->publish("rw:u:7", "while up");
  ASSERT_TRUE(got2.wait_for_message("rw:u:7", "while up"));

  redis_.kill_now();
  ASSERT_TRUE(got1.wait_for_states(2, 3s));
  ASSERT_TRUE(got2.wait_for_states(2, 3s));
  EXPECT_FALSE(node1->up());
  EXPECT_FALSE(node2->up());
  node1->publish("rw:g:1", "lost");  // down: dropped at once
  EXPECT_EQ(node1->counters().dropped, 1u);

  ASSERT_TRUE(redis_.start());
  ASSERT_TRUE(got1.wait_for_states(3, 5s));
  ASSERT_TRUE(got2.wait_for_states(3, 5s));
  EXPECT_EQ(got1.states(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(got2.states(), (std::vector<bool>{true, false, true}));
  node1->publish("rw:g:1", "after restart");
  node1->publish("rw:u:7", "after restart");
  EXPECT_TRUE(got2.wait_for_message("rw:g:1", "after restart"));
  EXPECT_TRUE(got2.wait_for_message("rw:u:7", "after restart"));
  EXPECT_EQ(got2.count_on("rw:g:1"), 1u);
  EXPECT_EQ(node2->counters().reconnects, 1u);
  EXPECT_GE(node2->counters().link_failures, 1u);
}

TEST_F(RedisBrokerTest, StoppedRedisIsFoundDeadByTheProbeThenUpAfterItResumes) {
  auto node1 = make_broker(redis_.url());
  auto node2 = make_broker(redis_.url());
  Recorder got1(*node1);
  Recorder got2(*node2);
  node2->subscribe("rw:g:1");
  node1->start();
  node2->start();
  ASSERT_TRUE(got1.wait_for_states(1, 3s));
  ASSERT_TRUE(got2.wait_for_states(1, 3s));

  // The links stay open: only the probe (or a reply that never comes) tells.
  auto stopped_at = Clock::now();
  redis_.pause();
  ASSERT_TRUE(got2.wait_for_states(2, 6s));
  auto found_after = Clock::now() - stopped_at;
  EXPECT_LE(found_after, 4500ms);
  EXPECT_FALSE(node2->up());
  std::this_thread::sleep_until(stopped_at + 5s);
  redis_.resume();

  ASSERT_TRUE(got1.wait_for_states(3, 6s));
  ASSERT_TRUE(got2.wait_for_states(3, 6s));
  EXPECT_EQ(got2.states(), (std::vector<bool>{true, false, true}));
  node1->publish("rw:g:1", "after resume");
  EXPECT_TRUE(got2.wait_for_message("rw:g:1", "after resume"));
}

TEST_F(RedisBrokerTest, PublishWhileDownIsDroppedCountedAndReturnsAtOnce) {
  redis_.kill_now();
  auto broker = make_broker(redis_.url());
  broker->start();
  auto before = Clock::now();
  for (int i = 0; i < 1000; ++i) broker->publish("rw:x", "payload");
  EXPECT_LT(Clock::now() - before, 100ms);
  auto counters = broker->counters();
  EXPECT_EQ(counters.dropped, 1000u);
  EXPECT_EQ(counters.published, 0u);
  EXPECT_FALSE(broker->up());
  EXPECT_TRUE(wait_until([&] { return broker->counters().link_failures >= 1; }, 3s));
}

TEST_F(RedisBrokerTest, StopReturnsPromptlyWhileRedisDoesNotAnswer) {
  // A stopped Redis accepts connections (the kernel does) and answers nothing.
  redis_.pause();
  auto broker = make_broker(redis_.url());
  broker->subscribe("rw:x");
  broker->start();
  std::this_thread::sleep_for(300ms);  // let it connect and wait for confirmations
  auto before = Clock::now();
  broker->stop();
  EXPECT_LT(Clock::now() - before, 500ms);
  EXPECT_FALSE(broker->up());
  broker->stop();  // idempotent
  redis_.resume();
}

TEST_F(RedisBrokerTest, StopReturnsPromptlyWhileConnectHangsAndTheConnectTimesOut) {
  // A listener that never accepts, its queue full: the kernel drops further SYNs, so a
  // connect neither succeeds nor fails.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 2; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);  // the handshakes of the fillers complete

  auto broker = make_broker("redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  broker->start();
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(broker->up());
  auto before = Clock::now();
  broker->stop();
  EXPECT_LT(Clock::now() - before, 500ms);

  // And the connect timeout (2 s) gives up on such a connect by itself.
  auto patient = make_broker("redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  patient->start();
  EXPECT_TRUE(wait_until([&] { return patient->counters().link_failures >= 1; }, 3s));
  EXPECT_FALSE(patient->up());
  patient->stop();
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

TEST_F(RedisBrokerTest, BadUrlsAreRefusedWithTheirReason) {
  struct Case {
    const char* url;
    const char* reason;
  };
  for (const Case& c :
       {Case{"http://127.0.0.1:6379", "must start with redis://"},
        Case{"rediss://127.0.0.1:6379", "TLS"}, Case{"redis://:6379", "host is empty"},
        Case{"redis://127.0.0.1:0", "port"}, Case{"redis://127.0.0.1:70000", "port"},
        Case{"redis://127.0.0.1:6379/x", "db"},
        Case{"redis://user:secret@127.0.0.1:6379", "password"}}) {
    auto opened = open_redis_broker(c.url);
    ASSERT_FALSE(opened.ok()) << c.url;
    EXPECT_EQ(opened.error().code, Errc::kBadRequest);
    EXPECT_NE(opened.error().detail.find("redis://host:port[/db]"), std::string::npos)
        << opened.error().detail;
    EXPECT_NE(opened.error().detail.find(c.reason), std::string::npos) << opened.error().detail;
    EXPECT_EQ(opened.error().detail.find("secret"), std::string::npos) << opened.error().detail;
  }
  auto opened = open_redis_broker(redis_.url() + "/2");
  ASSERT_TRUE(opened.ok());
}

TEST_F(RedisBrokerTest, ALargePayloadPasses) {
  auto sender = make_broker(redis_.url());
  auto receiver = make_broker(redis_.url());
  Recorder sent(*sender);
  Recorder got(*receiver);
  receiver->subscribe("rw:big");
  sender->start();
  receiver->start();
  ASSERT_TRUE(sent.wait_for_states(1, 3s));
  ASSERT_TRUE(got.wait_for_states(1, 3s));
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + 3);
  sender->publish("rw:big", payload);
  ASSERT_TRUE(got.wait_for_messages(1, 5s));
  auto messages = got.messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].second.size(), payload.size());
  EXPECT_TRUE(messages[0].second == payload);
}

TEST_F(RedisBrokerTest, ChannelsIgnoreTheSelectedDb) {
  auto db3 = make_broker(redis_.url() + "/3");
  auto db0 = make_broker(redis_.url());
  Recorder got3(*db3);
  Recorder got0(*db0);
  db0->subscribe("rw:all");
  db3->start();
  db0->start();
  ASSERT_TRUE(got3.wait_for_states(1, 3s));  // SELECT 3 answered
  ASSERT_TRUE(got0.wait_for_states(1, 3s));
  db3->publish("rw:all", "from db 3");
  EXPECT_TRUE(got0.wait_for_message("rw:all", "from db 3"));
}

TEST_F(RedisBrokerTest, ADbRedisRefusesKeepsTheBrokerDown) {
  auto broker = make_broker(redis_.url() + "/999");  // redis-server has 16 dbs by default
  Recorder got(*broker);
  broker->start();
  EXPECT_TRUE(wait_until([&] { return broker->counters().link_failures >= 2; }, 3s));
  EXPECT_FALSE(broker->up());
  EXPECT_TRUE(got.states().empty());
}

TEST_F(RedisBrokerTest, TheProbeIsNotDeliveredButOtherMessagesOnTheNodeChannelAre) {
  auto node = make_broker(redis_.url());
  auto peer = make_broker(redis_.url());
  Recorder got(*node);
  Recorder peer_got(*peer);
  node->subscribe(node->probe_channel());
  EXPECT_EQ(node->probe_channel(), "rw:n:" + node->instance());
  node->start();
  peer->start();
  ASSERT_TRUE(got.wait_for_states(1, 3s));
  ASSERT_TRUE(peer_got.wait_for_states(1, 3s));
  // A probe goes out every second: let two pass, then a control message from the peer.
  std::this_thread::sleep_for(2200ms);
  peer->publish(node->probe_channel(), "evict");
  ASSERT_TRUE(got.wait_for_message(node->probe_channel(), "evict"));
  EXPECT_EQ(got.messages().size(), 1u);
  EXPECT_EQ(node->counters().received, 1u);
  EXPECT_TRUE(node->up());
}

// ---- limits counted over the nodes (ClusterLimits) ----

class ClusterLimitsTest : public RedisBrokerTest {
 protected:
  // One node: a broker, its limits, a login limiter (3 a minute) and a sessions gauge.
  struct Node {
    std::unique_ptr<RedisBroker> broker;
    RateLimiter login{3, 60'000'000};
    SharedGauge sessions;
    std::unique_ptr<ClusterLimits> limits;
    // The broker's thread calls into the limits: it stops first.
    ~Node() { broker->stop(); }
  };

  std::unique_ptr<Node> start_node(ClusterLimitsOptions options = fast()) {
    auto node = std::make_unique<Node>();
    node->broker = make_broker(redis_.url());
    node->limits = std::make_unique<ClusterLimits>(*node->broker, options);
    node->limits->add_rate("login", node->login);
    node->limits->add_gauge("sessions", node->sessions);
    node->limits->start();
    node->broker->start();
    EXPECT_TRUE(wait_until([&] { return node->broker->up(); }, 3s));
    return node;
  }

  static ClusterLimitsOptions fast() {
    ClusterLimitsOptions o;
    o.sync_interval = 20ms;
    o.full_report_interval = 200ms;
    o.node_expiry = 600ms;
    return o;
  }

  // Both nodes have heard each other's first full report.
  static bool acquainted(Node& a, Node& b) {
    return wait_until(
        [&] { return a.limits->counters().received > 0 && b.limits->counters().received > 0; }, 3s);
  }

  SteadyClock clock_;
};

TEST_F(ClusterLimitsTest, WhatOneNodeAdmitsIsChargedOnTheOther) {
  auto a = start_node(), b = start_node();
  ASSERT_TRUE(acquainted(*a, *b));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(a->login.acquire("10.0.0.1", clock_.now_us()), 0);
  // b has admitted nothing itself, yet the address has used the cluster's three.
  auto before = b->limits->counters().received;
  ASSERT_TRUE(wait_until([&] { return b->limits->counters().received >= before + 2; }, 3s));
  EXPECT_GT(b->login.acquire("10.0.0.1", clock_.now_us()), 0);
  EXPECT_EQ(b->login.acquire("10.0.0.2", clock_.now_us()), 0);  // another address is free
  EXPECT_EQ(a->limits->counters().malformed + b->limits->counters().malformed, 0u);
}

TEST_F(ClusterLimitsTest, AGaugeCountsTheOtherNodesUntilOneSaysGoodbyeOrFallsSilent) {
  // The bounds are generous: under the sanitizers beside other tests a sync can take seconds.
  auto a = start_node(), b = start_node(), c = start_node();
  ASSERT_TRUE(acquainted(*a, *b));
  a->sessions.add("42");
  a->sessions.add("42");
  c->sessions.add("42");
  ASSERT_TRUE(wait_until([&] { return b->sessions.others("42") == 3; }, 10s));
  EXPECT_EQ(b->sessions.local("42"), 0);
  EXPECT_EQ(a->sessions.others("42"), 1);
  a->sessions.remove("42");
  ASSERT_TRUE(wait_until([&] { return b->sessions.others("42") == 2; }, 10s));
  // A node that stops says goodbye: its counts go at once.
  a->limits->stop();
  ASSERT_TRUE(wait_until([&] { return b->sessions.others("42") == 1; }, 10s));
  // A node that falls silent (its link gone) is forgotten after node_expiry.
  c->broker->stop();
  auto silent = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_until([&] { return b->sessions.others("42") == 0; }, 10s));
  EXPECT_GE(std::chrono::steady_clock::now() - silent, 500ms);
  EXPECT_EQ(b->limits->counters().nodes_expired, 1u);
}

TEST_F(ClusterLimitsTest, WhileRedisIsDownEachNodeLimitsAloneAndCountsIt) {
  auto a = start_node(), b = start_node();
  ASSERT_TRUE(acquainted(*a, *b));
  b->sessions.add("7");
  ASSERT_TRUE(wait_until([&] { return a->sessions.others("7") == 1; }, 3s));
  redis_.kill_now();
  ASSERT_TRUE(wait_until([&] { return !a->broker->up() && !b->broker->up(); }, 5s));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(a->login.acquire("10.0.0.3", clock_.now_us()), 0);
  EXPECT_GT(a->login.acquire("10.0.0.3", clock_.now_us()), 0);  // the local limit holds
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b->login.acquire("10.0.0.3", clock_.now_us()), 0);
  // The other node's sessions are forgotten once it has been silent for node_expiry.
  ASSERT_TRUE(wait_until([&] { return a->sessions.others("7") == 0; }, 3s));
  EXPECT_GT(a->limits->counters().syncs_skipped, 0u);
  EXPECT_GT(b->limits->counters().syncs_skipped, 0u);
}

}  // namespace
}  // namespace rwd::broker
