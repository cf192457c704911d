#pragma once

#include <spdlog/formatter.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace rwd::log {

// Appends `text` to `out` as the inside of a JSON string: quotes, backslashes, every control
// character and U+2028/U+2029 are escaped, and each byte that is not part of valid UTF-8 becomes
// U+FFFD. Whatever `text` holds (user input: a path, a name), the result is one line of valid
// JSON. Safe from any thread.
void append_json_string(std::string& out, std::string_view text);

// "2026-01-02T03:04:05.123456Z": RFC 3339, UTC, microseconds.
std::string rfc3339_utc(std::chrono::system_clock::time_point time);

// What a record's payload (its formatted message) is.
enum class JsonPayload {
  kMessage,  // text: written as the "msg" field
  kFields,   // already JSON members (`"a":1,"b":"x"`, from access_log.cc): written as they are
};

// Writes each record as one JSON object on one line:
//   {"time":"...Z","level":"info","logger":"rewind","thread":123,"msg":"..."}
// with a kFields payload's members in place of "msg". Records never span lines: newlines
// and control characters inside a message are escaped.
class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(JsonPayload payload = JsonPayload::kMessage) : payload_(payload) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  JsonPayload payload_;
};

}  // namespace rwd::log
