#include "log/json_formatter.h"

#include <spdlog/details/log_msg.h>

#include <ctime>

namespace rwd::log {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_unicode_escape(std::string& out, unsigned code) {
  out += "\\u";
  out += kHex[(code >> 12) & 0xf];
  out += kHex[(code >> 8) & 0xf];
  out += kHex[(code >> 4) & 0xf];
  out += kHex[code & 0xf];
}

// The length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF are not valid).
size_t utf8_sequence_length(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char lead = byte(0);
  size_t length;
  unsigned code;
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    code = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = (code << 6) | (byte(i) & 0x3f);
  }
  if (length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) return 0;
  if (length == 4 && (code < 0x10000 || code > 0x10ffff)) return 0;
  return length;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      size_t n = utf8_sequence_length(text.substr(i));
      if (n == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      // U+2028 and U+2029 end lines in JavaScript: escaped, so no reader splits a record.
      if (n == 3 && c == 0xe2 && static_cast<unsigned char>(text[i + 1]) == 0x80 &&
          (static_cast<unsigned char>(text[i + 2]) & 0xfe) == 0xa8) {
        append_unicode_escape(out, 0x2028 + (static_cast<unsigned char>(text[i + 2]) & 1));
      } else {
        out.append(text.data() + i, n);
      }
      i += n;
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f)
          append_unicode_escape(out, c);
        else
          out += static_cast<char>(c);
    }
    ++i;
  }
}

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(time.time_since_epoch()).count();
  auto seconds = static_cast<std::time_t>(us >= 0 ? us / 1'000'000 : (us - 999'999) / 1'000'000);
  auto micros = static_cast<long>(us - static_cast<int64_t>(seconds) * 1'000'000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06ldZ", micros);
  return buf;
}

void JsonFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  std::string line;
  line.reserve(128 + msg.payload.size());
  line += "{\"time\":\"";
  line += rfc3339_utc(msg.time);
  line += "\",\"level\":\"";
  auto level = spdlog::level::to_string_view(msg.level);
  line.append(level.data(), level.size());
  line += '"';
  if (msg.logger_name.size() > 0) {
    line += ",\"logger\":\"";
    append_json_string(line, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    line += '"';
  }
  line += ",\"thread\":";
  line += std::to_string(msg.thread_id);
  std::string_view payload(msg.payload.data(), msg.payload.size());
  if (payload_ == JsonPayload::kFields) {
    if (!payload.empty()) {
      line += ',';
      line.append(payload);
    }
  } else {
    line += ",\"msg\":\"";
    append_json_string(line, payload);
    line += '"';
  }
  line += "}\n";
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> JsonFormatter::clone() const {
  return std::make_unique<JsonFormatter>(payload_);
}

}  // namespace rwd::log
