#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rwd {

// True when s is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Number of code points of a valid UTF-8 string.
size_t utf8_length(std::string_view s);

// ASCII lower-case copy: names and emails are compared case-insensitively in ASCII only,
// which is all that validation lets through.
std::string ascii_lower(std::string_view s);

std::string_view trim(std::string_view s);

}  // namespace rwd
