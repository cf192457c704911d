#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  // Password reset by mail: how long a reset link works, and how many reset requests one
  // email may make per reset_email_window_us (more are refused with kRateLimited, whether
  // or not the email has an account).
  int64_t reset_key_ttl_us = 30LL * 60 * 1000000;
  int reset_email_rate_count = 3;
  int64_t reset_email_window_us = 3600LL * 1000000;
  // Several nodes: an account verified on another node moments ago may not have reached this
  // node's cache yet, so a login whose email the cache lacks asks the store. One node: the
  // cache learns of every account as it commits, so it is never asked.
  bool read_through = false;
};

// An account as an operator sees it (the admin listener): never its password hash.
struct AccountInfo {
  int64_t id = 0;
  std::string name;
  std::string email;
  bool disabled = false;
  bool deleted = false;  // a tombstone (delete_account): name and email are empty
  int64_t created_us = 0;
};

// A live login token as an operator sees it. `id` is the first 16 hex digits of the SHA-256
// of the stored hash: it names the token without revealing the token or its hash.
struct SessionInfo {
  std::string id;
  int64_t created_us = 0;
  int64_t expires_us = 0;
  int64_t last_seen_us = 0;  // its login, or the last gateway authentication with it
  std::string client;        // the client that logged in (store::TokenRecord::client)
  bool current = false;      // my_sessions: the token that asked
};

