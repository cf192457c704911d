#include "gateway/send_budget.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "config/config.h"
#include "protocol/gateway_codec.h"

namespace rwd::gateway {
namespace {

domain::ChatMessage longest_message(size_t chars, const std::string& c) {
  domain::ChatMessage m;
  m.id = m.author_id = m.wire_chat_id = std::numeric_limits<int64_t>::max();
  m.created_us = 1'800'000'000'000'000;
  m.edited_us = m.created_us;  // v2's edited_at, at its longest
  for (size_t i = 0; i < chars; ++i) m.content += c;
  return m;
}

size_t encoded(const domain::ChatMessage& m) {
  return protocol::encode_chat(protocol::Version::kV2, domain::ChatAction::kEdit, m, 9 * 3600)
      .size();
}

TEST(SendBudgetTest, LargestFrameIsTheOneOfCharactersOutsideTheBmp) {
  size_t frame = largest_chat_frame_bytes(2000);
  EXPECT_EQ(frame, encoded(longest_message(2000, "\xF0\x9F\x98\x80")));  // 4 bytes each
  EXPECT_GE(frame, encoded(longest_message(2000, "\"")));                // escaped: 2 each
  EXPECT_GE(frame, encoded(longest_message(2000, "\\")));
  EXPECT_GE(frame, encoded(longest_message(2000, "\xEA\xB0\x80")));  // Hangul: 3 each
  EXPECT_GT(frame, size_t{8000});
  EXPECT_LT(frame, size_t{8400});
}

TEST(SendBudgetTest, DefaultSettingsFit) {
  Config c;
  EXPECT_TRUE(check_history_fits_send_queue(static_cast<size_t>(c.history_max_count),
                                            c.max_content_chars, c.send_queue_bytes)
                  .ok());
}

TEST(SendBudgetTest, LargestCountFitsAndOneMoreIsRefusedNamingBothSettings) {
  size_t queue = size_t{2} << 20;
  size_t n = largest_history_count(2000, queue);
  EXPECT_GT(n, size_t{100});
  EXPECT_LE(n * largest_chat_frame_bytes(2000), queue / 2);
  EXPECT_TRUE(check_history_fits_send_queue(n, 2000, queue).ok());
  Status s = check_history_fits_send_queue(n + 1, 2000, queue);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().detail.find("--history-max-count"), std::string::npos);
  EXPECT_NE(s.error().detail.find("--send-queue-bytes"), std::string::npos);
  EXPECT_NE(s.error().detail.find("at most " + std::to_string(n)), std::string::npos);
}

TEST(SendBudgetTest, TheUpperBoundOfTheCountNeedsAQueueOfItsSize) {
  // 10,000 of the longest messages: about 82 MB, so a queue of twice that.
  EXPECT_FALSE(check_history_fits_send_queue(10000, 2000, size_t{1} << 30 >> 4).ok());
  EXPECT_TRUE(check_history_fits_send_queue(10000, 2000, size_t{1} << 30).ok());
}

}  // namespace
}  // namespace rwd::gateway
