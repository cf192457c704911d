#include "gateway_harness.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <future>

#include "base/crypto.h"

namespace rwd::gateway::testing {

namespace fs = std::filesystem;

// --- SerialLoop ---

SerialLoop::SerialLoop() : thread_([this] { loop(); }) {}

SerialLoop::~SerialLoop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void SerialLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  cv_.notify_all();
}

void SerialLoop::run(std::function<void()> fn) {
  std::promise<void> done;
  auto ran = done.get_future();
  post([&] {
    fn();
    done.set_value();
  });
  ran.wait();
}

void SerialLoop::loop() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
  }
}

// --- FakeTransport ---

void FakeTransport::send(Frame frame) {
  bool over_cap = false;
  {
    std::lock_guard lock(mu_);
    if (close_code_) return;  // like the network's: sends after a close are dropped
    sent_bytes_ += frame->size();
    over_cap = send_cap_bytes_ != 0 && sent_bytes_ > send_cap_bytes_;
    if (!over_cap) frames_.push_back(*frame);
  }
  if (over_cap) return close(protocol::CloseCode::kSlowConsumer);
  cv_.notify_all();
}

void FakeTransport::close(protocol::CloseCode code) {
  {
    std::lock_guard lock(mu_);
    if (close_code_) return;
    close_code_ = code;
  }
  cv_.notify_all();
  // The close handshake completes at once: the connection is gone, the session leaves the hub.
  auto finish = [this, keep = shared_from_this()] {
    (void)keep;
    finished_ = true;
    if (auto session = session_.lock()) session->on_closed();
  };
  if (loop_.on_loop())
    finish();
  else
    loop_.post(std::move(finish));
}

void FakeTransport::post(std::function<void()> fn) {
  loop_.post([this, keep = shared_from_this(), fn = std::move(fn)] {
    (void)keep;
    if (!finished_) fn();
  });
}

bool FakeTransport::wait_for_frames(size_t n) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, kWaitLimit, [&] { return frames_.size() >= n; });
}

bool FakeTransport::wait_for_close() {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, kWaitLimit, [&] { return close_code_.has_value(); });
}

std::vector<std::string> FakeTransport::frames() const {
  std::lock_guard lock(mu_);
  return frames_;
}

std::optional<protocol::CloseCode> FakeTransport::close_code() const {
  std::lock_guard lock(mu_);
  return close_code_;
}

// --- Client ---

Client::Client(Services& services, SerialLoop& loop, protocol::Version version,
               size_t send_cap_bytes)
    : loop_(loop), transport_(std::make_shared<FakeTransport>(loop, send_cap_bytes)) {
  loop_.run([&] {
    session_ = std::make_shared<Session>(services, transport_, version);
    transport_->attach(session_);
  });
}

Client::~Client() {
  // The connection goes away, as when the peer hangs up.
  loop_.run([this] { session_->on_closed(); });
}

void Client::send(std::string_view text) {
  std::string copy(text);
  loop_.run([&] { session_->on_text(copy); });
}

void Client::heartbeat(int count) {
  send(R"({"type":"heartbeat","payload":{"count":)" + std::to_string(count) + "}}");
}

std::string Client::next() {
  if (!transport_->wait_for_frames(read_ + 1)) return {};
  return transport_->frames()[read_++];
}

size_t Client::unread() const { return transport_->frames().size() - read_; }

// --- GatewayHarness ---

namespace {

template <typename T>
Result<T> wait_for(const std::function<void(std::function<void(Result<T>)>)>& start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(kWaitLimit) != std::future_status::ready)
    return Error{Errc::kInternal, "timed out"};
  return future.get();
}

// The verification key in a mail's link: .../email_verify/<key>, the key being URL-safe base64.
std::string key_in(const std::string& body) {
  const std::string marker = "/email_verify/";
  size_t at = body.find(marker);
  if (at == std::string::npos) return {};
  size_t begin = at + marker.size(), end = begin;
  auto is_key_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  };
  while (end < body.size() && is_key_char(body[end])) ++end;
  return body.substr(begin, end - begin);
}

std::string email_of(const std::string& name) { return name + "@example.test"; }
constexpr const char* kPassword = "correct horse battery";

}  // namespace

