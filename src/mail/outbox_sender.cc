#include "mail/outbox_sender.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "metrics/counters.h"

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
  woken_since_read_.fetch_add(1, std::memory_order_relaxed);
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

int64_t OutboxSender::backlog() const {
  return backlog_read_.load(std::memory_order_relaxed) +
         woken_since_read_.load(std::memory_order_relaxed);
}

void OutboxSender::read_backlog() {
  // The wakes seen before the read are dropped only once the count replaces them, so the
  // backlog never dips while the read runs: a mail committed meanwhile may count twice until
  // the next read, never zero times. A failed read keeps the last count and the wakes.
  int64_t woken = woken_since_read_.load(std::memory_order_relaxed);
  auto count = store_.unsent_mail_count();
  if (!count.ok()) return;
  backlog_read_.store(count.value(), std::memory_order_relaxed);
  woken_since_read_.fetch_sub(woken, std::memory_order_relaxed);
}

void OutboxSender::run() {
  read_backlog();  // what earlier runs left unsent counts before the first send is tried
  for (;;) {
    send_due();
    read_backlog();
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
    auto claimed = store_.claim_due_mail(clock_.now_us(), kClaimBatch);
    if (!claimed.ok()) {
      spdlog::error("outbox: {}", claimed.error().detail);
      return;
    }
    store::MailClaim& claim = *claimed.value();
    if (claim.mail().empty()) return;
    for (const store::OutboxMail& m : claim.mail()) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;  // what was sent is still committed below
      }
      Status s = mailer_.send({m.recipient, m.subject, m.body});
      metrics::add(s.ok() ? metrics::counters().mail_sent : metrics::counters().mail_failed);
      if (s.ok()) {
        claim.sent(m.id, clock_.now_us());
        continue;
      }
      int attempts = m.attempts + 1;
      int64_t next = attempts >= kMaxAttempts
                         ? INT64_MAX
                         : clock_.now_us() + std::min<int64_t>(int64_t{5'000'000} << (attempts - 1),
                                                               3'600'000'000);
      spdlog::warn("mail to <{}> failed (attempt {}): {}", m.recipient, attempts, s.error().detail);
      claim.retry(m.id, attempts, next, s.error().detail);
    }
    // Committed before the next claim, so that it does not see these mails again.
    if (Status s = claim.commit(); !s.ok())
      spdlog::error("outbox: recording what was sent failed ({}): those mails go out again",
                    s.error().detail);
    read_backlog();
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (claim.mail().size() < static_cast<size_t>(kClaimBatch)) return;
  }
}

}  // namespace rwd::mail
