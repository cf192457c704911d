#include "protocol/body_decoder.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cctype>

#include "base/text.h"

namespace rwd::protocol {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

Result<Fields> decode_form(std::string_view body) {
  Fields fields;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!url_decode(pair.substr(0, eq), key) ||
        !url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), value))
      return Error{Errc::kBadRequest, "the form body has a bad %-escape."};
    if (!is_valid_utf8(key) || !is_valid_utf8(value))
      return Error{Errc::kBadRequest, "the form body is not valid UTF-8."};
    fields.emplace(std::move(key), std::move(value));
  }
  return fields;
}

Result<Fields> decode_json_fields(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(body.data(),
                                                                                    body.size());
  if (doc.HasParseError())
    return Error{Errc::kBadRequest, std::string("the JSON body is malformed: ") +
                                        rapidjson::GetParseError_En(doc.GetParseError())};
  if (!doc.IsObject()) return Error{Errc::kBadRequest, "the JSON body must be an object."};
  Fields fields;
  for (auto& m : doc.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (!m.value.IsString()) {
      if (m.value.IsNull()) continue;
      return Error{Errc::kBadRequest, "field '" + key + "' must be a string."};
    }
    fields.emplace(std::move(key), std::string(m.value.GetString(), m.value.GetStringLength()));
  }
  return fields;
}

Result<Fields> decode_body(std::string_view content_type, std::string_view body) {
  std::string type = ascii_lower(trim(content_type.substr(0, content_type.find(';'))));
  if (type == "application/json" || (type.empty() && !trim(body).empty() && trim(body)[0] == '{'))
    return decode_json_fields(body);
  if (type.empty() || type == "application/x-www-form-urlencoded") return decode_form(body);
  return Error{Errc::kBadRequest,
               "send the body as application/x-www-form-urlencoded or application/json."};
}

}  // namespace rwd::protocol
