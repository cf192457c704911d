#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "mail/mailer.h"
#include "store/store.h"

namespace rwd::mail {

// Drains the outbox table on its own thread: every committed mail is claimed, sent by the
// Mailer, then marked sent; a failure is retried with exponential backoff (5 s doubling, capped
// at one hour) until kMaxAttempts, after which it is left unsent with its last error.
// Because mail is read back from the database, a crash between register and send loses
// nothing: the next start sends it.
class OutboxSender {
 public:
  static constexpr int kMaxAttempts = 12;
  // Mail is claimed this many at a time (Store::claim_due_mail): on several nodes each
  // node's sender takes its own share, and none sends a mail another holds.
  static constexpr int kClaimBatch = 8;

  OutboxSender(store::Store& store, Mailer& mailer, const Clock& clock);
  ~OutboxSender();
  void start();
  // Called after a mail was committed: look at the outbox now.
  void wake();
  void stop();

  // The outbox's backlog: unsent mail that will still be tried (Store::unsent_mail_count),
  // as last read by the sender thread (at start and after each batch) plus the mail woken
  // for since. While the mailer hangs on one mail, new mail still adds up here. Any thread;
  // an atomic, for readiness and the rewind_mail_backlog gauge.
  int64_t backlog() const;

 private:
  void run();
  void send_due();
  void read_backlog();

  store::Store& store_;
  Mailer& mailer_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
  std::atomic<int64_t> backlog_read_{0};      // the store's count at the last read
  std::atomic<int64_t> woken_since_read_{0};  // wake() calls since that read
};

}  // namespace rwd::mail
