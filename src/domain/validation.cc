#include "domain/validation.h"

#include <cctype>
#include <string>

#include "base/text.h"
#include "base/unicode.h"

namespace rwd::domain {

Result<std::string> validate_name(std::string_view name) {
  auto bad = [](const char* why) { return Error{Errc::kInvalidName, why}; };
  if (!is_valid_utf8(name)) return bad("name is not valid UTF-8.");
  if (name.size() > 1024) return bad("name must be 2 to 32 characters long.");
  std::string n = unicode::nfc(name);
  bool allowed = true, starts_well = false, first = true;
  size_t count = unicode::for_each_name_char(n, [&](unicode::NameChar c) {
    using unicode::NameChar;
    if (c == NameChar::kOther) allowed = false;
    if (first) starts_well = c == NameChar::kLetter || c == NameChar::kDigit;
    first = false;
  });
  if (count < kNameMin || count > kNameMax) return bad("name must be 2 to 32 characters long.");
  if (!allowed)
    return bad("name may contain only letters and digits (of any script), '_', '.' and '-'.");
  if (!starts_well) return bad("name must start with a letter or a digit.");
  if (std::string why = unicode::spoof_problem(n); !why.empty())
    return Error{Errc::kInvalidName, std::move(why)};
  return n;
}

Status validate_email(std::string_view email) {
  auto bad = [] { return Error{Errc::kInvalidEmail, "email address is not valid."}; };
  if (email.empty() || email.size() > kEmailMax) return bad();
  size_t at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || email.find('@') != at) return bad();
  std::string_view domain = email.substr(at + 1);
  if (domain.size() < 3 || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
      domain.back() == '.' || domain.find("..") != std::string_view::npos)
    return bad();
  for (unsigned char c : email)
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';' || c == '"' ||
        c == '\\' || c >= 0x80)
      return bad();
  return {};
}

Status validate_password(std::string_view password) {
  if (password.size() < kPasswordMin || password.size() > kPasswordMax)
    return Error{Errc::kInvalidPassword, "password must be 8 to 128 characters long."};
  if (!is_valid_utf8(password))
    return Error{Errc::kInvalidPassword, "password is not valid UTF-8."};
  return {};
}

Status validate_content(std::string_view content, size_t max_chars) {
  if (!is_valid_utf8(content)) return Error{Errc::kInvalidContent, "content is not valid UTF-8."};
  for (unsigned char c : content)
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
      return Error{Errc::kInvalidContent, "content has control characters."};
  if (utf8_length(content) > max_chars)
    return Error{Errc::kContentTooLong,
                 "content is longer than " + std::to_string(max_chars) + " characters."};
  return {};
}

Result<std::string> validate_guild_name(std::string_view name) {
  if (!is_valid_utf8(name)) return Error{Errc::kInvalidGuildName, "guild name is not valid UTF-8."};
  std::string_view t = trim(name);
  for (unsigned char c : t)
    if (c < 0x20 || c == 0x7f)
      return Error{Errc::kInvalidGuildName, "guild name has control characters."};
  size_t n = utf8_length(t);
  if (n < 1 || n > kGuildNameMax)
    return Error{Errc::kInvalidGuildName, "guild name must be 1 to 64 characters long."};
  return std::string(t);
}

std::string client_label(std::string_view user_agent, size_t max_bytes) {
  bool utf8 = is_valid_utf8(user_agent);
  std::string out;
  for (char ch : user_agent) {
    auto byte = static_cast<unsigned char>(ch);
    if (byte < 0x20 || byte == 0x7f) continue;
    if (byte >= 0x80 && !utf8) continue;
    out.push_back(ch);
  }
  out = std::string(trim(out));
  if (out.size() > max_bytes) {
    size_t cut = max_bytes;
    // Back to the start of a character: continuation bytes are 10xxxxxx.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;
    out.resize(cut);
    out = std::string(trim(out));
  }
  return out;
}

}  // namespace rwd::domain
