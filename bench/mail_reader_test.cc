#include "bench/mail_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

namespace rwd::bench {
namespace {

// A key long enough that a quoted-printable encoder (76 columns) breaks the link's line.
constexpr const char* kKey = "Zq8vN1x-Kd_3mW0pR7tYb2HcLf9sA4eG6uJ5oQiVnXkTyB1wDr";

std::string header(const std::string& content_type, const std::string& encoding) {
  return "X-Envelope-From: rewind@example.test\r\n"
         "X-Envelope-To: alice@example.test\r\n"
         "From: REWIND <rewind@example.test>\r\n"
         "To: Alice <alice@example.test>\r\n"
         "Subject: Verify your email\r\n"
         "MIME-Version: 1.0\r\n"
         "Content-Type: " +
         content_type + "\r\n" +
         (encoding.empty() ? "" : "Content-Transfer-Encoding: " + encoding + "\r\n") + "\r\n";
}

TEST(BenchMailReaderTest, FindsTheKeyInPlainText) {
  std::string raw = header("text/plain; charset=utf-8", "7bit") +
                    "Open http://127.0.0.1:8080/api/v1/auth/email_verify/" + kKey +
                    " to verify.\r\n";
  VerificationMail m;
  ASSERT_TRUE(parse_verification_mail(raw, &m));
  EXPECT_EQ(m.to, "alice@example.test");
  EXPECT_EQ(m.key, kKey);
}

TEST(BenchMailReaderTest, JoinsAQuotedPrintableSoftLineBreakInsideTheLink) {
  // What Python's email package writes for a long line: "=" at the end of a line is a soft
  // break, and "=3D" an encoded "=". The old reader stopped the key at the "=".
  std::string key = kKey;
  std::string raw = header("text/plain; charset=utf-8", "quoted-printable") +
                    "Open http://127.0.0.1:8080/api/v1/auth/email_verify/" + key.substr(0, 20) +
                    "=\r\n" + key.substr(20) + " to verify (a=3Db).\r\n";
  VerificationMail m;
  ASSERT_TRUE(parse_verification_mail(raw, &m));
  EXPECT_EQ(m.key, kKey);
}

TEST(BenchMailReaderTest, DecodesABase64Body) {
  // base64 of "Open http://h/api/v1/auth/email_verify/<key> now\r\n", written out by hand
  // would hide what is tested: build it from a known text through the decoder's inverse.
  std::string text = std::string("Open http://h/api/v1/auth/email_verify/") + kKey + " now\r\n";
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (size_t i = 0; i < text.size(); i += 3) {
    uint32_t n = uint32_t(uint8_t(text[i])) << 16;
    if (i + 1 < text.size()) n |= uint32_t(uint8_t(text[i + 1])) << 8;
    if (i + 2 < text.size()) n |= uint8_t(text[i + 2]);
    b64 += alphabet[(n >> 18) & 63];
    b64 += alphabet[(n >> 12) & 63];
    b64 += i + 1 < text.size() ? alphabet[(n >> 6) & 63] : '=';
    b64 += i + 2 < text.size() ? alphabet[n & 63] : '=';
  }
  std::string raw = header("text/plain; charset=utf-8", "base64") + b64 + "\r\n";
  VerificationMail m;
  ASSERT_TRUE(parse_verification_mail(raw, &m));
  EXPECT_EQ(m.key, kKey);
}

TEST(BenchMailReaderTest, ReadsTheTextPartsOfAMultipartMail) {
  std::string raw = header("multipart/alternative; boundary=\"b1\"", "") +
                    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                    "Hello=\r\n there\r\n"
                    "--b1\r\nContent-Type: text/html; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                    "<a href=3D\"http://h/api/v1/auth/email_verify/" +
                    std::string(kKey) + "\">verify</a>\r\n--b1--\r\n";
  VerificationMail m;
  ASSERT_TRUE(parse_verification_mail(raw, &m));
  EXPECT_EQ(m.key, kKey);
}

TEST(BenchMailReaderTest, UsesToWhenTheSinkGaveNoEnvelope) {
  std::string raw =
      "From: rewind@example.test\r\nTo: Bob <BOB@example.test>\r\n"
      "Content-Type: text/plain\r\n\r\nhttp://h/api/v1/auth/email_verify/abc\r\n";
  VerificationMail m;
  ASSERT_TRUE(parse_verification_mail(raw, &m));
  EXPECT_EQ(m.to, "BOB@example.test");
  EXPECT_EQ(m.key, "abc");
}

TEST(BenchMailReaderTest, RefusesAMailWithoutALinkOrARecipient) {
  VerificationMail m;
  EXPECT_FALSE(parse_verification_mail(header("text/plain", "") + "Welcome back.\r\n", &m));
  EXPECT_FALSE(parse_verification_mail(
      "From: a@b\r\nContent-Type: text/plain\r\n\r\nhttp://h/api/v1/auth/email_verify/abc\r\n",
      &m));
  EXPECT_FALSE(parse_verification_mail("", &m));
}

TEST(BenchMailReaderTest, LaterMailsForTheSameAddressWin) {
  auto dir =
      std::filesystem::temp_directory_path() / ("rewind-mail-reader-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const std::string& key) {
    std::ofstream(dir / name) << header("text/plain", "") << "http://h/api/v1/auth/email_verify/"
                              << key << "\r\n";
  };
  write("00001.eml", "first");
  write("00002.eml", "second");
  std::ofstream(dir / "00003.tmp")
      << header("text/plain", "") << "http://h/api/v1/auth/email_verify/partial\r\n";
  MailReader reader(dir.string());
  reader.scan();
  ASSERT_NE(reader.key("Alice@Example.test"), nullptr);
  EXPECT_EQ(*reader.key("alice@example.test"), "second");
  EXPECT_EQ(reader.key("nobody@example.test"), nullptr);
  write("00004.eml", "third");
  reader.scan();
  EXPECT_EQ(*reader.key("alice@example.test"), "third");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rwd::bench
