#include "broker/redis_broker.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "broker/hiredis_asio.h"

namespace rwd::broker {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view kProbePrefix = "rw-probe:";
// How often the watchdog looks at the deadlines (connect, replies, probes) and sends the
// probe that is due: the deadlines are met to within this.
constexpr milliseconds kWatchdogTick{100};

std::string random_instance() {
  std::random_device device;
  std::uniform_int_distribution<uint64_t> any;
  uint64_t bits = (uint64_t{device()} << 32) ^ device() ^ any(device);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (char& ch : id) {
    ch = kHex[bits & 15];
    bits >>= 4;
  }
  return id;
}

long long ms(milliseconds d) { return static_cast<long long>(d.count()); }

}  // namespace

class RedisBroker::Impl {
 public:
  Impl(RedisUrl url, RedisBrokerOptions options)
      : url_(std::move(url)),
        options_(options),
        instance_(random_instance()),
        probe_channel_("rw:n:" + instance_),
        watchdog_(io_),
        backoff_timer_(io_),
        backoff_(options.backoff_initial),
        rng_(std::random_device{}()) {
    pub_.owner = this;
    pub_.name = "publish";
    sub_.owner = this;
    sub_.name = "subscribe";
  }

  ~Impl() { stop(); }

  void on_message(MessageHandler handler) { message_handler_ = std::move(handler); }
  void on_state(StateHandler handler) { state_handler_ = std::move(handler); }
  void on_messages_under(std::string prefix, MessageHandler handler) {
    prefix_handlers_.emplace_back(std::move(prefix), std::move(handler));
  }
  void on_subscribed(ConfirmHandler handler) { confirm_handler_ = std::move(handler); }

