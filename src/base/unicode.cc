#include "base/unicode.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <memory>
#include <stdexcept>

namespace rwd::unicode {

namespace {

const icu::Normalizer2& nfc_normalizer() {
  static const icu::Normalizer2* n = [] {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* p = icu::Normalizer2::getNFCInstance(status);
    if (U_FAILURE(status)) throw std::runtime_error(u_errorName(status));
    return p;
  }();
  return *n;
}

std::string to_utf8(const icu::UnicodeString& u) {
  std::string out;
  u.toUTF8String(out);
  return out;
}

icu::UnicodeString from_utf8(std::string_view s) {
  return icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
}

icu::UnicodeString normalized(const icu::UnicodeString& u) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString out = nfc_normalizer().normalize(u, status);
  return U_FAILURE(status) ? u : out;
}

struct SpoofCheckerDeleter {
  void operator()(USpoofChecker* sc) const { uspoof_close(sc); }
};

// Configured once; ICU allows concurrent checks on a checker nobody changes any more.
const USpoofChecker* spoof_checker() {
  static const std::unique_ptr<USpoofChecker, SpoofCheckerDeleter> checker = [] {
    UErrorCode status = U_ZERO_ERROR;
    USpoofChecker* sc = uspoof_open(&status);
    uspoof_setChecks(sc, USPOOF_RESTRICTION_LEVEL | USPOOF_MIXED_NUMBERS | USPOOF_INVISIBLE,
                     &status);
    uspoof_setRestrictionLevel(sc, USPOOF_MODERATELY_RESTRICTIVE);
    if (U_FAILURE(status)) throw std::runtime_error(u_errorName(status));
    return std::unique_ptr<USpoofChecker, SpoofCheckerDeleter>(sc);
  }();
  return checker.get();
}

}  // namespace

std::string nfc(std::string_view s) { return to_utf8(normalized(from_utf8(s))); }

std::string name_key(std::string_view s) {
  icu::UnicodeString u = normalized(from_utf8(s));
  u.foldCase(U_FOLD_CASE_DEFAULT);
  return to_utf8(normalized(u));
}

std::string confusable_skeleton(std::string_view s) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString out;
  uspoof_getSkeletonUnicodeString(spoof_checker(), 0, from_utf8(s), out, &status);
  return U_FAILURE(status) ? std::string(s) : to_utf8(out);
}

NameChar classify_name_char(char32_t c) {
  if (c == '_' || c == '.' || c == '-') return NameChar::kPunctuation;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return NameChar::kLetter;
    case U_NON_SPACING_MARK:
    case U_COMBINING_SPACING_MARK:
      return NameChar::kMark;
    case U_DECIMAL_DIGIT_NUMBER:
      return NameChar::kDigit;
    default:
      return NameChar::kOther;
  }
}

std::string spoof_problem(std::string_view s) {
  UErrorCode status = U_ZERO_ERROR;
  int32_t result =
      uspoof_checkUTF8(spoof_checker(), s.data(), static_cast<int32_t>(s.size()), nullptr, &status);
  if (U_FAILURE(status)) return "name could not be checked.";
  if (result & USPOOF_RESTRICTION_LEVEL)
    return "name mixes scripts in a way that can imitate another name.";
  if (result & USPOOF_MIXED_NUMBERS) return "name mixes digits of different numbering systems.";
  if (result & USPOOF_INVISIBLE) return "name has invisible characters.";
  return {};
}

char32_t next_code_point(std::string_view s, size_t& i) {
  UChar32 c = 0;
  int32_t at = static_cast<int32_t>(i);
  U8_NEXT(reinterpret_cast<const uint8_t*>(s.data()), at, static_cast<int32_t>(s.size()), c);
  i = static_cast<size_t>(at);
  return c < 0 ? 0xFFFD : static_cast<char32_t>(c);
}

std::vector<std::string> search_words(std::string_view s) {
  std::vector<std::string> words;
  size_t start = 0;
  bool in_word = false, has_base = false;  // a run of marks alone is no word
  auto end_word = [&](size_t at) {
    if (has_base) words.emplace_back(s.substr(start, at - start));
    in_word = has_base = false;
  };
  for (size_t i = 0; i < s.size();) {
    size_t at = i;
    uint32_t category = U_GET_GC_MASK(static_cast<UChar32>(next_code_point(s, i)));
    bool base = (category & (U_GC_L_MASK | U_GC_N_MASK)) != 0;
    bool word_char = base || (category & U_GC_M_MASK) != 0;
    if (!word_char) {
      if (in_word) end_word(at);
      continue;
    }
    if (!in_word) start = at, in_word = true;
    has_base = has_base || base;
  }
  if (in_word) end_word(s.size());
  return words;
}
}  // namespace rwd::unicode
