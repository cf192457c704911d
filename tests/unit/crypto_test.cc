#include "base/crypto.h"

#include <gtest/gtest.h>

#include <set>

namespace rwd::crypto {
namespace {

class CryptoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(init()); }
};

TEST_F(CryptoTest, TokensCarry256BitsAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string t = random_token(32);
    EXPECT_EQ(t.size(), 43u);  // 32 bytes in unpadded base64url
    EXPECT_EQ(
        t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST_F(CryptoTest, Sha256IsHexOfTheKnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(CryptoTest, Sha256BytesAreTheDigestTheHexFormSpells) {
  // A session keeps its token's digest as bytes and compares it with the store's hex form.
  Sha256 digest = sha256("abc");
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[31], 0xad);
  EXPECT_EQ(to_hex(digest), sha256_hex("abc"));
  EXPECT_NE(sha256("abd"), digest);
}

TEST_F(CryptoTest, PasswordHashIsArgon2idAndVerifies) {
  PasswordCost cheap{1, 1 << 20};
  auto h = hash_password("correct horse", cheap);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(verify_password("correct horse", *h));
  EXPECT_FALSE(verify_password("correct horsf", *h));
  auto h2 = hash_password("correct horse", cheap);
  EXPECT_NE(*h, *h2);  // salted
}

TEST_F(CryptoTest, ConstantTimeEqualityNeedsEqualLength) {
  EXPECT_TRUE(equal_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_constant_time("abc", "abcd"));
}

TEST_F(CryptoTest, Base64DecodesBothAlphabetsWithOrWithoutPadding) {
  EXPECT_EQ(base64_decode("MjAyNi0zLTcgMDk6MDU6MDEuNDAwMA=="), "2026-3-7 09:05:01.4000");
  EXPECT_EQ(base64_decode("MjAyNi0zLTcgMDk6MDU6MDEuNDAwMA"), "2026-3-7 09:05:01.4000");
  EXPECT_EQ(base64_decode("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(base64_decode("+/8="), std::string("\xfb\xff"));
  EXPECT_FALSE(base64_decode("***"));
  EXPECT_EQ(base64_encode("hi"), "aGk=");
}

}  // namespace
}  // namespace rwd::crypto
