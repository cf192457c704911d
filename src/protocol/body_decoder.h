#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/error.h"

namespace rwd::protocol {

using Fields = std::map<std::string, std::string>;

// Decodes an HTTP request body into named string fields, by Content-Type:
// application/x-www-form-urlencoded (what the app sends), application/json (an object
// whose values are strings), or no type (tried as a form). Errors are kBadRequest with a
// detail that names the problem. For a repeated field the first value wins.
Result<Fields> decode_body(std::string_view content_type, std::string_view body);
Result<Fields> decode_form(std::string_view body);
Result<Fields> decode_json_fields(std::string_view body);

// Percent-decoding with '+' as space; nullopt-like failure as false.
bool url_decode(std::string_view in, std::string& out);

}  // namespace rwd::protocol
