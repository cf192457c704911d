#include "http/pages.h"

#include <string>

#include "base/crypto.h"
#include "http/language.h"

namespace rwd::http {

namespace {

// The pages' only style and script, inline: the Content-Security-Policy allows exactly
// these by their hashes.
constexpr std::string_view kPageStyle =
    "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;"
    "padding:0 1rem;color:#222}label{display:block;margin:.8rem 0 .2rem}"
    "input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1rem;"
    "padding:.5rem 1rem}pre{background:#f4f4f4;padding:.8rem;white-space:pre-wrap;"
    "word-break:break-all}";

// The forms post with fetch() so the JSON answer is shown on the page; without scripts
// they still post as plain forms and the browser shows the JSON.
constexpr std::string_view kFormScript = R"(
document.querySelector('form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target, out = document.getElementById('out');
  const r = await fetch(f.action, {method: 'POST', body: new URLSearchParams(new FormData(f)),
                                   headers: {'Accept': 'application/json'}});
  out.hidden = false;
  out.textContent = r.status + '\n' + JSON.stringify(await r.json(), null, 2);
});
)";

std::string form_script() {
  return "<pre id=\"out\" hidden></pre>\n<script>" + std::string(kFormScript) + "</script>";
}

// 'sha256-<base64 of the digest>', as a Content-Security-Policy source.
std::string csp_hash(std::string_view text) {
  std::string hex = crypto::sha256_hex(text), digest;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    digest.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return "'sha256-" + crypto::base64_encode(digest) + "'";
}

std::string layout(std::string_view title, std::string_view body,
                   domain::Language language = domain::Language::kEnglish) {
  std::string out;
  out += "<!doctype html>\n<html lang=\"";
  out += language_tag(language);
  out += "\"><head><meta charset=\"utf-8\">";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
  out += "<link rel=\"icon\" href=\"/icon.svg\" type=\"image/svg+xml\">";
  out += "<title>" + html_escape(title) + " · REWIND</title>";
  out += "<style>" + std::string(kPageStyle) + "</style></head><body>\n";
  out += "<h1>" + html_escape(title) + "</h1>\n";
  out += body;
  out += "\n</body></html>\n";
  return out;
}

}  // namespace

const std::string& page_security_policy() {
  static const std::string policy =
      "default-src 'none'; script-src " + csp_hash(kFormScript) + "; style-src " +
      csp_hash(kPageStyle) +
      "; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
      "frame-ancestors 'none'";
  return policy;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string register_page() {
  return layout("Sign up", std::string(R"(<form method="post" action="/api/v1/auth/register">
<label for="name">Name</label><input id="name" name="name" required minlength="2" maxlength="32" autocomplete="username">
<label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="email">
<label for="password">Password</label><input id="password" name="password" type="password" required minlength="8" autocomplete="new-password">
<button type="submit">Sign up</button>
</form>
<p>We will mail you a link; open it to create the account. Then <a href="/login">log in</a>.
The web client is at <a href="/">/</a>.</p>
)") + form_script());
}

std::string login_page() {
  return layout("Log in", std::string(R"(<form method="post" action="/api/v1/auth/login">
<label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="email">
<label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password">
<button type="submit">Log in</button>
</form>
<p>No account yet? <a href="/register">Sign up</a>.</p>
)") + form_script());
}

std::string message_page(std::string_view title, std::string_view message) {
  // The link leads a new user from the mail back to the web client, where they log in.
  return layout(title, "<p>" + html_escape(message) +
                           "</p>\n<p><a href=\"/\">Open REWIND and log in</a></p>");
}

namespace {
std::string localized_message_page(domain::Language language, std::string_view title,
                                   std::string_view message) {
  if (language != domain::Language::kKorean) return message_page(title, message);
  return layout(
      title,
      "<p>" + html_escape(message) + "</p>\n<p><a href=\"/\">REWIND를 열고 로그인하기</a></p>",
      language);
}
}  // namespace

std::string verified_page(domain::Language language, std::string_view name) {
  if (language == domain::Language::kKorean)
    return localized_message_page(language, std::string(name) + "님, 환영합니다",
                                  "계정이 만들어졌습니다. 이제 로그인할 수 있습니다.");
  return message_page("Welcome, " + std::string(name),
                      "account successfully created. You can now log in.");
}

std::string verify_failed_page(domain::Language language, Errc code, std::string_view english) {
  if (language != domain::Language::kKorean) return message_page("Link not valid", english);
  std::string_view message;
  switch (code) {
    case Errc::kLinkInvalid:
      message = "이 인증 링크는 유효하지 않거나, 이미 사용되었거나, 만료되었습니다.";
      break;
    case Errc::kNameTaken:
      message =
          "그사이 다른 사람이 이 이름(또는 비슷해 보이는 이름)을 가져갔습니다. 다른 "
          "이름으로 다시 가입해 주세요.";
      break;
    default:
      message = "지금은 계정을 만들 수 없습니다. 잠시 뒤 링크를 다시 열어 주세요.";
  }
  return localized_message_page(language, "유효하지 않은 링크", message);
}

}  // namespace rwd::http
