#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/body_decoder.h"

namespace rwd::http {

// The token of "Authorization: Bearer <token>" (case-insensitive scheme, spaces trimmed);
// nullopt when the header is not of that form. The token may be empty.
std::optional<std::string> bearer_token(std::string_view authorization);

// A decoded body's field, "" when absent: each route's validation answers a missing field as
// it answers an empty one (docs/PROTOCOL.md, field rules).
std::string field_or_empty(const protocol::Fields& fields, const char* name);

}  // namespace rwd::http