  void start() {
    std::lock_guard lock(lifecycle_mu_);
    if (started_ || stopped_) return;
    started_ = true;
    work_.emplace(io_.get_executor());
    asio::post(io_, [this] {
      spdlog::info("broker: connecting to {} as node {}", url_.to_string(), instance_);
      connect();
    });
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "broker");
      io_.run();
    });
  }

  void stop() {
    {
      std::lock_guard lock(lifecycle_mu_);
      if (stopped_) return;
      stopped_ = true;
      stopping_ = true;
      if (!started_) return;
    }
    asio::post(io_, [this] { shut_down(); });
    thread_.join();
  }

  void publish(std::string channel, std::string payload) {
    // Read without the broker's thread: a message refused here costs no wake-up. One that
    // passes is checked again there, where the state is exact.
    if (!up_.load(std::memory_order_acquire)) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    enqueue({Op::kPublish, std::move(channel), std::move(payload)});
  }
  void subscribe(std::string channel) { enqueue({Op::kSubscribe, std::move(channel), {}}); }
  void unsubscribe(std::string channel) { enqueue({Op::kUnsubscribe, std::move(channel), {}}); }

  bool up() const { return up_.load(std::memory_order_acquire); }

  Counters counters() const {
    Counters c;
    c.published = published_.load(std::memory_order_relaxed);
    c.dropped = dropped_.load(std::memory_order_relaxed);
    c.received = received_.load(std::memory_order_relaxed);
    c.reconnects = reconnects_.load(std::memory_order_relaxed);
    c.link_failures = link_failures_.load(std::memory_order_relaxed);
    return c;
  }

  const std::string& instance() const { return instance_; }
  const std::string& probe_channel() const { return probe_channel_; }

 private:
  // One hiredis context and what the broker knows of it. ac->data points here while the
  // broker holds the context; it is cleared before the broker frees it, so the callbacks
  // hiredis runs during that free (with NULL replies) find no link and do nothing.
  struct Link {
    Impl* owner = nullptr;
    const char* name = "";
    redisAsyncContext* ac = nullptr;
    bool connected = false;
  };

  struct Op {
    enum Kind { kPublish, kSubscribe, kUnsubscribe } kind;
    std::string channel;
    std::string payload;
  };

  // A command of the publish link waiting for its reply; replies come in command order.
  struct Unanswered {
    Clock::time_point sent;
    size_t bytes;
  };

  // connecting: both links opened, not both connected yet; subscribing: connected, waiting
  // for SELECT's reply and the SUBSCRIBE confirmations; failing: a link failed, the
  // teardown is posted.
  enum class Phase { kIdle, kBackoff, kConnecting, kSubscribing, kUp, kFailing, kStopped };

  bool attempt_active() const {
    return phase_ == Phase::kConnecting || phase_ == Phase::kSubscribing || phase_ == Phase::kUp;
  }

  // ---- the inbox (any thread) ----

  void enqueue(Op op) {
    if (stopping_.load(std::memory_order_acquire)) {
      if (op.kind == Op::kPublish) dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    bool first;
    {
      std::lock_guard lock(inbox_mu_);
      first = inbox_.empty();
      inbox_.push_back(std::move(op));
    }
    if (first) asio::post(io_, [this] { drain_inbox(); });
  }

  // ---- everything below runs on the broker's thread ----

  void drain_inbox() {
    std::vector<Op> ops;
    {
      std::lock_guard lock(inbox_mu_);
      ops.swap(inbox_);
    }
    for (Op& op : ops) {
      switch (op.kind) {
        case Op::kPublish:
          send_publish(op.channel, op.payload);
          break;
        case Op::kSubscribe:
          add_channel(std::move(op.channel));
          break;
        case Op::kUnsubscribe:
          remove_channel(op.channel);
          break;
      }
    }
  }

  void send_publish(const std::string& channel, const std::string& payload) {
    if (phase_ != Phase::kUp) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (unanswered_bytes_ > options_.max_unanswered_bytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      if (!backlog_logged_) {
        backlog_logged_ = true;
        spdlog::warn("broker: Redis is slow: over {} bytes wait for a reply; dropping publishes",
                     options_.max_unanswered_bytes);
      }
      return;
    }
    if (send_command(pub_, &Impl::on_publish_reply, {"PUBLISH", channel, payload}))
      published_.fetch_add(1, std::memory_order_relaxed);
    else
      dropped_.fetch_add(1, std::memory_order_relaxed);
  }

  void add_channel(std::string channel) {
    auto [it, inserted] = channels_.insert(std::move(channel));
    if (!inserted || *it == probe_channel_ || !sub_.ac) return;
    if (!send_command(sub_, &Impl::on_subscribe_reply, {"SUBSCRIBE", *it})) return;
    if (phase_ != Phase::kUp) awaiting_confirmation_.insert(*it);
  }

  void remove_channel(const std::string& channel) {
    if (channels_.erase(channel) == 0 || channel == probe_channel_) return;
    awaiting_confirmation_.erase(channel);
    // The probe channel keeps the link subscribed, so hiredis accepts the UNSUBSCRIBE.
    if (sub_.ac) send_command(sub_, &Impl::on_subscribe_reply, {"UNSUBSCRIBE", channel});
    maybe_up();
  }

  // Appends a command to the link's output buffer; hiredis writes everything appended in
  // this loop turn at once. Commands of the publish link are timed (command_timeout).
  bool send_command(Link& link, redisCallbackFn* callback,
                    std::initializer_list<std::string_view> args) {
    if (!link.ac) return false;
    const char* argv[8];
    size_t lengths[8];
    size_t argc = 0, bytes = 0;
    for (std::string_view arg : args) {
      argv[argc] = arg.data();
      lengths[argc++] = arg.size();
      bytes += arg.size();
    }
    if (redisAsyncCommandArgv(link.ac, callback, nullptr, static_cast<int>(argc), argv, lengths) !=
        REDIS_OK)
      return false;
    if (&link == &pub_) {
      unanswered_.push_back({Clock::now(), bytes});
      unanswered_bytes_ += bytes;
    }
    return true;
  }

  // Several channels in one SUBSCRIBE: the whole set is replayed in one command.
  bool send_subscribe_all() {
    std::vector<const char*> argv{"SUBSCRIBE", probe_channel_.c_str()};
    std::vector<size_t> lengths{9, probe_channel_.size()};
    for (const std::string& channel : channels_) {
      if (channel == probe_channel_) continue;
      argv.push_back(channel.data());
      lengths.push_back(channel.size());
    }
    return redisAsyncCommandArgv(sub_.ac, &Impl::on_subscribe_reply, nullptr,
                                 static_cast<int>(argv.size()), argv.data(),
                                 lengths.data()) == REDIS_OK;
  }

  // ---- connecting ----

  void connect() {
    if (stopping_) return;
    phase_ = Phase::kConnecting;
    ++attempt_;
    attempt_started_ = Clock::now();
    select_answered_ = url_.db == 0;
    awaiting_confirmation_ = channels_;
    awaiting_confirmation_.insert(probe_channel_);
    unanswered_.clear();
    unanswered_bytes_ = 0;
    probes_.clear();
    arm_watchdog();
    if (!open_link(pub_)) return;
    // The db matters to commands only: pub/sub channels are global to the server, so nodes
    // on different dbs of one Redis still hear each other.
    if (url_.db != 0) {
      std::string db = std::to_string(url_.db);
      if (!send_command(pub_, &Impl::on_select_reply, {"SELECT", db}))
        return fail(pub_, "cannot queue SELECT");
    }
    if (!open_link(sub_)) return;
    if (!send_subscribe_all()) return fail(sub_, "cannot queue SUBSCRIBE");
  }

  // redisAsyncConnect resolves the host name on this thread (getaddrinfo) and starts a
  // non-blocking connect; its result comes to on_connect.
  bool open_link(Link& link) {
    redisAsyncContext* ac = redisAsyncConnect(url_.host.c_str(), url_.port);
    if (!ac) {
      fail(link, "out of memory");
      return false;
    }
    if (ac->err) {
      std::string reason = ac->errstr;
      redisAsyncFree(ac);
      fail(link, reason);
      return false;
    }
    if (!attach_to_asio(ac, io_)) {
      redisAsyncFree(ac);
      fail(link, "cannot watch the socket");
      return false;
    }
    link.ac = ac;
    link.connected = false;
    ac->data = &link;
    redisAsyncSetConnectCallback(ac, &Impl::on_connect);
    redisAsyncSetDisconnectCallback(ac, &Impl::on_disconnect);
    return true;
  }

  static Link* link_of(const redisAsyncContext* ac) {
    auto* link = static_cast<Link*>(ac->data);
    return link && link->ac == ac ? link : nullptr;
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    Link* link = link_of(ac);
    if (!link) return;
    if (status != REDIS_OK) {
      // hiredis frees the context when this returns.
      link->ac = nullptr;
      link->owner->fail(*link, std::string("connect: ") + (ac->errstr ? ac->errstr : "failed"));
      return;
    }
    link->connected = true;
    Impl* self = link->owner;
    if (self->phase_ == Phase::kConnecting && self->pub_.connected && self->sub_.connected) {
      self->phase_ = Phase::kSubscribing;
      self->connected_at_ = Clock::now();
      self->maybe_up();
    }
  }

  // hiredis calls this for a context it is about to free after an error or EOF (the broker
  // clears ac->data before freeing one itself).
  static void on_disconnect(const redisAsyncContext* ac, int status) {
    Link* link = link_of(ac);
    if (!link) return;
    link->ac = nullptr;
    link->connected = false;
    std::string reason = ac->err && ac->errstr ? ac->errstr : "closed by the server";
    link->owner->fail(*link, reason);
  }

  static void on_publish_reply(redisAsyncContext* ac, void* reply, void*) {
    Link* link = link_of(ac);
    if (!link || !reply) return;  // a NULL reply: the link is going away
    Impl* self = link->owner;
    self->answered();
    auto* r = static_cast<redisReply*>(reply);
    if (r->type == REDIS_REPLY_ERROR) self->fail(*link, std::string("PUBLISH: ") + r->str);
  }

  static void on_select_reply(redisAsyncContext* ac, void* reply, void*) {
    Link* link = link_of(ac);
    if (!link || !reply) return;
    Impl* self = link->owner;
    self->answered();
    auto* r = static_cast<redisReply*>(reply);
    if (r->type == REDIS_REPLY_ERROR)
      return self->fail(*link, "SELECT " + std::to_string(self->url_.db) + ": " + r->str);
    self->select_answered_ = true;
    self->maybe_up();
  }

  // Every reply of the subscribe link: confirmations, messages, and errors.
  static void on_subscribe_reply(redisAsyncContext* ac, void* reply, void*) {
    Link* link = link_of(ac);
    if (!link || !reply) return;
    Impl* self = link->owner;
    auto* r = static_cast<redisReply*>(reply);
    if (r->type == REDIS_REPLY_ERROR) return self->fail(*link, std::string("SUBSCRIBE: ") + r->str);
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    redisReply* kind = r->element[0];
    redisReply* channel = r->element[1];
    if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING) return;
    std::string_view kind_text(kind->str, kind->len);
    std::string_view channel_text(channel->str, channel->len);
    if (kind_text == "message" && r->element[2]->type == REDIS_REPLY_STRING) {
      self->on_pubsub_message(channel_text,
                              std::string_view(r->element[2]->str, r->element[2]->len));
    } else if (kind_text == "subscribe") {
      // Told before maybe_up: a receiver learns of each channel live before the state is up.
      self->confirmed(channel_text);
      auto it = self->awaiting_confirmation_.find(channel_text);
      if (it != self->awaiting_confirmation_.end()) {
        self->awaiting_confirmation_.erase(it);
        self->maybe_up();
      }
    }
  }

  void answered() {
    if (unanswered_.empty()) return;
    unanswered_bytes_ -= unanswered_.front().bytes;
    unanswered_.pop_front();
    if (unanswered_bytes_ < options_.max_unanswered_bytes / 2) backlog_logged_ = false;
  }

  void on_pubsub_message(std::string_view channel, std::string_view payload) {
    if (channel == probe_channel_ && payload.substr(0, kProbePrefix.size()) == kProbePrefix) {
      uint64_t seq = 0;
      std::string_view digits = payload.substr(kProbePrefix.size());
      std::from_chars(digits.data(), digits.data() + digits.size(), seq);
      while (!probes_.empty() && probes_.front().first <= seq) probes_.pop_front();
      return;
    }
    if (channels_.find(channel) == channels_.end()) return;  // unsubscribed meanwhile
    received_.fetch_add(1, std::memory_order_relaxed);
    const MessageHandler* handler = &message_handler_;
    for (const auto& [prefix, h] : prefix_handlers_)
      if (channel.substr(0, prefix.size()) == prefix) handler = &h;
    if (!*handler) return;
    // The handler runs inside hiredis's C callback: nothing may unwind through it.
    try {
      (*handler)(channel, payload);
    } catch (const std::exception& e) {
      spdlog::error("broker: the message handler threw on {}: {}", channel, e.what());
    } catch (...) {
      spdlog::error("broker: the message handler threw on {}", channel);
    }
  }

  void confirmed(std::string_view channel) {
    // A channel unsubscribed meanwhile is no news for anyone.
    if (!confirm_handler_ || channel == probe_channel_ ||
        channels_.find(channel) == channels_.end())
      return;
    try {
      confirm_handler_(channel);
    } catch (const std::exception& e) {
      spdlog::error("broker: the confirmation handler threw on {}: {}", channel, e.what());
    } catch (...) {
      spdlog::error("broker: the confirmation handler threw on {}", channel);
    }
  }

  void maybe_up() {
    if (phase_ != Phase::kSubscribing || !select_answered_ || !awaiting_confirmation_.empty())
      return;
    phase_ = Phase::kUp;
    backoff_ = options_.backoff_initial;
    next_probe_ = Clock::now() + options_.probe_interval;
    if (been_up_) reconnects_.fetch_add(1, std::memory_order_relaxed);
    been_up_ = true;
    outage_logged_ = false;
    up_.store(true, std::memory_order_release);
    spdlog::info("broker: up on {} ({} channels subscribed)", url_.to_string(), channels_.size());
    notify_state(true);
  }

  void notify_state(bool up) {
    if (!state_handler_) return;
    try {
      state_handler_(up);
    } catch (const std::exception& e) {
      spdlog::error("broker: the state handler threw: {}", e.what());
    } catch (...) {
      spdlog::error("broker: the state handler threw");
    }
  }

  // ---- failing and reconnecting ----

  // A link failed or was found dead. The state changes at once (publishes stop); the links
  // are freed by a posted handler, never inside one of hiredis's callbacks.
  void fail(Link& link, const std::string& reason) {
    if (!attempt_active()) return;
    bool was_up = phase_ == Phase::kUp;
    phase_ = Phase::kFailing;
    up_.store(false, std::memory_order_release);
    link_failures_.fetch_add(1, std::memory_order_relaxed);
    std::string what = std::string(link.name) + " link: " + reason;
    asio::post(io_, [this, was_up, what] { tear_down_and_retry(was_up, what); });
  }

  void tear_down_and_retry(bool was_up, const std::string& what) {
    if (phase_ != Phase::kFailing) return;  // stopped meanwhile
    close_links();
    if (was_up) {
      spdlog::warn("broker: down: {} on {}; reconnecting", what, url_.to_string());
      outage_logged_ = true;
      notify_state(false);
    } else if (!outage_logged_) {
      spdlog::warn("broker: cannot reach {}: {}; retrying", url_.to_string(), what);
      outage_logged_ = true;
    } else {
      spdlog::debug("broker: attempt failed: {}", what);
    }
    phase_ = Phase::kBackoff;
    milliseconds ceiling = backoff_;
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    std::uniform_int_distribution<long long> pick(ceiling.count() / 2, ceiling.count());
    backoff_timer_.expires_after(milliseconds(pick(rng_)));
    uint64_t attempt = attempt_;
    backoff_timer_.async_wait([this, attempt](const boost::system::error_code& ec) {
      if (ec || attempt != attempt_ || phase_ != Phase::kBackoff) return;
      connect();
    });
  }

  void close_links() {
    ++attempt_;  // stale watchdog and backoff completions see a newer attempt and stop
    watchdog_.cancel();
    for (Link* link : {&pub_, &sub_}) {
      redisAsyncContext* ac = link->ac;
      link->ac = nullptr;
      link->connected = false;
      if (!ac) continue;
      ac->data = nullptr;
      redisAsyncFree(ac);  // closes the socket at once, replies or not
    }
    unanswered_.clear();
    unanswered_bytes_ = 0;
    probes_.clear();
    awaiting_confirmation_.clear();
  }

  void shut_down() {
    phase_ = Phase::kStopped;
    up_.store(false, std::memory_order_release);
    close_links();
    backoff_timer_.cancel();
    work_.reset();  // run() returns once the cancelled waits have completed
  }

  // ---- deadlines and probes ----

  void arm_watchdog() {
    watchdog_.expires_after(kWatchdogTick);
    uint64_t attempt = attempt_;
    watchdog_.async_wait([this, attempt](const boost::system::error_code& ec) {
      if (ec || attempt != attempt_ || !attempt_active()) return;
      check_deadlines();
      if (attempt == attempt_ && attempt_active()) arm_watchdog();
    });
  }

  void check_deadlines() {
    auto now = Clock::now();
    switch (phase_) {
      case Phase::kConnecting:
        if (now - attempt_started_ > options_.connect_timeout)
          fail(pub_.connected ? sub_ : pub_,
               "not connected within " + std::to_string(ms(options_.connect_timeout)) + " ms");
        return;
      case Phase::kSubscribing:
        if (now - connected_at_ > options_.command_timeout)
          fail(select_answered_ ? sub_ : pub_,
               "no " + std::string(select_answered_ ? "SUBSCRIBE confirmation" : "SELECT reply") +
                   " within " + std::to_string(ms(options_.command_timeout)) + " ms");
        return;
      case Phase::kUp:
        if (!unanswered_.empty() && now - unanswered_.front().sent > options_.command_timeout)
          return fail(pub_,
                      "no reply within " + std::to_string(ms(options_.command_timeout)) + " ms");
        if (!probes_.empty() && now - probes_.front().second > options_.probe_timeout)
          return fail(sub_, "probe not received within " +
                                std::to_string(ms(options_.probe_timeout)) + " ms");
        if (now >= next_probe_) {
          next_probe_ = now + options_.probe_interval;
          uint64_t seq = ++probe_seq_;
          std::string payload = std::string(kProbePrefix) + std::to_string(seq);
          if (send_command(pub_, &Impl::on_publish_reply, {"PUBLISH", probe_channel_, payload}))
            probes_.emplace_back(seq, now);
        }
        return;
      default:
        return;
    }
  }

  const RedisUrl url_;
  const RedisBrokerOptions options_;
  const std::string instance_;
  const std::string probe_channel_;
  MessageHandler message_handler_;  // set before start(), then read on the broker's thread
  StateHandler state_handler_;
  ConfirmHandler confirm_handler_;                                       // set before start()
  std::vector<std::pair<std::string, MessageHandler>> prefix_handlers_;  // set before start()

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::mutex lifecycle_mu_;
  bool started_ = false;  // guarded by lifecycle_mu_
  bool stopped_ = false;  // guarded by lifecycle_mu_
  std::atomic<bool> stopping_{false};

  std::mutex inbox_mu_;
  std::vector<Op> inbox_;  // guarded by inbox_mu_

  std::atomic<bool> up_{false};
  std::atomic<uint64_t> published_{0}, dropped_{0}, received_{0}, reconnects_{0}, link_failures_{0};

  // The broker's thread only.
  Phase phase_ = Phase::kIdle;
  Link pub_, sub_;
  uint64_t attempt_ = 0;
  std::set<std::string, std::less<>> channels_;
  std::set<std::string, std::less<>> awaiting_confirmation_;
  bool select_answered_ = false;
  std::deque<Unanswered> unanswered_;
  size_t unanswered_bytes_ = 0;
  bool backlog_logged_ = false;
  std::deque<std::pair<uint64_t, Clock::time_point>> probes_;  // sent, not yet echoed
  uint64_t probe_seq_ = 0;
  Clock::time_point attempt_started_, connected_at_, next_probe_;
  asio::steady_timer watchdog_;
  asio::steady_timer backoff_timer_;
  milliseconds backoff_;
  std::minstd_rand rng_;
  bool been_up_ = false;
  bool outage_logged_ = false;
};

