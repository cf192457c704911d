#include "http/loggable_target.h"

#include "http/routes.h"

namespace rwd::http {

namespace {

constexpr size_t kMaxPathBytes = 1024;
constexpr size_t kMaxNameBytes = 32;
constexpr std::string_view kRedacted = "redacted";

bool is_plain_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string loggable_target(std::string_view target) {
  size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string out;
  if (path.substr(0, kVerifyPrefix.size()) == kVerifyPrefix) {
    out.append(kVerifyPrefix);
    out.append(kRedacted);
  } else if (path.size() > kMaxPathBytes) {
    out.append(path.substr(0, kMaxPathBytes));
    out.append("...");
  } else {
    out.append(path);
  }
  if (question == std::string_view::npos) return out;

  std::string_view query = target.substr(question + 1);
  out += '?';
  size_t parameters = 0;
  for (size_t start = 0; start <= query.size();) {
    size_t amp = query.find('&', start);
    std::string_view part =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (parameters++ > 0) out += '&';
    // Past a few parameters, one mark stands for the rest.
    if (parameters > 16) {
      out.append("...");
      break;
    }
    size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    if (!is_plain_name(name)) {
      if (!part.empty()) out.append(kRedacted);
    } else if (eq == std::string_view::npos) {
      out.append(kRedacted);  // a bare word may be a secret itself
    } else {
      std::string_view value = part.substr(eq + 1);
      out.append(name);
      out += '=';
      bool version = name == "v" && value.size() <= 2;
      out.append(version ? value : kRedacted);
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

}  // namespace rwd::http