// Sign-up, email verification, login, logout and token checks; and account administration
// (find, disable, enable, list and revoke sessions) for operators.
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
           ThreadPool& hash_pool, ThreadPool& read_pool, SnowflakeGenerator& ids,
           const Clock& clock, EventBus& bus, std::function<void()> mail_queued);

  // The mail is written in `language` (the page that registered, or its choice).
  void register_account(std::string name, std::string email, std::string password,
                        Language language, Callback<void> done);
  void verify_email(std::string key, Callback<UserView> done);
  // Returns a new token (43 characters of URL-safe base64, 256 random bits). `client` is what
  // the client said it is (its User-Agent), kept with the token as its label (cleaned).
  void login(std::string email, std::string password, std::string client,
             Callback<std::string> done);
  void logout(std::string token, Callback<void> done);
  std::optional<UserView> authenticate(std::string_view token) const;
  // authenticate(), and when the cache does not know the token and settings.read_through is
  // set (another node may have issued it moments ago), the store's answer. `done` runs at once
  // on a cache hit or a plain refusal, otherwise later on the read pool. kInvalidToken: no
  // live token; kStorageUnavailable: the store could not be asked.
  void authenticate_async(std::string token, Callback<UserView> done);

  // --- account administration (the admin listener). Each runs `done` later, on the read
  // pool or the store's completion thread. kUserNotFound when there is no such account.
  void find_account_by_id(int64_t user_id, Callback<AccountInfo> done);
  void find_account_by_name(std::string name, Callback<AccountInfo> done);
  void find_account_by_email(std::string email, Callback<AccountInfo> done);
  // Disables (or enables) the account, the store deciding. Disabling revokes every live token
  // of the user and ends all its sessions on every node (close 4110); login then answers
  // kAccountDisabled, but only to whoever gave the right password. Enabling revokes nothing
  // back: the user logs in again. Answers whether anything changed (false: a repeat).
  void set_disabled(int64_t user_id, bool disabled, Callback<bool> done);
  // Deletes the account, the store deciding everything in one transaction (store.h,
  // delete_user): a tombstone stays under its id (shown as kDeletedUserName), its name and
  // email are free again, every token is revoked and every session ends on every node (close
  // 4111); its friends and the other sides of its friend requests are told as of an unfriending
  // (`delete`) or a withdrawal (`remove`); it leaves every guild (members told `left`, with the
  // new owner when it owned the guild; a guild it was alone in is deleted). Its messages stay.
  // kUserNotFound when there is no such account (or it is already deleted).
  void delete_account(int64_t user_id, Callback<void> done);
  // The holder of `token` deletes its own account, giving its password: kUnauthorized (no live
  // token), kRateLimited (counted as a login of the account), kInvalidCredentials (wrong,
  // missing or empty password, or it changed meanwhile).
  void delete_own_account(std::string token, std::string password, Callback<void> done);
  // The user's live tokens, oldest first.
  void sessions_of(int64_t user_id, Callback<std::vector<SessionInfo>> done);
  // Revokes the live token whose SessionInfo::id is session_id, exactly as its logout would
  // (its sessions end with 4108 on every node). kSessionNotFound when the user has none.
  void revoke_session(int64_t user_id, std::string session_id, Callback<void> done);
  static std::string session_id_of(const std::string& token_hash);
  // What session_id_of gives: 16 lower-case hex digits.
  static bool is_session_id(std::string_view text);

  // --- a person's own sessions. `token` is the caller's; kInvalidToken when it is not live.
  // The live tokens of the token's user, oldest first, the caller's marked current.
  void my_sessions(std::string token, Callback<std::vector<SessionInfo>> done);
  // Revokes the token's user's session session_id (the caller's own one included), exactly
  // as its logout would. kSessionNotFound when the user has no live session with that id,
  // whoever else may have one.
  void revoke_my_session(std::string token, std::string session_id, Callback<void> done);
  // A gateway connection authenticated with the token: records when (its last_seen). One
  // write per authentication, never per message; a failure is only logged (and counted by
  // the store).
  void session_used(std::string token_hash);

  // Several nodes share it (broker/cluster_limits.h): login attempts per account.
  RateLimiter& login_per_account_limiter() { return login_per_account_; }

  // Passwords (password_reset.cc). Like register, none of these answers says whether an
  // email has an account.
  //
  // Mails `email`'s account (if it has one) a link <base>/#reset=<key> to the web client's
  // page that chooses a new password, in `language`. Returns at once, the same whether or not
  // the email has an account: the look-up and the write run later on the read pool. Errors:
  // kInvalidEmail, kRateLimited (too many requests for this email), kOverloaded.
  Status request_password_reset(std::string email, Language language);
  // Uses a reset key: the account's password becomes new_password and every token of the
  // account is revoked (its sessions end with 4108). kInvalidPassword; kLinkInvalid when the
  // key is unknown, used, replaced or expired.
  void reset_password(std::string key, std::string new_password, Callback<void> done);
  // The holder of `token` changes its password: every other token of the account is revoked
  // (their sessions end with 4108); `token` keeps working. kUnauthorized (no live token),
  // kRateLimited (counted as a login of the account), kInvalidCredentials (current_password
  // is wrong), kInvalidPassword (new_password breaks the rules).
  void change_password(std::string token, std::string current_password, std::string new_password,
                       Callback<void> done);
  // Several nodes share it (broker/cluster_limits.h): reset requests per email.
  RateLimiter& reset_per_email_limiter() { return reset_per_email_; }

 private:
  // Runs `read` (a blocking store read of one user) on the read pool, answering what it found.
  void find_account(std::function<Result<std::optional<store::UserRecord>>()> read,
                    Callback<AccountInfo> done);
  // Revokes one live token (the store deciding), forgets it in the cache and ends its
  // sessions: what logout and an operator's revocation share.
  void revoke(std::string token_hash, Callback<int64_t> done);
  // The account of `email` read from the store and put in the cache (read_through); blocks.
  std::optional<Directory::Credentials> credentials_from_store(const std::string& email);
  // The user of a live token read from the store, the token and its user put in the cache
  // (read_through); blocks.
  Result<std::optional<UserView>> token_user_from_store(const std::string& token_hash);
  // Stores the pending request and its mail in one write. For an email that already has
  // an account, the mail is a notice to its owner and the key is never sent: the request
  // only makes login answer as it would for a new address.
  void queue_registration(std::string name, std::string email, std::string password_hash,
                          bool has_account, Language language, Callback<void> done);

  // A committed password change into the cache (and to the other nodes), and the end of the
  // sessions of the tokens it revoked.
  void apply_password_change(const store::PasswordChanged& changed);
  // delete_account, the store checking verified_password_hash (when not empty); `by` goes to
  // the log.
  void delete_account_checked(int64_t user_id, std::string verified_password_hash, const char* by,
                              Callback<void> done);
  // A committed deletion into the cache (and to the other nodes), and the events it causes.
  void apply_account_deletion(const store::AccountDeleted& deleted);
  // change_password once the token is known to be user_id's; runs on the hashing pool.
  void change_password_of(int64_t user_id, std::string token_hash, std::string current_password,
                          std::string new_password, Callback<void> done);

  AccountSettings settings_;
  store::Store& store_;
  Directory& directory_;
  ThreadPool& hash_pool_;
  ThreadPool& read_pool_;  // blocking store reads of authenticate_async
  SnowflakeGenerator& ids_;
  const Clock& clock_;
  EventBus& bus_;
  std::function<void()> mail_queued_;
  RateLimiter login_per_account_;
  // Register mails whatever address it is given: without a cap per recipient it would let
  // anyone flood a stranger's inbox through our SMTP account.
  RateLimiter mail_per_recipient_;
  RateLimiter reset_per_email_;
  std::string dummy_hash_;  // verified against when an email is unknown: equal timing
};

}  // namespace rwd::domain
