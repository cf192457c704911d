#pragma once

#include <string>
#include <string_view>

namespace rwd::http {

// A request target (path and query) as it may be written to a log: the secrets it can carry
// are replaced by "redacted".
//  - The verification key in /api/v1/auth/email_verify/<key>: the path becomes
//    /api/v1/auth/email_verify/redacted.
//  - Every query value but the protocol version's (`v`): no route reads a secret from the
//    query, but a client may put anything there (`?token=...`), so no value is trusted.
//    A parameter with no `=`, or whose name is not a plain word (letters, digits, `_-.`, at
//    most 32 bytes), is replaced whole, since it may be the secret itself (`?abcd1234...`).
// A long target is cut: the path after 1,024 bytes and the query after 16 parameters, each
// cut marked "..." (the result stays under 1,800 bytes).
std::string loggable_target(std::string_view target);

}  // namespace rwd::http
