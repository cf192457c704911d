#pragma once

#include <optional>
#include <string_view>

namespace rwd::mail {

// How an SMTP connection is secured. The one enum for the concept: the Config holds it as
// parsed from --smtp-tls and SmtpSettings carries it to the sender, so neither converts.
enum class SmtpTls {
  kImplicit,  // TLS from the first byte (smtps)
  kStartTls,  // plain, then STARTTLS, which is required (never downgraded)
  kNone,      // plain text: only for local tests
};

// The mode as --smtp-tls / REWIND_SMTP_TLS spell it: "implicit", "starttls" or "none".
constexpr std::optional<SmtpTls> smtp_tls_from_name(std::string_view name) {
  if (name == "implicit") return SmtpTls::kImplicit;
  if (name == "starttls") return SmtpTls::kStartTls;
  if (name == "none") return SmtpTls::kNone;
  return std::nullopt;
}

// The port a mode uses when none is given: 465, 587 or 25.
constexpr int default_smtp_port(SmtpTls tls) {
  switch (tls) {
    case SmtpTls::kImplicit:
      return 465;
    case SmtpTls::kStartTls:
      return 587;
    case SmtpTls::kNone:
      return 25;
  }
  return 465;
}

}  // namespace rwd::mail
