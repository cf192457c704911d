#include "base/unicode.h"

#include <gtest/gtest.h>

namespace rwd::unicode {
namespace {

TEST(UnicodeTest, NameKeysFoldCaseAndNormalization) {
  EXPECT_EQ(name_key("alice"), "alice");
  EXPECT_EQ(name_key("ALICE"), "alice");
  EXPECT_EQ(name_key("Émilie"), name_key("ÉMILIE"));
  EXPECT_EQ(name_key("Émilie"), name_key("E\u0301milie"));  // NFC and NFD
  EXPECT_EQ(name_key("Straße"), name_key("STRASSE"));       // full case folding
  EXPECT_EQ(name_key("민수"), "민수");
  EXPECT_EQ(name_key("\u1106\u1175\u11AB\u1109\u116E"), "민수");  // jamo
  EXPECT_NE(name_key("alice"), name_key("alicia"));
}

TEST(UnicodeTest, LookalikesShareASkeleton) {
  EXPECT_EQ(confusable_skeleton("paypal"), confusable_skeleton("p\u0430ypal"));
  EXPECT_EQ(confusable_skeleton("mary"), confusable_skeleton("rnary"));
  EXPECT_EQ(confusable_skeleton("larry"), confusable_skeleton("Iarry"));
  EXPECT_EQ(confusable_skeleton("bob0"), confusable_skeleton("bobO"));
  EXPECT_NE(confusable_skeleton("alice"), confusable_skeleton("alicia"));
  EXPECT_NE(confusable_skeleton("민수"), confusable_skeleton("민지"));
}

TEST(UnicodeTest, NameCharactersAreClassified) {
  EXPECT_EQ(classify_name_char(U'a'), NameChar::kLetter);
  EXPECT_EQ(classify_name_char(U'민'), NameChar::kLetter);
  EXPECT_EQ(classify_name_char(U'\u0301'), NameChar::kMark);
  EXPECT_EQ(classify_name_char(U'7'), NameChar::kDigit);
  EXPECT_EQ(classify_name_char(U'\u0662'), NameChar::kDigit);
  EXPECT_EQ(classify_name_char(U'_'), NameChar::kPunctuation);
  EXPECT_EQ(classify_name_char(U' '), NameChar::kOther);
  EXPECT_EQ(classify_name_char(U'\u200B'), NameChar::kOther);
  EXPECT_EQ(classify_name_char(U'!'), NameChar::kOther);
}

TEST(UnicodeTest, SpoofChecksAcceptOneScriptOrAnAllowedMix) {
  EXPECT_EQ(spoof_problem("alice"), "");
  EXPECT_EQ(spoof_problem("민수"), "");
  EXPECT_EQ(spoof_problem("민수kim"), "");
  EXPECT_EQ(spoof_problem("山田민수"), "");  // Han with Hangul
  EXPECT_NE(spoof_problem("p\u0430ypal"), "");
  EXPECT_NE(spoof_problem("123\u0661"), "");
}

TEST(UnicodeTest, SearchWordsAreRunsOfLettersAndDigitsInAnyScript) {
  using V = std::vector<std::string>;
  EXPECT_EQ(search_words("Hello, world!"), (V{"Hello", "world"}));
  EXPECT_EQ(search_words("don't  stop-2day"), (V{"don", "t", "stop", "2day"}));
  EXPECT_EQ(search_words("안녕하세요 여러분"), (V{"안녕하세요", "여러분"}));
  EXPECT_EQ(search_words("café…Ünïcode"), (V{"café", "Ünïcode"}));
  EXPECT_EQ(search_words("「東京」で"), (V{"東京", "で"}));
  EXPECT_TRUE(search_words("  ?!… 🙂 ").empty());
  EXPECT_TRUE(search_words("").empty());
  EXPECT_TRUE(search_words("\u0301 \u0301\u0301").empty());          // combining marks alone
  EXPECT_EQ(search_words("e\u0301t\u00e9"), (V{"e\u0301t\u00e9"}));  // a mark in its word
}

}  // namespace
}  // namespace rwd::unicode
