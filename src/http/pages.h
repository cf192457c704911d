#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "domain/types.h"

// Small HTML pages: the forms of SPEC §1 (for trying the API by hand) and the answer to a
// verification link opened in a browser. The web client itself is web/ (static_files.h).
namespace rwd::http {

// The Content-Security-Policy of these pages: nothing but their own inline style and
// script (by hash), requests and form posts to this server, and no framing.
const std::string& page_security_policy();

std::string register_page();
std::string login_page();
std::string message_page(std::string_view title, std::string_view message);
// The answer to a verification link opened in a browser, in the reader's language: the
// account was created for `name`, or the link failed with `code`.
std::string verified_page(domain::Language language, std::string_view name);
std::string verify_failed_page(domain::Language language, Errc code, std::string_view english);
std::string html_escape(std::string_view text);

}  // namespace rwd::http
