#pragma once

// The gateway driven in-process: real Sessions over the real services and a real SQLite store
// in a temporary directory, with a fake transport in place of the network. Wired like the
// server's program, but on its own, so that a test states what it needs and nothing else.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/snowflake.h"
#include "base/thread_pool.h"
#include "domain/accounts.h"
#include "domain/chats.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "domain/guilds.h"
#include "domain/social.h"
#include "gateway/hub.h"
#include "gateway/session.h"
#include "store/sqlite/sqlite_store.h"

namespace rwd::gateway::testing {

// How long a test waits for something asynchronous before it fails. Generous: a loaded
// machine (or a sanitizer) is slow, and a passing test never waits this long.
inline constexpr std::chrono::seconds kWaitLimit{10};

// Stands in for a connection's event loop: one thread that runs posted work in order. Every
// Session of the harness lives on it, as each real connection lives on one loop thread.
class SerialLoop {
 public:
  SerialLoop();
  ~SerialLoop();  // runs what is queued, then joins
  SerialLoop(const SerialLoop&) = delete;
  SerialLoop& operator=(const SerialLoop&) = delete;

  // Any thread.
  void post(std::function<void()> fn);
  // Runs fn on the loop and returns when it has run. Not from the loop itself.
  void run(std::function<void()> fn);
  // Whether the calling thread is the loop's.
  bool on_loop() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::thread thread_;
};

// A Transport that records what its session sends and the close code, and lets a test wait
// for them. Like the network's, it drops frames after a close, and the close completes by
// telling the session the connection is gone: at once when the session closes from its own
// loop (as the network's send_close does, inside whatever session call asked for the close),
// else posted to the loop.
class FakeTransport final : public Transport, public std::enable_shared_from_this<FakeTransport> {
 public:
  // send_cap_bytes: past this many bytes sent in all the connection closes as a slow
  // consumer (4105), as the network's send queue does past --send-queue-bytes. Unlike that
  // queue, the fake never drains: its cap counts every byte ever sent, where the network's
  // counts the bytes still waiting, so a test sets it to the point where a real peer that
  // stopped reading would be closed. 0: no cap.
  FakeTransport(SerialLoop& loop, size_t send_cap_bytes)
      : loop_(loop), send_cap_bytes_(send_cap_bytes) {}

  void attach(std::weak_ptr<Session> session) { session_ = std::move(session); }

  void send(Frame frame) override;
  void close(protocol::CloseCode code) override;
  void post(std::function<void()> fn) override;

  // Waits until at least n frames were sent in all; false when kWaitLimit passes first.
  bool wait_for_frames(size_t n);
  bool wait_for_close();
  std::vector<std::string> frames() const;
  std::optional<protocol::CloseCode> close_code() const;

 private:
  SerialLoop& loop_;
  const size_t send_cap_bytes_;
  std::weak_ptr<Session> session_;
  mutable std::mutex mu_;
  size_t sent_bytes_ = 0;  // guarded by mu_
  std::condition_variable cv_;
  std::vector<std::string> frames_;                // guarded by mu_
  std::optional<protocol::CloseCode> close_code_;  // guarded by mu_
  bool finished_ = false;  // on the loop only: the session was told the connection is gone
};

// One client connection: a Session on its fake transport. Frames are read in order with
// next(), which waits for the next one.
class Client {
 public:
  Client(Services& services, SerialLoop& loop, protocol::Version version,
         size_t send_cap_bytes = 0);
  ~Client();

  // Hands the session one text frame on its loop, as the read loop would.
  void send(std::string_view text);
  void heartbeat(int count = 0);
  // The next frame not read yet (waiting for it); empty when none comes within kWaitLimit.
  std::string next();
  // Frames received so far and not read by next().
  size_t unread() const;
  bool wait_for_close() { return transport_->wait_for_close(); }
  std::optional<protocol::CloseCode> close_code() const { return transport_->close_code(); }
  std::vector<std::string> frames() const { return transport_->frames(); }

