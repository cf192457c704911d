#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "base/clock.h"
#include "mail/mailer.h"
#include "store/store.h"

namespace rwd::mail {

// Drains the outbox table on its own thread: every committed mail is sent by the Mailer,
// then marked sent; a failure is retried with exponential backoff (5 s doubling, capped
// at one hour) until kMaxAttempts, after which it is left unsent with its last error.
// Because mail is read back from the database, a crash between register and send loses
// nothing: the next start sends it.
class OutboxSender {
 public:
  static constexpr int kMaxAttempts = 12;

  OutboxSender(store::Store& store, Mailer& mailer, const Clock& clock);
  ~OutboxSender();
  void start();
  // Called after a mail was committed: look at the outbox now.
  void wake();
  void stop();

 private:
  void run();
  void send_due();

  store::Store& store_;
  Mailer& mailer_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace rwd::mail
