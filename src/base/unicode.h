#pragma once

#include <string>
#include <string_view>
#include <vector>

// Unicode text rules from ICU, for names: normalization, case folding and the confusable
// skeletons of Unicode TS #39. The only file that includes ICU is unicode.cc. Every function
// takes valid UTF-8 (check with is_valid_utf8 first) and is safe to call from any thread.
namespace rwd::unicode {

// The NFC form of s.
std::string nfc(std::string_view s);

// The key under which names are unique and found: NFC, then full Unicode case folding, then
// NFC again ("Émilie", "ÉMILIE" and its decomposed form share one key). For ASCII it is the
// lower-case string, so keys stored before names could hold other scripts stay valid.
std::string name_key(std::string_view s);

// The TS #39 skeleton of s as written: two strings that look alike share it ("paypal" with a
// Cyrillic 'а', "rnary" and "mary", "Iarry" and "larry").
std::string confusable_skeleton(std::string_view s);

// What a name may be made of, per code point.
enum class NameChar { kLetter, kMark, kDigit, kPunctuation, kOther };
// Classifies each code point of s (valid UTF-8) and calls visit(kind) for each; returns the
// number of code points.
template <typename Visit>
size_t for_each_name_char(std::string_view s, Visit&& visit);
NameChar classify_name_char(char32_t c);  // '_', '.', '-' are kPunctuation

// TS #39 checks for an identifier shown to other people: its scripts are a combination that
// is moderately restrictive (Latin with one other script, except Cyrillic and Greek; Han with
// Hangul, or with Hiragana and Katakana), its digits come from one numbering system, and it
// has no invisible characters. Returns an empty string when it passes, else the reason.
std::string spoof_problem(std::string_view s);

// The words of s (valid UTF-8) as a text search finds them: its longest runs of letters,
// marks and digits (general categories L*, M* and N*: what the stores' full-text tokenizers
// index as words; a mark belongs to its letter), in order, as written (the stores fold case).
std::vector<std::string> search_words(std::string_view s);

// Decodes one code point of valid UTF-8 at s[i], advancing i.
char32_t next_code_point(std::string_view s, size_t& i);

template <typename Visit>
size_t for_each_name_char(std::string_view s, Visit&& visit) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) visit(classify_name_char(next_code_point(s, i)));
  return n;
}

}  // namespace rwd::unicode
