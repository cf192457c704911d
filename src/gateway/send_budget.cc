#include "gateway/send_budget.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "protocol/gateway_codec.h"

namespace rwd::gateway {

namespace {

// The v2 completion frame after a load; far smaller than this.
constexpr size_t kLoadCompleteBytes = 256;

}  // namespace

size_t largest_chat_frame_bytes(size_t max_content_chars) {
  // One candidate per way a character can grow: outside the BMP (4 UTF-8 bytes), escaped
  // (quote, backslash, newline: 2), 3-byte BMP (Hangul; U+2028, which some encoders escape).
  static constexpr std::string_view kCandidates[] = {"\xF0\x9F\x98\x80", "\"",          "\\", "\n",
                                                     "\xEA\xB0\x80",     "\xE2\x80\xA8"};
  domain::ChatMessage m;
  m.id = std::numeric_limits<int64_t>::max();
  m.author_id = std::numeric_limits<int64_t>::max();
  m.wire_chat_id = std::numeric_limits<int64_t>::max();
  m.created_us = 4'102'444'800'000'000;  // 2100-01-01: the date is of fixed width
  m.edited_us = m.created_us;            // v2 carries edited_at: a date beats null
  size_t largest = 0;
  for (std::string_view c : kCandidates) {
    m.content.clear();
    m.content.reserve(c.size() * max_content_chars);
    for (size_t i = 0; i < max_content_chars; ++i) m.content.append(c);
    // The offset with the most digits in it changes nothing; +09:00 is the default.
    largest = std::max(largest, protocol::encode_chat(protocol::Version::kV2,
                                                      domain::ChatAction::kEdit, m, 9 * 3600)
                                    .size());
  }
  return largest;
}

size_t largest_history_count(size_t max_content_chars, size_t send_queue_bytes) {
  size_t budget = send_queue_bytes / 2;
  if (budget <= kLoadCompleteBytes) return 0;
  return (budget - kLoadCompleteBytes) / largest_chat_frame_bytes(max_content_chars);
}

Status check_history_fits_send_queue(size_t history_max_count, size_t max_content_chars,
                                     size_t send_queue_bytes) {
  size_t frame = largest_chat_frame_bytes(max_content_chars);
  size_t load = history_max_count * frame + kLoadCompleteBytes;
  if (load <= send_queue_bytes / 2) return {};
  return Error{
      Errc::kInternal,
      "--history-max-count / REWIND_HISTORY_MAX_COUNT " + std::to_string(history_max_count) +
          " does not fit --send-queue-bytes / " + "REWIND_SEND_QUEUE_BYTES " +
          std::to_string(send_queue_bytes) + ": one history load can queue " +
          std::to_string(load) + " bytes (" + std::to_string(frame) +
          " per message of --max-content-chars " + std::to_string(max_content_chars) +
          ") and must fit in half of the send queue; raise --send-queue-bytes to at least " +
          std::to_string(2 * load) + " or lower --history-max-count to at most " +
          std::to_string(largest_history_count(max_content_chars, send_queue_bytes))};
}

}  // namespace rwd::gateway
