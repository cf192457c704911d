#pragma once
// Verification links from the mails an SMTP sink saved (one .eml file per mail, in arrival
// order by name). A mail is read as MIME (GMime): its text parts are decoded from their
// transfer encoding (quoted-printable, base64) and charset before the link is looked for, so
// rewind-bench can set up against any server of the protocol, not only one that sends
// plain 7-bit text.

#include <set>
#include <string>
#include <unordered_map>

namespace rwd::bench {

// The verification key in one mail: its recipient (the sink's X-Envelope-To, else To) and
// the key that follows /api/v1/auth/email_verify/ in a decoded text part.
struct VerificationMail {
  std::string to;
  std::string key;
};

// Parses one saved mail; false when it is not a verification mail (or not MIME at all).
bool parse_verification_mail(const std::string& raw, VerificationMail* out);

// Scans a sink's directory for verification links: email -> key. Later files win, as a
// repeated registration replaces the key.
class MailReader {
 public:
  explicit MailReader(std::string dir) : dir_(std::move(dir)) {}
  // Reads the files not seen yet.
  void scan();
  const std::string* key(const std::string& email) const;

 private:
  std::string dir_;
  std::set<std::string> seen_;
  std::unordered_map<std::string, std::string> keys_;
};

}  // namespace rwd::bench
