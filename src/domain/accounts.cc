#include "domain/accounts.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/text.h"
#include "domain/link_lifetime.h"
#include "domain/validation.h"
#include "metrics/counters.h"

namespace rwd::domain {

namespace {

store::OutboxMail verification_mail(const std::string& to, const std::string& name,
                                    const std::string& link, int64_t ttl_us, Language language) {
  store::OutboxMail m;
  m.recipient = to;
  std::string lifetime = link_lifetime_text(ttl_us, language);
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
                   ThreadPool& hash_pool, ThreadPool& read_pool, SnowflakeGenerator& ids,
                   const Clock& clock, EventBus& bus, std::function<void()> mail_queued)
    : settings_(std::move(settings)),
      store_(store),
      directory_(directory),
      hash_pool_(hash_pool),
      read_pool_(read_pool),
      ids_(ids),
      clock_(clock),
      bus_(bus),
      mail_queued_(std::move(mail_queued)),
      login_per_account_(settings_.login_account_rate_count, settings_.rate_window_us),
      mail_per_recipient_(settings_.mails_per_recipient, settings_.mail_window_us),
      reset_per_email_(settings_.reset_email_rate_count, settings_.reset_email_window_us) {
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
    if (s.ok()) metrics::add(metrics::counters().mail_queued);
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

void Accounts::login(std::string email, std::string password, std::string client,
                     Callback<std::string> done) {
  email = std::string(trim(email));
  if (email.empty() || password.empty() || password.size() > kPasswordMax ||
      email.size() > kEmailMax)
    return done(Error{Errc::kInvalidCredentials, {}});
  if (int64_t wait = login_per_account_.acquire(ascii_lower(email), clock_.now_us()); wait > 0) {
    Error e{Errc::kRateLimited, "too many login attempts for this account."};
    e.retry_after_ms = wait / 1000 + 1;
    return done(e);
  }
  bool submitted =
      hash_pool_.try_submit([this, email = std::move(email), password = std::move(password),
                             client = client_label(client, store::kClientLabelMax), done]() {
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
        rec.last_seen_us = rec.created_us;
        rec.client = client;
        // A disabled account is refused by the store (kAccountDisabled), and only here, after
        // the password checked out: to anyone else it answers like a wrong password. The hash
        // just verified may be stale (a reset or change committed meanwhile, or on another
        // node not heard of yet): the token is stored only against it.
        store_.put_login_token(rec, creds->password_hash, [this, done, token, rec](Status s) {
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
  // One process: a token the cache does not know was never issued, or was revoked or expired,
  // since the cache learns of each token before its holder does: refused without a write.
  // Several: another node may have issued it moments ago, so the store decides.
  if (!settings_.read_through && !directory_.token_user(hash, now))
    return done(Errc::kUnauthorized);
  revoke(std::move(hash), [done](Result<int64_t> user_id) {
    if (!user_id.ok()) return done(user_id.error());
    done({});
  });
}

void Accounts::revoke(std::string hash, Callback<int64_t> done) {
  // The store decides (a concurrent logout of the same token loses with kUnauthorized); the
  // cache forgets the token, and its open sessions end, once the revocation committed.
  store_.revoke_token(hash, clock_.now_us(), [this, hash, done](Result<int64_t> user_id) {
    if (!user_id.ok()) return done(user_id.error());
    directory_.apply(change::TokenRemoved{hash});
    bus_.publish(TokenRevokedEvent{user_id.value(), hash});
    done(user_id.value());
  });
}

// ---- account administration ----

std::string Accounts::session_id_of(const std::string& token_hash) {
  return crypto::sha256_hex(token_hash).substr(0, 16);
}

bool Accounts::is_session_id(std::string_view text) {
  if (text.size() != 16) return false;
  for (char ch : text)
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) return false;
  return true;
}

void Accounts::find_account(std::function<Result<std::optional<store::UserRecord>>()> read,
                            Callback<AccountInfo> done) {
  bool submitted = read_pool_.try_submit([read = std::move(read), done] {
    auto found = read();
    if (!found.ok()) return done(found.error());
    if (!found.value()) return done(Error{Errc::kUserNotFound, "no such account."});
    const store::UserRecord& u = *found.value();
    done(AccountInfo{u.id, u.name, u.email, u.disabled, u.deleted, u.created_us});
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many requests at once; try again."});
}

void Accounts::find_account_by_id(int64_t user_id, Callback<AccountInfo> done) {
  find_account([this, user_id] { return store_.find_user(user_id); }, std::move(done));
}

void Accounts::find_account_by_name(std::string name, Callback<AccountInfo> done) {
  find_account([this, name = std::move(name)] { return store_.find_user_by_name(name); },
               std::move(done));
}

void Accounts::find_account_by_email(std::string email, Callback<AccountInfo> done) {
  find_account([this, email = std::move(email)] { return store_.find_user_by_email(email); },
               std::move(done));
}

void Accounts::set_disabled(int64_t user_id, bool disabled, Callback<bool> done) {
  store_.set_user_disabled(
      user_id, disabled, clock_.now_us(),
      [this, user_id, disabled, done](Result<store::AccountStateOutcome> r) {
        if (!r.ok()) return done(r.error());
        for (const std::string& hash : r->revoked_token_hashes)
          directory_.apply(change::TokenRemoved{hash});
        // Also on a repeat: a session that opened while the first disable was on its way
        // (its token checked just before the revocation reached this cache) ends now.
        if (disabled) bus_.publish(TokenRevokedEvent{user_id, {}, RevokeReason::kAccountDisabled});
        spdlog::info("account {} {} by an operator{}", user_id, disabled ? "disabled" : "enabled",
                     r->changed ? "" : " (no change)");
        done(r->changed);
      });
}

void Accounts::sessions_of(int64_t user_id, Callback<std::vector<SessionInfo>> done) {
  bool submitted = read_pool_.try_submit([this, user_id, done] {
    auto user = store_.find_user(user_id);
    if (!user.ok()) return done(user.error());
    if (!user.value()) return done(Error{Errc::kUserNotFound, "no such account."});
    auto tokens = store_.live_tokens_of(user_id, clock_.now_us());
    if (!tokens.ok()) return done(tokens.error());
    std::vector<SessionInfo> out;
    for (const auto& t : tokens.value())
      out.push_back(SessionInfo{session_id_of(t.token_hash), t.created_us, t.expires_us,
                                t.last_seen_us, t.client});
    done(std::move(out));
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many requests at once; try again."});
}

void Accounts::revoke_session(int64_t user_id, std::string session_id, Callback<void> done) {
  bool submitted = read_pool_.try_submit([this, user_id, session_id = std::move(session_id), done] {
    auto user = store_.find_user(user_id);
    if (!user.ok()) return done(user.error());
    if (!user.value()) return done(Error{Errc::kUserNotFound, "no such account."});
    auto tokens = store_.live_tokens_of(user_id, clock_.now_us());
    if (!tokens.ok()) return done(tokens.error());
    for (const auto& t : tokens.value()) {
      if (session_id_of(t.token_hash) != session_id) continue;
      // As a logout of that token. One that expired or was revoked since the read loses.
      return revoke(t.token_hash, [done](Result<int64_t> r) {
        if (!r.ok() && r.error().code == Errc::kUnauthorized) return done(Errc::kSessionNotFound);
        if (!r.ok()) return done(r.error());
        done({});
      });
    }
    done(Errc::kSessionNotFound);
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many requests at once; try again."});
}

void Accounts::my_sessions(std::string token, Callback<std::vector<SessionInfo>> done) {
  std::string current = session_id_of(crypto::sha256_hex(token));
  authenticate_async(std::move(token), [this, current, done](Result<UserView> user) {
    if (!user.ok()) return done(user.error());
    sessions_of(user->id, [current, done](Result<std::vector<SessionInfo>> sessions) {
      if (!sessions.ok()) return done(sessions.error());
      for (auto& s : sessions.value()) s.current = s.id == current;
      done(std::move(sessions.value()));
    });
  });
}

void Accounts::revoke_my_session(std::string token, std::string session_id, Callback<void> done) {
  authenticate_async(std::move(token), [this, session_id = std::move(session_id),
                                        done](Result<UserView> user) mutable {
    if (!user.ok()) return done(user.error());
    // Only among the user's own tokens: another user's session id is as unknown as a made-up
    // one.
    revoke_session(user->id, std::move(session_id), done);
  });
}

void Accounts::session_used(std::string token_hash) {
  store_.touch_token(std::move(token_hash), clock_.now_us(), [](Status s) {
    if (!s.ok()) spdlog::warn("recording a session's use failed: {}", s.error().detail);
  });
}

std::optional<UserView> Accounts::authenticate(std::string_view token) const {
  if (token.empty() || token.size() > 256) return std::nullopt;
  auto user_id = directory_.token_user(crypto::sha256_hex(token), clock_.now_us());
  if (!user_id) return std::nullopt;
  return directory_.user(*user_id);
}

void Accounts::authenticate_async(std::string token, Callback<UserView> done) {
  if (auto user = authenticate(token)) return done(*user);
  if (!settings_.read_through || token.empty() || token.size() > 256)
    return done(Error{Errc::kInvalidToken, {}});
  bool submitted = read_pool_.try_submit([this, hash = crypto::sha256_hex(token), done] {
    auto user = token_user_from_store(hash);
    if (!user.ok()) return done(user.error());
    if (!user.value()) return done(Error{Errc::kInvalidToken, {}});
    done(*user.value());
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many requests at once; try again."});
}

Result<std::optional<UserView>> Accounts::token_user_from_store(const std::string& token_hash) {
  auto token = store_.find_token(token_hash, clock_.now_us());
  if (!token.ok()) return token.error();
  if (!token.value()) return std::optional<UserView>{};
  const store::TokenRecord& rec = *token.value();
  if (!directory_.user(rec.user_id)) {
    auto user = store_.find_user(rec.user_id);
    if (!user.ok()) return user.error();
    if (!user.value()) return std::optional<UserView>{};
    directory_.apply(change::UserAdded{*user.value()}, ChangeSource::kRemote);
  }
  // As another node's change (not published again); a revocation already applied wins
  // (Directory keeps the recently revoked tokens).
  directory_.apply(change::TokenAdded{rec}, ChangeSource::kRemote);
  auto user_id = directory_.token_user(token_hash, clock_.now_us());
  if (!user_id) return std::optional<UserView>{};
  return directory_.user(*user_id);
}

}  // namespace rwd::domain