RedisBroker::RedisBroker(RedisUrl url, RedisBrokerOptions options)
    : impl_(std::make_unique<Impl>(std::move(url), options)) {}
RedisBroker::~RedisBroker() = default;

void RedisBroker::on_message(MessageHandler handler) { impl_->on_message(std::move(handler)); }
void RedisBroker::on_state(StateHandler handler) { impl_->on_state(std::move(handler)); }
void RedisBroker::on_messages_under(std::string prefix, MessageHandler handler) {
  impl_->on_messages_under(std::move(prefix), std::move(handler));
}
void RedisBroker::on_subscribed(ConfirmHandler handler) {
  impl_->on_subscribed(std::move(handler));
}
void RedisBroker::start() { impl_->start(); }
void RedisBroker::stop() { impl_->stop(); }
void RedisBroker::publish(std::string channel, std::string payload) {
  impl_->publish(std::move(channel), std::move(payload));
}
void RedisBroker::subscribe(std::string channel) { impl_->subscribe(std::move(channel)); }
void RedisBroker::unsubscribe(std::string channel) { impl_->unsubscribe(std::move(channel)); }
bool RedisBroker::up() const { return impl_->up(); }
Broker::Counters RedisBroker::counters() const { return impl_->counters(); }
const std::string& RedisBroker::instance() const { return impl_->instance(); }
const std::string& RedisBroker::probe_channel() const { return impl_->probe_channel(); }

Result<std::unique_ptr<Broker>> open_redis_broker(const std::string& url) {
  auto parsed = parse_redis_url(url);
  if (!parsed.ok()) return parsed.error();
  return std::unique_ptr<Broker>(std::make_unique<RedisBroker>(std::move(parsed.value())));
}

}  // namespace rwd::broker
