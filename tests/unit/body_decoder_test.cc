#include "protocol/body_decoder.h"

#include <gtest/gtest.h>

namespace rwd::protocol {
namespace {

TEST(BodyDecoderTest, FormBodiesDecodePercentAndPlus) {
  auto f = decode_body("application/x-www-form-urlencoded; charset=utf-8",
                       "name=al+ice&email=a%40b.com&password=p%26ss%3Dword");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->at("name"), "al ice");
  EXPECT_EQ(f->at("email"), "a@b.com");
  EXPECT_EQ(f->at("password"), "p&ss=word");
}

TEST(BodyDecoderTest, FormKeepsTheFirstOfARepeatedField) {
  auto f = decode_form("a=1&a=2&b=&&c");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->at("a"), "1");
  EXPECT_EQ(f->at("b"), "");
  EXPECT_EQ(f->at("c"), "");
}

TEST(BodyDecoderTest, FormRejectsBadEscapesAndInvalidUtf8) {
  EXPECT_EQ(decode_form("a=%zz").error().code, Errc::kBadRequest);
  EXPECT_EQ(decode_form("a=%4").error().code, Errc::kBadRequest);
  EXPECT_EQ(decode_form("a=%ff%fe").error().code, Errc::kBadRequest);
}

TEST(BodyDecoderTest, JsonBodiesOfStrings) {
  auto f = decode_body("application/json", R"({"name":"bob","email":"b@c.de","x":null})");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->at("name"), "bob");
  EXPECT_EQ(f->count("x"), 0u);
}

TEST(BodyDecoderTest, JsonRejectsNonStringsArraysAndGarbage) {
  EXPECT_EQ(decode_body("application/json", R"({"name":1})").error().code, Errc::kBadRequest);
  EXPECT_EQ(decode_body("application/json", "[1]").error().code, Errc::kBadRequest);
  EXPECT_EQ(decode_body("application/json", "{").error().code, Errc::kBadRequest);
}

TEST(BodyDecoderTest, UnknownContentTypeIsRefused) {
  EXPECT_EQ(decode_body("text/xml", "<a/>").error().code, Errc::kBadRequest);
}

TEST(BodyDecoderTest, MissingContentTypeGuessesFromTheBody) {
  EXPECT_EQ(decode_body("", R"({"a":"b"})")->at("a"), "b");
  EXPECT_EQ(decode_body("", "a=b")->at("a"), "b");
}

}  // namespace
}  // namespace rwd::protocol
