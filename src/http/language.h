#pragma once

#include <string_view>

#include "domain/types.h"

// Which of the server's languages a person reads: an explicit choice ("ko", "en", as the web
// client sends with a sign-up) wins, then the first supported language by quality in an
// Accept-Language header (RFC 9110: "ko-KR,ko;q=0.9,en;q=0.8"), then English.
namespace rwd::http {

domain::Language choose_language(std::string_view accept_language, std::string_view choice = {});

// The BCP 47 tag of a language, for <html lang>.
const char* language_tag(domain::Language language);

}  // namespace rwd::http
