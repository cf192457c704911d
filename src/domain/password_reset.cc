// Accounts: password reset by mail and password change (accounts.h).
#include <spdlog/spdlog.h>

#include "base/text.h"
#include "domain/accounts.h"
#include "domain/link_lifetime.h"
#include "domain/validation.h"
#include "metrics/counters.h"

namespace rwd::domain {

namespace {

store::OutboxMail reset_mail(const std::string& to, const std::string& name,
                             const std::string& link, int64_t ttl_us, Language language) {
  store::OutboxMail m;
  m.recipient = to;
  std::string lifetime = link_lifetime_text(ttl_us, language);
  if (language == Language::kKorean) {
    m.subject = "REWIND 비밀번호 재설정";
    m.body = name +
             "님, 안녕하세요.\n\n아래 링크를 열어 REWIND 계정의 새 비밀번호를 정하세요:\n\n" +
             link + "\n\n이 링크는 한 번만 쓸 수 있고 " + lifetime +
             " 뒤에 만료됩니다. 새 비밀번호를 정하면 모든 기기에서 로그아웃됩니다. 요청한 적이 "
             "없다면 이 메일을 무시하세요. 비밀번호는 그대로입니다.\n";
    return m;
  }
  m.subject = "Choose a new REWIND password";
  m.body = "Hello " + name +
           ",\n\nOpen this link to choose a new password for your REWIND account:\n\n" + link +
           "\n\nThe link works once and expires in " + lifetime +
           ". Choosing a new password logs you out on every device. If you did not ask for "
           "this, ignore this mail: your password stays as it is.\n";
  return m;
}

}  // namespace

Status Accounts::request_password_reset(std::string email, Language language) {
  email = std::string(trim(email));
  if (Status s = validate_email(email); !s.ok()) return s;
  // Counted per email whether or not it has an account, so the limit tells nothing either.
  if (int64_t wait = reset_per_email_.acquire(ascii_lower(email), clock_.now_us()); wait > 0) {
    Error e{Errc::kRateLimited, "too many password reset requests for this email."};
    e.retry_after_ms = wait / 1000 + 1;
    return e;
  }
  // The caller is answered now, before the look-up: the answer and its timing are the same
  // whether or not the email has an account.
  bool submitted = read_pool_.try_submit([this, email = std::move(email), language] {
    auto creds = directory_.credentials_by_email(email);
    if (!creds && settings_.read_through) creds = credentials_from_store(email);
    if (!creds) {
      // Not the address: anyone can type any, and the log is no place for them.
      spdlog::debug("password reset not mailed: no account has that email");
      return;
    }
    auto user = directory_.user(creds->user_id);
    if (!user) return;
    std::string key = crypto::random_token(32);  // 256 bits
    int64_t now = clock_.now_us();
    store::PasswordReset reset{creds->user_id, crypto::sha256_hex(key), now,
                               now + settings_.reset_key_ttl_us};
    std::string link = settings_.public_base_url + "/#reset=" + key;
    auto mail = reset_mail(email, user->name, link, settings_.reset_key_ttl_us, language);
    int64_t user_id = creds->user_id;
    store_.put_password_reset(std::move(reset), std::move(mail), [this, user_id](Status s) {
      if (!s.ok()) {
        // The requester was answered already; the failure is the operator's to see.
        spdlog::warn("password reset for user {} not stored: {}", user_id, s.error().detail);
        return;
      }
      metrics::add(metrics::counters().mail_queued);
      if (mail_queued_) mail_queued_();
    });
  });
  if (!submitted) return Error{Errc::kOverloaded, "too many requests at once; try again."};
  return {};
}

void Accounts::reset_password(std::string key, std::string new_password, Callback<void> done) {
  if (Status s = validate_password(new_password); !s.ok()) return done(s.error());
  // Keys are 32 random bytes in URL-safe base64 (43 characters): anything else is refused
  // before it costs a password hash.
  if (key.size() != 43 ||
      key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789-_") != std::string::npos)
    return done(Errc::kLinkInvalid);
  bool submitted = hash_pool_.try_submit(
      [this, key = std::move(key), new_password = std::move(new_password), done] {
        auto hash = crypto::hash_password(new_password, settings_.password_cost);
        if (!hash) return done(Error{Errc::kOverloaded, "out of memory while hashing"});
        // The store decides: the key is deleted as it is used, so of two uses the second loses.
        store_.reset_password(crypto::sha256_hex(key), std::move(*hash), clock_.now_us(),
                              [this, done](Result<store::PasswordChanged> r) {
                                if (!r.ok()) return done(r.error());
                                apply_password_change(r.value());
                                spdlog::info("password of user {} reset by mail; {} tokens revoked",
                                             r->user.id, r->revoked_token_hashes.size());
                                done({});
                              });
      });
  if (!submitted) done(Error{Errc::kOverloaded, "too many requests at once; try again."});
}

void Accounts::change_password(std::string token, std::string current_password,
                               std::string new_password, Callback<void> done) {
  std::string token_hash = crypto::sha256_hex(token);
  authenticate_async(std::move(token),
                     [this, token_hash, current_password = std::move(current_password),
                      new_password = std::move(new_password), done](Result<UserView> user) mutable {
                       if (!user.ok())
                         return done(user.error().code == Errc::kInvalidToken
                                         ? Error{Errc::kUnauthorized, {}}
                                         : user.error());
                       change_password_of(user->id, token_hash, std::move(current_password),
                                          std::move(new_password), std::move(done));
                     });
}

void Accounts::change_password_of(int64_t user_id, std::string token_hash,
                                  std::string current_password, std::string new_password,
                                  Callback<void> done) {
  auto account = directory_.email_and_credentials(user_id);
  if (!account) return done(Error{Errc::kUnauthorized, {}});
  // As a login of the account: guessing the current password through here is as slow.
  if (int64_t wait = login_per_account_.acquire(account->first, clock_.now_us()); wait > 0) {
    Error e{Errc::kRateLimited, "too many login attempts for this account."};
    e.retry_after_ms = wait / 1000 + 1;
    return done(e);
  }
  if (current_password.empty() || current_password.size() > kPasswordMax)
    return done(Error{Errc::kInvalidCredentials, {}});
  if (Status s = validate_password(new_password); !s.ok()) return done(s.error());
  bool submitted = hash_pool_.try_submit([this, user_id, token_hash = std::move(token_hash),
                                          old_hash = account->second.password_hash,
                                          current_password = std::move(current_password),
                                          new_password = std::move(new_password), done] {
    if (!crypto::verify_password(current_password, old_hash))
      return done(Error{Errc::kInvalidCredentials, {}});
    auto hash = crypto::hash_password(new_password, settings_.password_cost);
    if (!hash) return done(Error{Errc::kOverloaded, "out of memory while hashing"});
    // The store decides against the hash that was checked: a change or reset that committed
    // since then wins, and this one answers kInvalidCredentials.
    store_.change_password(user_id, old_hash, std::move(*hash), token_hash, clock_.now_us(),
                           [this, done](Result<store::PasswordChanged> r) {
                             if (!r.ok()) return done(r.error());
                             apply_password_change(r.value());
                             spdlog::info("password of user {} changed; {} other tokens revoked",
                                          r->user.id, r->revoked_token_hashes.size());
                             done({});
                           });
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many requests at once; try again."});
}

void Accounts::apply_password_change(const store::PasswordChanged& changed) {
  // As logout does for one token: the cache forgets each one, and the sessions opened with it
  // end (on every node: the change and the event both travel).
  directory_.apply(change::UserAdded{changed.user});
  for (const auto& hash : changed.revoked_token_hashes) {
    directory_.apply(change::TokenRemoved{hash});
    bus_.publish(TokenRevokedEvent{changed.user.id, hash});
  }
}

}  // namespace rwd::domain
