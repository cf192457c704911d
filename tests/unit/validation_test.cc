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
  EXPECT_EQ(validate_name("_leading").error().code, Errc::kInvalidName);
  EXPECT_EQ(validate_name("한글").error().code, Errc::kInvalidName);
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

}  // namespace
}  // namespace rwd::domain
