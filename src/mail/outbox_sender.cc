#include "mail/outbox_sender.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

namespace rwd::mail {

OutboxSender::OutboxSender(store::Store& store, Mailer& mailer, const Clock& clock)
    : store_(store), mailer_(mailer), clock_(clock) {}

OutboxSender::~OutboxSender() { stop(); }

void OutboxSender::start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "mail-sender");
    run();
  });
}

void OutboxSender::wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void OutboxSender::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void OutboxSender::run() {
  for (;;) {
    send_due();
    auto next = store_.next_mail_due();
    std::unique_lock lock(mu_);
    if (stopping_) return;
    if (woken_) {
      woken_ = false;
      continue;
    }
    auto wait = std::chrono::seconds(60);
    if (next.ok() && next.value()) {
      int64_t delta_us = std::max<int64_t>(0, *next.value() - clock_.now_us());
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::microseconds(delta_us) + std::chrono::seconds(1)));
    }
    cv_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
    if (stopping_) return;
    woken_ = false;
  }
}

void OutboxSender::send_due() {
  for (;;) {
    auto due = store_.due_mail(clock_.now_us(), 16);
    if (!due.ok()) {
      spdlog::error("outbox: {}", due.error().detail);
      return;
    }
    if (due->empty()) return;
    std::vector<std::future<void>> acks;
    for (const store::OutboxMail& m : *due) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      auto promise = std::make_shared<std::promise<void>>();
      acks.push_back(promise->get_future());
      auto ack = [promise](Status) { promise->set_value(); };
      Status s = mailer_.send({m.recipient, m.subject, m.body});
      if (s.ok()) {
        store_.mark_mail_sent(m.id, clock_.now_us(), ack);
        continue;
      }
      int attempts = m.attempts + 1;
      int64_t next = attempts >= kMaxAttempts
                         ? INT64_MAX
                         : clock_.now_us() + std::min<int64_t>(int64_t{5'000'000} << (attempts - 1),
                                                               3'600'000'000);
      spdlog::warn("mail to <{}> failed (attempt {}): {}", m.recipient, attempts, s.error().detail);
      store_.reschedule_mail(m.id, attempts, next, s.error().detail, ack);
    }
    // Wait for the marks to commit so the next read does not see these mails again.
    for (auto& f : acks) f.wait();
    if (due->size() < 16) return;
  }
}

}  // namespace rwd::mail
