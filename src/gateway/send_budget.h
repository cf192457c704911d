#pragma once

#include <cstddef>

#include "base/error.h"

namespace rwd::gateway {

// A history load is queued on its connection at once: up to --history-max-count chat frames
// (and, in v2, the completion frame). A legal request must never close its own connection as a
// slow consumer (4105), so the largest load must fit in half of --send-queue-bytes; the other
// half takes the events and answers that arrive while it drains.
//
// The size of one frame is measured with the real encoder, not assumed: the largest `chat`
// event (ids of 19 digits) whose content is max_content_chars characters of the kind that
// encodes longest (4 bytes for a character outside the BMP, 2 for an escaped quote, backslash
// or newline; other control characters are refused as content).
size_t largest_chat_frame_bytes(size_t max_content_chars);

// The largest --history-max-count that fits, at least 0.
size_t largest_history_count(size_t max_content_chars, size_t send_queue_bytes);

// Checks the settings at start-up; the error names both settings and what would fit.
Status check_history_fits_send_queue(size_t history_max_count, size_t max_content_chars,
                                     size_t send_queue_bytes);

}  // namespace rwd::gateway
