// The gateway session's deadlines and per-connection rate limit run on monotonic time: a step
// of the wall clock (NTP, an administrator, a resumed virtual machine) neither closes a healthy
// connection nor keeps a dead one. Driven in-process with a fake transport and two fake clocks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "base/thread_pool.h"
#include "domain/event_bus.h"
#include "gateway/session.h"
#include "store/sqlite/sqlite_store.h"

namespace rwd::gateway {
namespace {

namespace fs = std::filesystem;
using protocol::CloseCode;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kHour = 3600 * kSecond;

struct FakeClock final : Clock {
  int64_t now = 1'800'000'000 * kSecond;  // a date in 2027
  int64_t now_us() const override { return now; }
};

struct FakeMonotonic final : MonotonicClock {
  int64_t now = 12 * kSecond;  // soon after boot
  int64_t now_us() const override { return now; }
};

// Records what the session sends and closes; runs posted work at once.
struct FakeTransport final : Transport {
  void send(Frame frame) override { frames.push_back(*frame); }
  void close(CloseCode code) override { closes.push_back(code); }
  void post(std::function<void()> fn) override { fn(); }
  std::vector<std::string> frames;
  std::vector<CloseCode> closes;
};

class SessionClockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rewind-session-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto opened = store::SqliteStore::open((dir_ / "rewind.db").string());
    ASSERT_TRUE(opened.ok());
    store_ = std::move(opened.value());
    accounts_ = std::make_unique<domain::Accounts>(domain::AccountSettings{}, *store_, directory_,
                                                   pool_, pool_, ids_, wall_, bus_, [] {});
    social_ =
        std::make_unique<domain::Social>(*store_, directory_, bus_, ids_, wall_, 30, 60 * kSecond);
    chats_ = std::make_unique<domain::Chats>(domain::ChatSettings{}, *store_, directory_, bus_,
                                             pool_, ids_, wall_);
    guilds_ = std::make_unique<domain::Guilds>(domain::GuildSettings{}, *store_, directory_, bus_,
                                               ids_, wall_);
    blocks_ = std::make_unique<domain::Blocks>(*store_, directory_, bus_, pool_, wall_,
                                               social_->request_limiter());
  }
  void TearDown() override {
    session_.reset();
    services_.reset();
    blocks_.reset();
    guilds_.reset();
    chats_.reset();
    social_.reset();
    accounts_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void open(SessionSettings settings) {
    services_ =
        std::make_unique<Services>(Services{*accounts_, *social_, *chats_, *guilds_, *blocks_,
                                            directory_, hub_, wall_, mono_, settings});
    session_ = std::make_shared<Session>(*services_, transport_, protocol::Version::kV1);
  }
  void heartbeat() { session_->on_text(R"({"type":"heartbeat","payload":{"count":0}})"); }
  bool last_frame_is_error() const {
    return !transport_->frames.empty() &&
           transport_->frames.back().find(R"("type":"error")") != std::string::npos;
  }

  fs::path dir_;
  FakeClock wall_;
  FakeMonotonic mono_;
  std::unique_ptr<store::SqliteStore> store_;
  domain::Directory directory_;
  domain::InProcessEventBus bus_;
  Hub hub_{bus_, 5, 9 * 3600};
  ThreadPool pool_{"test", 1, 16};
  SnowflakeGenerator ids_{0};
  std::unique_ptr<domain::Accounts> accounts_;
  std::unique_ptr<domain::Social> social_;
  std::unique_ptr<domain::Chats> chats_;
  std::unique_ptr<domain::Guilds> guilds_;
  std::unique_ptr<domain::Blocks> blocks_;
  std::unique_ptr<Services> services_;
  std::shared_ptr<FakeTransport> transport_ = std::make_shared<FakeTransport>();
  std::shared_ptr<Session> session_;
};

SessionSettings long_auth_timeout() {
  SessionSettings s;
  s.heartbeat_timeout_us = 45 * kSecond;
  s.auth_timeout_us = 24 * kHour;  // out of the way: these tests are about heartbeats
  return s;
}

TEST_F(SessionClockTest, WallClockJumpingHoursAheadDoesNotCloseAHealthyConnection) {
  open(long_auth_timeout());
  heartbeat();
  int64_t due = session_->deadline_us();
  EXPECT_EQ(due, mono_.now + 45 * kSecond);
  wall_.now += 6 * kHour;
  mono_.now += 10 * kSecond;
  session_->on_deadline();
  EXPECT_TRUE(transport_->closes.empty());
  EXPECT_EQ(session_->deadline_us(), due);  // the wall clock does not move the deadline
}

TEST_F(SessionClockTest, WallClockSteppingBackDoesNotKeepADeadConnection) {
  open(long_auth_timeout());
  heartbeat();
  wall_.now -= 6 * kHour;
  mono_.now += 44 * kSecond;
  session_->on_deadline();
  EXPECT_TRUE(transport_->closes.empty());
  mono_.now += 1 * kSecond;  // 45 s without a heartbeat, whatever the wall clock says
  session_->on_deadline();
  EXPECT_EQ(transport_->closes, std::vector<CloseCode>{CloseCode::kHeartbeatTimeout});
}

TEST_F(SessionClockTest, HeartbeatsPushTheDeadlineOnMonotonicTime) {
  open(long_auth_timeout());
  heartbeat();
  for (int i = 0; i < 5; ++i) {
    mono_.now += 40 * kSecond;
    wall_.now += (i % 2 ? 3 : -3) * kHour;
    heartbeat();
    session_->on_deadline();
  }
  EXPECT_TRUE(transport_->closes.empty());
  EXPECT_EQ(session_->deadline_us(), mono_.now + 45 * kSecond);
}

TEST_F(SessionClockTest, AuthDeadlineFollowsMonotonicTimeOnly) {
  SessionSettings s;
  s.auth_timeout_us = 15 * kSecond;
  open(s);
  heartbeat();
  wall_.now += 2 * kHour;
  mono_.now += 14 * kSecond;
  session_->on_deadline();
  EXPECT_TRUE(transport_->closes.empty());
  mono_.now += 1 * kSecond;
  session_->on_deadline();
  EXPECT_EQ(transport_->closes, std::vector<CloseCode>{CloseCode::kAuthTimeout});
}

TEST_F(SessionClockTest, RateLimitIsNotStretchedByAWallClockStepBack) {
  SessionSettings s = long_auth_timeout();
  s.rate_count = 2;
  s.rate_window_us = 10 * kSecond;
  open(s);
  heartbeat();
  // Requests before auth are held; the third within the window is refused (4029).
  const char* load = R"({"type":"load","payload":{"type":"mutual_users"}})";
  session_->on_text(load);
  session_->on_text(load);
  EXPECT_FALSE(last_frame_is_error());
  session_->on_text(load);
  EXPECT_TRUE(last_frame_is_error());
  // A window later by the monotonic clock, with the wall clock set back an hour: allowed.
  wall_.now -= kHour;
  mono_.now += 10 * kSecond;
  size_t frames = transport_->frames.size();
  session_->on_text(load);
  EXPECT_EQ(transport_->frames.size(), frames);  // held for auth, not refused
  EXPECT_TRUE(transport_->closes.empty());
}

}  // namespace
}  // namespace rwd::gateway
