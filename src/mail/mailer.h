#pragma once

#include <string>

#include "base/error.h"
#include "mail/smtp_tls.h"

namespace rwd::mail {

struct Mail {
  std::string to;
  std::string subject;
  std::string body;  // plain text, UTF-8, '\n' line ends
};

// Delivers one mail. Blocking: called only from the outbox sender's thread.
class Mailer {
 public:
  virtual ~Mailer() = default;
  virtual Status send(const Mail& mail) = 0;
};

// With no SMTP server configured: writes each mail, link included, to the log so that
// someone trying REWIND on a laptop can still verify an account.
class LogMailer final : public Mailer {
 public:
  Status send(const Mail& mail) override;
};

struct SmtpSettings {
  std::string host;
  int port = 465;
  SmtpTls tls = SmtpTls::kImplicit;
  std::string ca_file;   // empty: the system store
  std::string from;      // MAIL_ADDRESS: sender and login
  std::string password;  // MAIL_PASSWD: login password; empty: no login
  int timeout_s = 30;
};

// Sends over SMTP with libcurl: implicit TLS (smtps), STARTTLS (required, never
// downgraded) or plain (only for local tests).
class SmtpMailer final : public Mailer {
 public:
  explicit SmtpMailer(SmtpSettings settings);
  Status send(const Mail& mail) override;

 private:
  SmtpSettings s_;
};

// The message as sent on the wire: headers and a CRLF body. Exposed for tests.
std::string format_message(const Mail& mail, const std::string& from, int64_t now_us,
                           const std::string& message_id);

}  // namespace rwd::mail
