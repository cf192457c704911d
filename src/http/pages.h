#pragma once

#include <string>
#include <string_view>

// Small HTML pages: the forms of SPEC §1 (for trying the API by hand) and the answer to a
// verification link opened in a browser. The web client itself is web/ (static_files.h).
namespace rwd::http {

std::string register_page();
std::string login_page();
std::string message_page(std::string_view title, std::string_view message);
std::string html_escape(std::string_view text);

}  // namespace rwd::http
