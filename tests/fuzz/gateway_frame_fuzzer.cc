// libFuzzer target: one gateway text frame through decoding and re-encoding, the code every
// untrusted WebSocket message reaches first.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/gateway_codec.h"
#include "protocol/request_types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rwd::protocol;
  std::string_view frame(reinterpret_cast<const char*>(data), size);
  auto r = decode_request(frame, Version::kV2);
  // v1 differs only in refusing the request types its registry row does not accept, and in
  // ignoring "request_id" (v2 refuses a malformed one): every other frame decodes alike.
  auto v1 = decode_request(frame, Version::kV1);
  bool v1_refuses = r.ok() && !request_type(r.value()).versions.allows(Version::kV1);
  bool v2_refuses_request_id = !r.ok() && r.error().code == rwd::Errc::kInvalidPayload &&
                               r.error().detail.find("'request_id'") != std::string::npos;
  if (v1.ok() != (r.ok() && !v1_refuses) && !(v1.ok() && v2_refuses_request_id)) __builtin_trap();
  if (v1.ok() && r.ok() && v1.value().index() != r.value().index()) __builtin_trap();
  if (!r.ok()) {
    (void)encode_error(r.error().code, r.error().detail);
    return 0;
  }
  if (auto* hb = std::get_if<HeartbeatRequest>(&r.value())) {
    // The echo must itself be a frame that decodes to the same payload.
    auto again = decode_request(encode_heartbeat(hb->payload_json), Version::kV2);
    if (!again.ok() || std::get<HeartbeatRequest>(again.value()).payload_json != hb->payload_json)
      __builtin_trap();
  }
  if (auto* load = std::get_if<LoadChatRequest>(&r.value()))
    (void)decode_cursor(load->datetime_b64, 9 * 3600);
  return 0;
}
