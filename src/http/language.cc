#include "http/language.h"

#include <charconv>
#include <optional>

#include "base/text.h"

namespace rwd::http {

namespace {

// "ko", "ko-KR", "KO" -> Korean; "en", "en-US" -> English; anything else: none.
std::optional<domain::Language> supported(std::string_view tag) {
  std::string primary = ascii_lower(trim(tag.substr(0, tag.find('-'))));
  if (primary == "ko") return domain::Language::kKorean;
  if (primary == "en") return domain::Language::kEnglish;
  return std::nullopt;
}

// The q value of one Accept-Language element's parameters ("q=0.8"); 1 when absent, 0 when
// it cannot be read (so a malformed element never wins).
double quality(std::string_view params) {
  for (size_t at = 0; at < params.size();) {
    size_t end = params.find(';', at);
    std::string_view p = trim(params.substr(at, end == std::string_view::npos ? end : end - at));
    if (p.size() > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      double q = 0;
      auto [ptr, ec] = std::from_chars(p.data() + 2, p.data() + p.size(), q);
      return ec == std::errc() && ptr == p.data() + p.size() && q >= 0 && q <= 1 ? q : 0;
    }
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return 1;
}

}  // namespace

domain::Language choose_language(std::string_view accept_language, std::string_view choice) {
  if (auto chosen = supported(choice)) return *chosen;
  std::optional<domain::Language> best;
  double best_q = 0;
  // Elements in order; the first of the highest quality wins (ties keep the header's order).
  for (size_t at = 0; at < accept_language.size() && at < 4096;) {
    size_t end = accept_language.find(',', at);
    std::string_view element = accept_language.substr(
        at, end == std::string_view::npos ? std::string_view::npos : end - at);
    size_t semi = element.find(';');
    auto lang = supported(element.substr(0, semi));
    double q = semi == std::string_view::npos ? 1 : quality(element.substr(semi + 1));
    if (lang && q > best_q) best = lang, best_q = q;
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return best.value_or(domain::Language::kEnglish);
}

const char* language_tag(domain::Language language) {
  return language == domain::Language::kKorean ? "ko" : "en";
}

}  // namespace rwd::http
