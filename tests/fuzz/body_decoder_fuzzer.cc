// libFuzzer target: HTTP request bodies, as a form and as JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/body_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rwd::protocol;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)decode_body("application/x-www-form-urlencoded", body);
  (void)decode_body("application/json", body);
  (void)decode_body("", body);
  return 0;
}
