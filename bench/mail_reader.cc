#include "bench/mail_reader.h"

#include <gmime/gmime.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string_view>
#include <vector>

namespace rwd::bench {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kVerifyPath = "/api/v1/auth/email_verify/";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// An address as written in a header ("Name <a@b>", "<a@b>" or "a@b"): the a@b part.
std::string bare_address(std::string v) {
  auto lt = v.find('<'), gt = v.find('>');
  if (lt != std::string::npos && gt != std::string::npos && gt > lt)
    v = v.substr(lt + 1, gt - lt - 1);
  auto first = v.find_first_not_of(" \t");
  auto last = v.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? "" : v.substr(first, last - first + 1);
}

// The key after the verification path in decoded text, or "".
std::string key_in(std::string_view text) {
  auto k = text.find(kVerifyPath);
  if (k == std::string_view::npos) return "";
  k += kVerifyPath.size();
  size_t e = k;
  while (e < text.size() &&
         (std::isalnum(static_cast<unsigned char>(text[e])) || text[e] == '-' || text[e] == '_'))
    e++;
  return std::string(text.substr(k, e - k));
}

template <typename T>
struct Unref {
  void operator()(T* p) const {
    if (p) g_object_unref(p);
  }
};
template <typename T>
using GPtr = std::unique_ptr<T, Unref<T>>;

}  // namespace

bool parse_verification_mail(const std::string& raw, VerificationMail* out) {
  static std::once_flag init;
  std::call_once(init, [] { g_mime_init(); });

  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(raw.data(), raw.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!message) return false;

  // The recipient: the sink's envelope header when it is there (what the server asked the
  // SMTP server to deliver to), else the first mailbox of To.
  std::string to;
  if (const char* env = g_mime_object_get_header(GMIME_OBJECT(message.get()), "X-Envelope-To"))
    to = bare_address(env);
  if (to.empty()) {
    InternetAddressList* list = g_mime_message_get_to(message.get());
    for (int i = 0; list && i < internet_address_list_length(list) && to.empty(); ++i) {
      InternetAddress* a = internet_address_list_get_address(list, i);
      if (INTERNET_ADDRESS_IS_MAILBOX(a))
        to = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
    }
  }
  if (to.empty()) return false;

  // Every text part, decoded (transfer encoding and charset), until one holds the link.
  std::string key;
  g_mime_message_foreach(
      message.get(),
      [](GMimeObject*, GMimeObject* part, gpointer data) {
        auto* found = static_cast<std::string*>(data);
        if (!found->empty() || !GMIME_IS_TEXT_PART(part)) return;
        char* text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
        if (!text) return;
        *found = key_in(text);
        g_free(text);
      },
      &key);
  if (key.empty()) return false;
  out->to = std::move(to);
  out->key = std::move(key);
  return true;
}

void MailReader::scan() {
  std::vector<fs::path> fresh;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.path().extension() == ".eml" && !seen_.count(e.path().filename().string()))
      fresh.push_back(e.path());
  std::sort(fresh.begin(), fresh.end());
  for (const auto& path : fresh) {
    seen_.insert(path.filename().string());
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    VerificationMail mail;
    if (parse_verification_mail(ss.str(), &mail)) keys_[lower(mail.to)] = std::move(mail.key);
  }
}

const std::string* MailReader::key(const std::string& email) const {
  auto it = keys_.find(lower(email));
  return it == keys_.end() ? nullptr : &it->second;
}

}  // namespace rwd::bench
