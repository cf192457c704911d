#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "protocol/gateway_codec.h"

// The registry of request types: one row per alternative of Request saying how a frame names
// it, which protocol versions accept it, whether it waits for auth and which decoder reads
// it. The decoders dispatch through it and the session asks it; nothing else decides these.
namespace rwd::protocol {

// The protocol versions that accept a request type.
struct Versions {
  bool v1 = false;
  bool v2 = false;
  constexpr bool allows(Version v) const { return v == Version::kV1 ? v1 : v2; }
};

// A frame being decoded; defined with the decoders, the only code that looks inside.
struct FrameParts;
using RequestDecoder = Result<Request> (*)(const FrameParts&);

struct RequestType {
  std::string_view name;  // the frame's "type"
  // Types that share a name (`load`) are told apart by the payload's "type", which must be
  // one of the kinds the frame's version accepts; empty for a name that is one type.
  std::string_view kind;
  Versions versions;  // on any other version the frame is refused as if the type did not exist
  bool needs_auth;    // requests sent before auth are held until it succeeds
  RequestDecoder decode;
  size_t alternative;  // the index of its type in Request
};

// Every request type, in Request's order: request_types()[i] describes the i-th alternative.
// request_types.cc does not compile when a row is missing, extra or out of order.
std::span<const RequestType> request_types();

// The row of a request's type.
const RequestType& request_type(const Request& request);

}  // namespace rwd::protocol