GatewayHarness::GatewayHarness(HarnessOptions harness_options) {
  EXPECT_TRUE(crypto::init());
  dir_ =
      fs::temp_directory_path() / ("rewind-gateway-test-" + std::to_string(::getpid()) + "-" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  bus_.subscribe([this](const domain::Event& event) {
    if (const auto* chat = std::get_if<domain::ChatEvent>(&event)) {
      std::lock_guard lock(events_mu_);
      chat_events_.push_back(*chat);
    }
  });
  store::SqliteOptions options;
  options.clock = &clock_;
  auto opened = store::SqliteStore::open((dir_ / "rewind.db").string(), options);
  if (!opened.ok()) ADD_FAILURE() << "opening the store: " << opened.error().detail;
  store_ = std::move(opened.value());

  domain::AccountSettings account_settings;
  account_settings.public_base_url = "http://rewind.test";
  // The cheapest hash libsodium accepts: these tests are about the gateway, not argon2id.
  account_settings.password_cost = {1, 8 << 10};
  account_settings.read_through = harness_options.read_through;
  accounts_ = std::make_unique<domain::Accounts>(account_settings, *store_, directory_, hash_pool_,
                                                 read_pool_, ids_, clock_, bus_, [] {});
  social_ =
      std::make_unique<domain::Social>(*store_, directory_, bus_, ids_, clock_, 30, 60'000'000);
  chats_ = std::make_unique<domain::Chats>(domain::ChatSettings{}, *store_, directory_, bus_,
                                           read_pool_, ids_, clock_);
  guilds_ = std::make_unique<domain::Guilds>(domain::GuildSettings{}, *store_, directory_, bus_,
                                             ids_, clock_);
  blocks_ = std::make_unique<domain::Blocks>(*store_, directory_, bus_, read_pool_, clock_,
                                             social_->request_limiter());
  services_ = std::make_unique<Services>(Services{*accounts_, *social_, *chats_, *guilds_, *blocks_,
                                                  directory_, hub_, clock_, steady_,
                                                  harness_options.session});
}

std::vector<domain::ChatEvent> GatewayHarness::chat_events() {
  std::lock_guard lock(events_mu_);
  return chat_events_;
}

GatewayHarness::~GatewayHarness() {
  // In the program's order: work that may submit writes, then the writes, then the store.
  hash_pool_.stop();
  read_pool_.stop();
  settle();
  if (store_) store_->close();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void GatewayHarness::settle() {
  if (store_) store_->flush();
  loop_.run([] {});
  // What the sessions ran may have submitted writes of its own.
  if (store_) store_->flush();
  loop_.run([] {});
}

TestUser GatewayHarness::create_user(const std::string& name) {
  TestUser user;
  user.name = name;
  std::string email = email_of(name);
  auto registered = wait_for<void>([&](auto done) {
    accounts_->register_account(name, email, kPassword, domain::Language::kEnglish, done);
  });
  if (!registered.ok()) {
    ADD_FAILURE() << "register " << name << ": " << registered.error().detail;
    return user;
  }
  auto mail = store_->claim_due_mail(clock_.now_us() + 1, 1000);
  if (!mail.ok()) {
    ADD_FAILURE() << "reading the outbox: " << mail.error().detail;
    return user;
  }
  std::string key;
  for (const auto& m : mail.value()->mail())
    if (m.recipient == email) key = key_in(m.body);
  if (key.empty()) {
    ADD_FAILURE() << "no verification link mailed to " << email;
    return user;
  }
  auto verified =
      wait_for<domain::UserView>([&](auto done) { accounts_->verify_email(key, done); });
  if (!verified.ok()) {
    ADD_FAILURE() << "verify " << name << ": " << verified.error().detail;
    return user;
  }
  user.id = verified->id;
  user.token = login(name);
  return user;
}

std::string GatewayHarness::login(const std::string& name) {
  auto token = wait_for<std::string>(
      [&](auto done) { accounts_->login(email_of(name), kPassword, "", done); });
  if (!token.ok()) {
    ADD_FAILURE() << "login " << name << ": " << token.error().detail;
    return {};
  }
  return token.value();
}

void GatewayHarness::logout(const std::string& token) {
  auto done = wait_for<void>([&](auto done) { accounts_->logout(token, done); });
  if (!done.ok()) ADD_FAILURE() << "logout: " << done.error().detail;
}

void GatewayHarness::disable_missing_the_event(const TestUser& user) {
  auto done = wait_for<store::AccountStateOutcome>(
      [&](auto done) { store_->set_user_disabled(user.id, true, clock_.now_us(), done); });
  if (!done.ok()) return ADD_FAILURE() << "set_user_disabled: " << done.error().detail;
  for (const std::string& hash : done->revoked_token_hashes)
    directory_.apply(domain::change::TokenRemoved{hash});
}

std::string GatewayHarness::token_only_in_store(const TestUser& user) {
  std::string token = crypto::random_token(32);
  store::TokenRecord rec{crypto::sha256_hex(token), user.id, clock_.now_us(),
                         clock_.now_us() + 3600LL * 1000000};
  auto put = wait_for<void>([&](auto done) { store_->put_token(rec, done); });
  if (!put.ok()) ADD_FAILURE() << "put_token: " << put.error().detail;
  return token;
}

void GatewayHarness::befriend(const TestUser& a, const TestUser& b) {
  domain::UserView va{a.id, a.name, std::nullopt}, vb{b.id, b.name, std::nullopt};
  auto asked = wait_for<void>([&](auto done) { social_->request(va, 0, b.name, done); });
  if (!asked.ok()) ADD_FAILURE() << "friend request: " << asked.error().detail;
  auto accepted = wait_for<void>([&](auto done) { social_->respond(vb, 0, a.name, done); });
  if (!accepted.ok()) ADD_FAILURE() << "friend response: " << accepted.error().detail;
}

std::unique_ptr<Client> GatewayHarness::connect(protocol::Version version, size_t send_cap_bytes) {
  return std::make_unique<Client>(*services_, loop_, version, send_cap_bytes);
}

}  // namespace rwd::gateway::testing
