#include "http/request_fields.h"

#include "base/text.h"

namespace rwd::http {

std::optional<std::string> bearer_token(std::string_view authorization) {
  std::string_view auth = trim(authorization);
  if (auth.size() < 7 || ascii_lower(auth.substr(0, 7)) != "bearer ") return std::nullopt;
  return std::string(trim(auth.substr(7)));
}

std::string field_or_empty(const protocol::Fields& fields, const char* name) {
  auto it = fields.find(name);
  return it == fields.end() ? std::string() : it->second;
}

}  // namespace rwd::http
