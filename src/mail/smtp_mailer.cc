#include <curl/curl.h>

#include <cstring>
#include <ctime>

#include "base/clock.h"
#include "base/crypto.h"
#include "mail/mailer.h"

namespace rwd::mail {

namespace {

struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t read_cb(char* buf, size_t size, size_t nmemb, void* userp) {
  auto* up = static_cast<Upload*>(userp);
  size_t room = size * nmemb;
  size_t left = up->data->size() - up->offset;
  size_t n = std::min(room, left);
  std::memcpy(buf, up->data->data() + up->offset, n);
  up->offset += n;
  return n;
}

std::string crlf(const std::string& text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
    out += text[i];
  }
  return out;
}

}  // namespace

std::string format_message(const Mail& mail, const std::string& from, int64_t now_us,
                           const std::string& message_id) {
  char date[64];
  std::time_t t = static_cast<std::time_t>(now_us / 1000000);
  std::tm tm;
  gmtime_r(&t, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  std::string domain =
      from.substr(from.find('@') == std::string::npos ? from.size() : from.find('@') + 1);
  if (domain.empty()) domain = "rewind.local";
  std::string msg;
  msg += "Date: " + std::string(date) + "\r\n";
  msg += "From: REWIND <" + from + ">\r\n";
  msg += "To: <" + mail.to + ">\r\n";
  msg += "Message-ID: <" + message_id + "@" + domain + ">\r\n";
  msg += "Subject: " + mail.subject + "\r\n";
  msg += "MIME-Version: 1.0\r\n";
  msg += "Content-Type: text/plain; charset=utf-8\r\n";
  msg += "Content-Transfer-Encoding: 8bit\r\n\r\n";
  msg += crlf(mail.body);
  if (msg.size() < 2 || msg.compare(msg.size() - 2, 2, "\r\n") != 0) msg += "\r\n";
  return msg;
}

SmtpMailer::SmtpMailer(SmtpSettings settings) : s_(std::move(settings)) {}

Status SmtpMailer::send(const Mail& mail) {
  CURL* curl = curl_easy_init();
  if (!curl) return Error{Errc::kInternal, "curl_easy_init failed"};
  std::string scheme = s_.tls == SmtpTls::kImplicit ? "smtps://" : "smtp://";
  std::string url = scheme + s_.host + ":" + std::to_string(s_.port);
  std::string payload = format_message(mail, s_.from, system_now_us(), crypto::random_token(16));
  Upload up{&payload};
  std::string from = "<" + s_.from + ">";
  std::string to = "<" + mail.to + ">";
  curl_slist* rcpt = curl_slist_append(nullptr, to.c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
  curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
  curl_easy_setopt(curl, CURLOPT_READDATA, &up);
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(s_.timeout_s));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  if (s_.tls == SmtpTls::kStartTls)
    curl_easy_setopt(curl, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!s_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, s_.ca_file.c_str());
  if (!s_.password.empty()) {
    curl_easy_setopt(curl, CURLOPT_USERNAME, s_.from.c_str());
    curl_easy_setopt(curl, CURLOPT_PASSWORD, s_.password.c_str());
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK)
    return Error{Errc::kOverloaded,
                 std::string(curl_easy_strerror(rc)) + (errbuf[0] ? ": " : "") + errbuf};
  return {};
}

}  // namespace rwd::mail
