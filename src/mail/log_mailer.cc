#include <spdlog/spdlog.h>

#include "mail/mailer.h"

namespace rwd::mail {

Status LogMailer::send(const Mail& mail) {
  spdlog::info("mail (no SMTP server configured) to <{}>: {}\n{}", mail.to, mail.subject,
               mail.body);
  return {};
}

}  // namespace rwd::mail
