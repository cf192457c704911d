#include "domain/validation.h"

#include <gtest/gtest.h>

#include <string>

namespace rwd::domain {
namespace {

TEST(ValidationTest, NamesAreShortHandlesOfSafeCharacters) {
  EXPECT_TRUE(validate_name("alice").ok());
  EXPECT_TRUE(validate_name("Bob_99.x-y").ok());
  EXPECT_EQ(validate_name("a").error().code, Errc::kInvalidName);
  EXPECT_EQ(validate_name(std::string(33, 'a')).error().code, Errc::kInvalidName);
  EXPECT_EQ(validate_name("has space").error().code, Errc::kInvalidName);
  EXPECT_EQ(validate_name("bad!name").error().code, Errc::kInvalidName);
  EXPECT_EQ(validate_name("_leading").error().code, Errc::kInvalidName);
  EXPECT_EQ(validate_name("\xff\xfe").error().code, Errc::kInvalidName);
}

TEST(ValidationTest, NamesMayBeWrittenInAnyScript) {
  EXPECT_EQ(validate_name("민수").value(), "민수");
  EXPECT_EQ(validate_name("이름").value(), "이름");
  EXPECT_EQ(validate_name("Émilie").value(), "Émilie");
  EXPECT_TRUE(validate_name("Дмитрий").ok());
  EXPECT_TRUE(validate_name("山田太郎").ok());
  EXPECT_TRUE(validate_name("민수_kim").ok());       // Hangul with Latin
  EXPECT_TRUE(validate_name("たなか_タロウ").ok());  // Hiragana with Katakana
  EXPECT_TRUE(validate_name("민수99").ok());
}

TEST(ValidationTest, NamesAreStoredInTheirComposedForm) {
  // "E" + combining acute accent (NFD) becomes the precomposed "É".
  EXPECT_EQ(validate_name("E\u0301milie").value(), "Émilie");
  // Hangul jamo (NFD) compose into syllables.
  EXPECT_EQ(validate_name("\u1106\u1175\u11AB\u1109\u116E").value(), "민수");
}

TEST(ValidationTest, NameLengthIsCountedInCharactersNotBytes) {
  std::string hangul32, hangul33;
  for (int i = 0; i < 32; ++i) hangul32 += "가";  // 3 bytes each
  hangul33 = hangul32 + "가";
  EXPECT_TRUE(validate_name(hangul32).ok());
  EXPECT_EQ(validate_name(hangul33).error().code, Errc::kInvalidName);
  std::string emoji_like_astral32;
  for (int i = 0; i < 32; ++i)
    emoji_like_astral32 += "\U00020000";  // a CJK ideograph outside the BMP
  EXPECT_TRUE(validate_name(emoji_like_astral32).ok());
  // A decomposed name is counted after composition: 32 "É" written as 64 code points.
  std::string decomposed;
  for (int i = 0; i < 32; ++i) decomposed += "E\u0301";
  EXPECT_TRUE(validate_name(decomposed).ok());
}

TEST(ValidationTest, NamesThatMixScriptsToImitateAnotherAreRefused) {
  // "paypal" with a Cyrillic 'а' (U+0430) among Latin letters.
  auto r = validate_name("p\u0430ypal");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::kInvalidName);
  EXPECT_NE(r.error().detail.find("scripts"), std::string::npos);
  // Greek omicron in a Latin name.
  EXPECT_EQ(validate_name("b\u03BFb").error().code, Errc::kInvalidName);
  // Digits of two numbering systems (ASCII and Arabic-Indic).
  EXPECT_EQ(validate_name("user1\u0662").error().code, Errc::kInvalidName);
  // Invisible or non-letter characters.
  EXPECT_EQ(validate_name("al\u200Bice").error().code, Errc::kInvalidName);
  EXPECT_EQ(validate_name("al\u00ADice").error().code, Errc::kInvalidName);
}

TEST(ValidationTest, EmailsNeedALocalPartAndADottedDomain) {
  EXPECT_TRUE(validate_email("a@example.com").ok());
  EXPECT_TRUE(validate_email("first.last+tag@sub.example.co.kr").ok());
  for (const char* bad : {"", "plain", "@example.com", "a@", "a@b", "a@@b.com", "a b@c.com",
                          "a@b..com", "a@.b.com", "a@b.com.", "<a@b.com>"})
    EXPECT_EQ(validate_email(bad).error().code, Errc::kInvalidEmail) << bad;
}

TEST(ValidationTest, PasswordsAreEightTo128Bytes) {
  EXPECT_TRUE(validate_password("12345678").ok());
  EXPECT_EQ(validate_password("1234567").error().code, Errc::kInvalidPassword);
  EXPECT_EQ(validate_password(std::string(129, 'x')).error().code, Errc::kInvalidPassword);
  EXPECT_EQ(validate_password("abcdefg\xff").error().code, Errc::kInvalidPassword);
}

TEST(ValidationTest, ContentIsCountedInCharactersNotBytes) {
  std::string korean;
  for (int i = 0; i < 10; ++i) korean += "안";
  EXPECT_TRUE(validate_content(korean, 10).ok());
  EXPECT_EQ(validate_content(korean + "a", 10).error().code, Errc::kContentTooLong);
}

TEST(ValidationTest, ContentRejectsInvalidUtf8AndControlCharacters) {
  EXPECT_EQ(validate_content("bad \xc3\x28", 100).error().code, Errc::kInvalidContent);
  EXPECT_EQ(validate_content("nul\x01", 100).error().code, Errc::kInvalidContent);
  EXPECT_TRUE(validate_content("line\nbreak\ttab", 100).ok());
}

TEST(ValidationTest, AClientLabelIsOneLineOfTextCutAtACharacter) {
  EXPECT_EQ(client_label("Mozilla/5.0 (X11; Linux)", 200), "Mozilla/5.0 (X11; Linux)");
  EXPECT_EQ(client_label("  a\r\nb\tc\x7f  ", 200), "abc");
  EXPECT_EQ(client_label(std::string(300, 'x'), 200), std::string(200, 'x'));
  // "가" is three bytes: a cut in its middle drops it whole.
  EXPECT_EQ(client_label("ab\xea\xb0\x80", 4), "ab");
  EXPECT_EQ(client_label("ab\xea\xb0\x80", 5), "ab\xea\xb0\x80");
  EXPECT_EQ(client_label("ok\xff\xfe!", 200), "ok!");  // not UTF-8: printable ASCII only
  EXPECT_EQ(client_label("", 200), "");
}

}  // namespace
}  // namespace rwd::domain
