#pragma once

#include <string>
#include <string_view>

namespace rwd::protocol {

// The value of a frame's first top-level "payload" member as JSON text, numbers copied
// verbatim (a DOM would round big integers and long fractions to doubles, and a heartbeat
// must echo the very value it was sent); "null" when the frame has none. The frame must
// already have been parsed and validated as a JSON object.
std::string verbatim_payload(std::string_view frame);

}  // namespace rwd::protocol
