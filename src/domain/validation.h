#pragma once

#include <string>
#include <string_view>

#include "base/error.h"

// Field rules for accounts and messages. Each returns the Errc naming the bad field, with a
// human detail that says what is allowed.
namespace rwd::domain {

inline constexpr size_t kNameMin = 2, kNameMax = 32;
inline constexpr size_t kEmailMax = 254;
inline constexpr size_t kPasswordMin = 8, kPasswordMax = 128;  // bytes of UTF-8

// Names are public handles in any script: after NFC, 2-32 code points of letters (with their
// combining marks) and decimal digits of any script, '_', '.' and '-', starting with a letter or
// a digit, in a combination of scripts that cannot imitate another name (TS #39, moderately
// restrictive, one numbering system, nothing invisible). Returns the NFC form, which is what
// is stored and shown. Uniqueness (name_key, confusable_skeleton) is the Directory's and the
// store's concern.
Result<std::string> validate_name(std::string_view name);
// A pragmatic address check: local@domain with a dot in the domain, no spaces or
// control characters, at most 254 bytes.
Status validate_email(std::string_view email);
// 8-128 bytes of valid UTF-8.
Status validate_password(std::string_view password);
// Chat text: valid UTF-8, at most max_chars code points, no control characters but
// tab and newlines.
Status validate_content(std::string_view content, size_t max_chars);

// Guild names: after trimming white space, 1-64 code points of valid UTF-8 with no control
// characters. Returns the trimmed name.
inline constexpr size_t kGuildNameMax = 64;
Result<std::string> validate_guild_name(std::string_view name);

// A session's client label from what the client sent at login (its User-Agent): control
// characters removed, white space trimmed, cut to at most max_bytes without splitting a
// character. Text that is not valid UTF-8 keeps its printable ASCII only. Never fails: a
// label is shown, not checked.
std::string client_label(std::string_view user_agent, size_t max_bytes);

}  // namespace rwd::domain