 private:
  SerialLoop& loop_;
  std::shared_ptr<FakeTransport> transport_;
  std::shared_ptr<Session> session_;
  size_t read_ = 0;
};

// The in-process bus, which also records what the hub told it of users' sessions
// (watch_user / unwatch_user), as a bus between processes would follow them.
class WatchRecordingBus final : public domain::EventBus {
 public:
  void publish(const domain::Event& event) override { bus_.publish(event); }
  void subscribe(std::function<void(const domain::Event&)> handler) override {
    bus_.subscribe(std::move(handler));
  }
  void watch_user(int64_t user_id) override {
    std::lock_guard lock(mu_);
    ++watches_[user_id];
  }
  void unwatch_user(int64_t user_id) override {
    std::lock_guard lock(mu_);
    ++unwatches_[user_id];
  }
  int watches(int64_t user_id) const {
    std::lock_guard lock(mu_);
    auto it = watches_.find(user_id);
    return it == watches_.end() ? 0 : it->second;
  }
  int unwatches(int64_t user_id) const {
    std::lock_guard lock(mu_);
    auto it = unwatches_.find(user_id);
    return it == unwatches_.end() ? 0 : it->second;
  }
  // As a bus between processes whose broker has not confirmed a new session's channels yet:
  // when_receiving answers false and keeps `ready` until release_receiving().
  void hold_receiving(bool hold) {
    std::lock_guard lock(mu_);
    holding_ = hold;
  }
  bool when_receiving(int64_t, std::function<void()> ready) override {
    std::lock_guard lock(mu_);
    if (!holding_) return true;
    waiting_.push_back(std::move(ready));
    return false;
  }
  // Calls every kept `ready` (on this thread, as the broker's thread would); how many.
  size_t release_receiving() {
    std::vector<std::function<void()>> ready;
    {
      std::lock_guard lock(mu_);
      ready.swap(waiting_);
    }
    for (auto& r : ready) r();
    return ready.size();
  }

 private:
  domain::InProcessEventBus bus_;
  mutable std::mutex mu_;
  std::map<int64_t, int> watches_, unwatches_;  // guarded by mu_
  bool holding_ = false;                        // guarded by mu_
  std::vector<std::function<void()>> waiting_;  // guarded by mu_
};

struct TestUser {
  int64_t id = 0;
  std::string name;
  std::string token;
};

struct HarnessOptions {
  // As on a node among several: what the cache lacks (a token, a login's account) is asked of
  // the store.
  bool read_through = false;
  SessionSettings session;
};

class GatewayHarness {
 public:
  explicit GatewayHarness(HarnessOptions options = {});
  ~GatewayHarness();

  // A user made through the real flow: sign-up, the key read from the verification mail in
  // the store's outbox, verification, login. Fails the test (and returns a user without a
  // token) when a step fails.
  TestUser create_user(const std::string& name);
  // Logs in again: another token of the same user.
  std::string login(const std::string& name);
  void logout(const std::string& token);
  // Disables the account as another node would, and this node misses the event: the store
  // and the cache change (its tokens are revoked), no session is told.
  void disable_missing_the_event(const TestUser& user);
  // A new token of the user written to the store alone, as another node's login would leave
  // it before its change reaches this node's cache.
  std::string token_only_in_store(const TestUser& user);
  // Makes two users friends through the friends service (not through a connection).
  void befriend(const TestUser& a, const TestUser& b);
  // send_cap_bytes: the connection's send cap (FakeTransport); 0: none.
  std::unique_ptr<Client> connect(protocol::Version version = protocol::Version::kV1,
                                  size_t send_cap_bytes = 0);
  // Returns when every write submitted so far has committed and the sessions have run what
  // the commits posted to them: after it, frames that a finished operation causes have arrived.
  void settle();
  const WatchRecordingBus& bus() const { return bus_; }
  WatchRecordingBus& bus() { return bus_; }
  Hub& hub() { return hub_; }
  // The chat events published so far, in order.
  std::vector<domain::ChatEvent> chat_events();
  // The stored chat of a friend pair (not its wire id).
  std::optional<int64_t> dm_chat(const TestUser& a, const TestUser& b) const {
    return directory_.dm_chat(a.id, b.id);
  }

 private:
  std::filesystem::path dir_;
  SystemClock clock_;
  SteadyClock steady_;
  std::unique_ptr<store::SqliteStore> store_;
  domain::Directory directory_;
  WatchRecordingBus bus_;
  SnowflakeGenerator ids_{0};
  ThreadPool hash_pool_{"test-hash", 1, 64};
  ThreadPool read_pool_{"test-read", 1, 64};
  Hub hub_{bus_, /*max_sessions_per_user=*/10, /*utc_offset_s=*/9 * 3600};
  std::unique_ptr<domain::Accounts> accounts_;
  std::unique_ptr<domain::Social> social_;
  std::unique_ptr<domain::Chats> chats_;
  std::unique_ptr<domain::Guilds> guilds_;
  std::unique_ptr<domain::Blocks> blocks_;
  std::unique_ptr<Services> services_;
  SerialLoop loop_;
  std::mutex events_mu_;
  std::vector<domain::ChatEvent> chat_events_;  // guarded by events_mu_
};

}  // namespace rwd::gateway::testing
