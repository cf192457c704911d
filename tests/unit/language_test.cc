#include "http/language.h"

#include <gtest/gtest.h>

namespace rwd::http {
namespace {

using domain::Language;

TEST(LanguageTest, TheFirstSupportedLanguageOfTheHighestQualityWins) {
  EXPECT_EQ(choose_language("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"), Language::kKorean);
  EXPECT_EQ(choose_language("en-US,en;q=0.9,ko;q=0.8"), Language::kEnglish);
  EXPECT_EQ(choose_language("fr-FR, ko;q=0.5, en;q=0.4"), Language::kKorean);
  EXPECT_EQ(choose_language("en;q=0.2, KO;q=0.9"), Language::kKorean);
  EXPECT_EQ(choose_language("ko;q=0.5, en"), Language::kEnglish);  // no q is 1
}

TEST(LanguageTest, EnglishWhenNothingSupportedOrReadable) {
  EXPECT_EQ(choose_language(""), Language::kEnglish);
  EXPECT_EQ(choose_language("fr, de;q=0.5"), Language::kEnglish);
  EXPECT_EQ(choose_language("ko;q=abc"), Language::kEnglish);  // an unreadable q never wins
  EXPECT_EQ(choose_language("ko;q=0"), Language::kEnglish);    // q=0: not acceptable
  EXPECT_EQ(choose_language(",,;;,"), Language::kEnglish);
}

TEST(LanguageTest, AnExplicitChoiceWinsOverTheHeader) {
  EXPECT_EQ(choose_language("en-US", "ko"), Language::kKorean);
  EXPECT_EQ(choose_language("ko-KR", "en"), Language::kEnglish);
  EXPECT_EQ(choose_language("ko-KR", "xx"), Language::kKorean);  // unknown: the header decides
}

TEST(LanguageTest, TagsForHtml) {
  EXPECT_STREQ(language_tag(Language::kKorean), "ko");
  EXPECT_STREQ(language_tag(Language::kEnglish), "en");
}

}  // namespace
}  // namespace rwd::http
