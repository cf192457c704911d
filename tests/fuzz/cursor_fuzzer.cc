// libFuzzer target: the history cursor (base64 of a local date-time) and the date-time parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/crypto.h"
#include "base/time_format.h"
#include "protocol/gateway_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool ready = rwd::crypto::init();
  (void)ready;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)rwd::protocol::decode_cursor(text, 9 * 3600);
  if (auto us = rwd::parse_local_datetime(text, 9 * 3600)) {
    // Whatever parses must format and parse back to the same instant.
    auto again = rwd::parse_local_datetime(rwd::format_created_at(*us, 9 * 3600), 9 * 3600);
    if (!again || *again != *us) __builtin_trap();
  }
  return 0;
}
