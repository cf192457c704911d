#include "domain/accounts.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/text.h"
#include "domain/validation.h"

namespace rwd::domain {

namespace {

// A link's lifetime as a person reads it: whole hours, or minutes (rounded up) under an hour.
std::string lifetime_text(int64_t ttl_us, Language language) {
  constexpr int64_t kMinute = 60'000'000, kHour = 60 * kMinute;
  bool korean = language == Language::kKorean;
  if (ttl_us >= kHour) {
    int64_t hours = ttl_us / kHour;
    return std::to_string(hours) + (korean ? "시간" : hours == 1 ? " hour" : " hours");
  }
  int64_t minutes = std::max<int64_t>(1, (ttl_us + kMinute - 1) / kMinute);
  return std::to_string(minutes) + (korean ? "분" : minutes == 1 ? " minute" : " minutes");
}

store::OutboxMail verification_mail(const std::string& to, const std::string& name,
                                    const std::string& link, int64_t ttl_us, Language language) {
  store::OutboxMail m;
  m.recipient = to;
  std::string lifetime = lifetime_text(ttl_us, language);
  if (language == Language::kKorean) {
    m.subject = "REWIND 계정 인증";
    m.body = name + "님, 안녕하세요.\n\n아래 링크를 열면 REWIND 계정이 만들어집니다:\n\n" + link +
             "\n\n이 링크는 한 번만 쓸 수 있고 " + lifetime +
             " 뒤에 만료됩니다. 가입한 적이 없다면 이 메일을 무시하세요.\n";
    return m;
  }
  m.subject = "Verify your REWIND account";
  m.body = "Hello " + name + ",\n\nOpen this link to create your REWIND account:\n\n" + link +
           "\n\nThe link works once and expires in " + lifetime +
           ". If you did not sign up, ignore this mail.\n";
  return m;
}

store::OutboxMail existing_account_mail(const std::string& to, Language language) {
  store::OutboxMail m;
  m.recipient = to;
  if (language == Language::kKorean) {
    m.subject = "누군가 이 주소로 REWIND 가입을 시도했습니다";
    m.body =
        "안녕하세요.\n\n누군가(본인일 수도 있습니다) 이미 계정이 있는 이 주소로 REWIND 계정을 "
        "만들려고 했습니다. 본인이라면 가입 대신 비밀번호로 로그인하세요. 본인이 아니라면 이 "
        "메일을 무시하셔도 됩니다. 바뀐 것은 없습니다.\n";
    return m;
  }
  m.subject = "Someone tried to sign up to REWIND with your address";
  m.body =
      "Hello,\n\nSomeone (perhaps you) tried to create a REWIND account with this address, "
      "which already has one. If it was you, log in with your password instead. If it was "
      "not, you can ignore this mail: nothing was changed.\n";
  return m;
}

}  // namespace

Accounts::Accounts(AccountSettings settings, store::Store& store, Directory& directory,
                   ThreadPool& hash_pool, SnowflakeGenerator& ids, const Clock& clock,
                   EventBus& bus, std::function<void()> mail_queued)
    : settings_(std::move(settings)),
      store_(store),
      directory_(directory),
      hash_pool_(hash_pool),
      ids_(ids),
      clock_(clock),
      bus_(bus),
      mail_queued_(std::move(mail_queued)),
      login_per_account_(settings_.login_account_rate_count, settings_.rate_window_us),
      mail_per_recipient_(settings_.mails_per_recipient, settings_.mail_window_us) {
  dummy_hash_ = crypto::hash_password(crypto::random_token(16), settings_.password_cost)
                    .value_or(std::string());
}

void Accounts::register_account(std::string name, std::string email, std::string password,
                                Language language, Callback<void> done) {
  email = std::string(trim(email));
  auto valid_name = validate_name(trim(name));
  if (!valid_name.ok()) return done(valid_name.error());
  name = std::move(valid_name.value());  // NFC: stored and shown as such
  if (Status s = validate_email(email); !s.ok()) return done(s.error());
  if (Status s = validate_password(password); !s.ok()) return done(s.error());
  if (Status s = directory_.name_available(name); !s.ok()) return done(s.error());
  bool submitted = hash_pool_.try_submit([this, name = std::move(name), email = std::move(email),
                                          password = std::move(password), language,
                                          done]() mutable {
    // Hash even for a known email so both answers take the same time.
    auto hash = crypto::hash_password(password, settings_.password_cost);
    if (!hash) return done(Error{Errc::kOverloaded, "out of memory while hashing"});
    bool has_account = directory_.credentials_by_email(email).has_value();
    if (mail_per_recipient_.acquire(ascii_lower(email), clock_.now_us()) > 0) {
      // Answer as usual (the caller must not learn anything), but send nothing.
      spdlog::info("sign-up for <{}> not mailed: too many mails to that address this hour", email);
      return done({});
    }
    queue_registration(std::move(name), std::move(email), std::move(*hash), has_account, language,
                       std::move(done));
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many sign-ups at once; try again."});
}

void Accounts::queue_registration(std::string name, std::string email, std::string password_hash,
                                  bool has_account, Language language, Callback<void> done) {
  int64_t now = clock_.now_us();
  std::string key = crypto::random_token(32);  // 256 bits
  store::PendingRegistration reg;
  reg.email = email;
  reg.name = name;
  reg.password_hash = std::move(password_hash);
  reg.key_hash = crypto::sha256_hex(key);
  reg.created_us = now;
  reg.expires_us = now + settings_.verify_key_ttl_us;
  std::string link = settings_.public_base_url + "/api/v1/auth/email_verify/" + key;
  auto mail = has_account
                  ? existing_account_mail(email, language)
                  : verification_mail(email, name, link, settings_.verify_key_ttl_us, language);
  store_.put_registration(std::move(reg), std::move(mail), [this, done](Status s) {
    if (s.ok() && mail_queued_) mail_queued_();
    done(s);
  });
}

void Accounts::verify_email(std::string key, Callback<UserView> done) {
  if (key.empty() || key.size() > 128) return done(Errc::kLinkInvalid);
  int64_t id = ids_.next();
  store_.verify_registration(crypto::sha256_hex(key), clock_.now_us(), id,
                             [this, done](Result<store::UserRecord> r) {
                               if (!r.ok()) return done(r.error());
                               directory_.apply(change::UserAdded{r.value()});
                               spdlog::info("account {} created for user {}", r->name, r->id);
                               done(UserView{r->id, r->name, r->profile});
                             });
}

std::optional<Directory::Credentials> Accounts::credentials_from_store(const std::string& email) {
  auto found = store_.find_user_by_email(email);
  if (!found.ok() || !found.value()) return std::nullopt;  // a failed read answers as unknown
  const store::UserRecord& user = *found.value();
  // Into the cache as another node's change (not published again): the broker brings the same
  // change later, and applying it twice is harmless.
  directory_.apply(change::UserAdded{user}, ChangeSource::kRemote);
  return Directory::Credentials{user.id, user.password_hash};
}

void Accounts::login(std::string email, std::string password, Callback<std::string> done) {
  email = std::string(trim(email));
  if (email.empty() || password.empty() || password.size() > kPasswordMax ||
      email.size() > kEmailMax)
    return done(Error{Errc::kInvalidCredentials, {}});
  if (int64_t wait = login_per_account_.acquire(ascii_lower(email), clock_.now_us()); wait > 0) {
    Error e{Errc::kRateLimited, "too many login attempts for this account."};
    e.retry_after_ms = wait / 1000 + 1;
    return done(e);
  }
  bool submitted = hash_pool_.try_submit(
      [this, email = std::move(email), password = std::move(password), done]() {
        // The same answers and the same hashing work whether or not the email has an account:
        // a pending request for an address with an account answers as one for a new address.
        auto creds = directory_.credentials_by_email(email);
        if (!creds && settings_.read_through) creds = credentials_from_store(email);
        bool password_ok =
            crypto::verify_password(password, creds ? creds->password_hash : dummy_hash_);
        if (!creds || !password_ok) {
          auto pending = store_.find_pending(email);
          bool pending_match = pending.ok() && pending.value() &&
                               pending.value()->expires_us > clock_.now_us() &&
                               crypto::verify_password(password, pending.value()->password_hash);
          return done(pending_match ? Error{Errc::kEmailNotVerified, {}}
                                    : Error{Errc::kInvalidCredentials, {}});
        }
        std::string token = crypto::random_token(32);
        store::TokenRecord rec;
        rec.token_hash = crypto::sha256_hex(token);
        rec.user_id = creds->user_id;
        rec.created_us = clock_.now_us();
        rec.expires_us = rec.created_us + settings_.token_ttl_us;
        store_.put_token(rec, [this, done, token, rec](Status s) {
          if (!s.ok()) return done(s.error());
          directory_.apply(change::TokenAdded{rec});
          done(token);
        });
      });
  if (!submitted) done(Error{Errc::kOverloaded, "too many logins at once; try again."});
}

void Accounts::logout(std::string token, Callback<void> done) {
  std::string hash = crypto::sha256_hex(token);
  int64_t now = clock_.now_us();
  // A token the cache does not know was never issued, or was revoked or expired, since the
  // cache learns of each token before its holder does: refused without a write.
  if (!directory_.token_user(hash, now)) return done(Errc::kUnauthorized);
  // The store decides (a concurrent logout of the same token loses with kUnauthorized); the
  // cache forgets the token, and its open sessions end, once the revocation committed.
  store_.revoke_token(hash, now, [this, hash, done](Result<int64_t> user_id) {
    if (!user_id.ok()) return done(user_id.error());
    directory_.apply(change::TokenRemoved{hash});
    bus_.publish(TokenRevokedEvent{user_id.value(), hash});
    done({});
  });
}

std::optional<UserView> Accounts::authenticate(std::string_view token) const {
  if (token.empty() || token.size() > 256) return std::nullopt;
  auto user_id = directory_.token_user(crypto::sha256_hex(token), clock_.now_us());
  if (!user_id) return std::nullopt;
  return directory_.user(*user_id);
}

}  // namespace rwd::domain
