#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/crypto.h"
#include "base/rate_limiter.h"
#include "base/snowflake.h"
#include "base/thread_pool.h"
#include "domain/directory.h"
#include "domain/event_bus.h"
#include "store/store.h"

namespace rwd::domain {

struct AccountSettings {
  std::string public_base_url;  // verification links: <base>/api/v1/auth/email_verify/<key>
  int64_t token_ttl_us = 30LL * 24 * 3600 * 1000000;
  int64_t verify_key_ttl_us = 24LL * 3600 * 1000000;
  crypto::PasswordCost password_cost;
  int login_account_rate_count = 10;  // logins per email per window
  int64_t rate_window_us = 60'000'000;
  int mails_per_recipient = 3;  // per mail_window_us; more sign-ups answer alike, unmailed
  int64_t mail_window_us = 3600LL * 1000000;
  // Several nodes: an account verified on another node moments ago may not have reached this
  // node's cache yet, so a login whose email the cache lacks asks the store. One node: the
  // cache learns of every account as it commits, so it is never asked.
  bool read_through = false;
};

// Sign-up, email verification, login, logout and token checks.
//
// Threads: register, login and logout return at once; their callbacks run later on the
// hashing pool or the store's completion thread (never the caller's), so network threads never
// wait for argon2id or the disk. authenticate() only reads memory and may be called from
// any thread.
//
// Privacy: no answer says whether an email has an account. Registering an address that has
// one answers like a new registration and mails the owner instead; a failed login gives one
// message whatever was wrong, unless the password matches a registration still waiting for
// its verification (then the owner is told to verify).
class Accounts {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;

  Accounts(AccountSettings settings, store::Store& store, Directory& directory,
           ThreadPool& hash_pool, SnowflakeGenerator& ids, const Clock& clock, EventBus& bus,
           std::function<void()> mail_queued);

  // The mail is written in `language` (the page that registered, or its choice).
  void register_account(std::string name, std::string email, std::string password,
                        Language language, Callback<void> done);
  void verify_email(std::string key, Callback<UserView> done);
  // Returns a new token (43 characters of URL-safe base64, 256 random bits).
  void login(std::string email, std::string password, Callback<std::string> done);
  void logout(std::string token, Callback<void> done);
  std::optional<UserView> authenticate(std::string_view token) const;

 private:
  // The account of `email` read from the store and put in the cache (read_through); blocks.
  std::optional<Directory::Credentials> credentials_from_store(const std::string& email);
  // Stores the pending request and its mail in one write. For an email that already has
  // an account, the mail is a notice to its owner and the key is never sent: the request
  // only makes login answer as it would for a new address.
  void queue_registration(std::string name, std::string email, std::string password_hash,
                          bool has_account, Language language, Callback<void> done);

  AccountSettings settings_;
  store::Store& store_;
  Directory& directory_;
  ThreadPool& hash_pool_;
  SnowflakeGenerator& ids_;
  const Clock& clock_;
  EventBus& bus_;
  std::function<void()> mail_queued_;
  RateLimiter login_per_account_;
  // Register mails whatever address it is given: without a cap per recipient it would let
  // anyone flood a stranger's inbox through our SMTP account.
  RateLimiter mail_per_recipient_;
  std::string dummy_hash_;  // verified against when an email is unknown: equal timing
};

}  // namespace rwd::domain
