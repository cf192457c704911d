#include "protocol/payload_copier.h"

#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>

namespace rwd::protocol {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// SAX handler that writes the value of the frame's first top-level "payload" member, with
// numbers copied verbatim (kParseNumbersAsStringsFlag): a DOM would round big integers and
// long fractions to doubles, and a heartbeat must echo the very value it was sent.
class PayloadCopier {
 public:
  explicit PayloadCopier(Writer& w) : w_(w) {}
  bool copied() const { return done_; }

  bool Null() { return !begin() || end(w_.Null()); }
  bool Bool(bool b) { return !begin() || end(w_.Bool(b)); }
  bool Int(int) { return false; }  // numbers arrive as RawNumber
  bool Uint(unsigned) { return false; }
  bool Int64(int64_t) { return false; }
  bool Uint64(uint64_t) { return false; }
  bool Double(double) { return false; }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    return !begin() || end(w_.RawValue(s, n, rapidjson::kNumberType));  // unquoted
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return !begin() || end(w_.String(s, n, copy));
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (copying_) return w_.Key(s, n, copy);
    if (depth_ == 1 && !done_ && std::string_view(s, n) == "payload") armed_ = true;
    return true;
  }
  bool StartObject() { return open(begin() ? w_.StartObject() : true); }
  bool StartArray() { return open(begin() ? w_.StartArray() : true); }
  bool EndObject(rapidjson::SizeType n) { return close(!copying_ || w_.EndObject(n)); }
  bool EndArray(rapidjson::SizeType n) { return close(!copying_ || w_.EndArray(n)); }

 private:
  // At the start of a value: whether it is (inside) the payload.
  bool begin() {
    if (armed_ && !copying_) {
      armed_ = false;
      copying_ = true;
      copy_depth_ = depth_;
    }
    return copying_;
  }
  // After a scalar of the payload.
  bool end(bool ok) {
    if (depth_ == copy_depth_) copying_ = false, done_ = true;
    return ok;
  }
  bool open(bool ok) {
    ++depth_;
    return ok;
  }
  bool close(bool ok) {
    --depth_;
    if (copying_ && depth_ == copy_depth_) copying_ = false, done_ = true;
    return ok;
  }

  Writer& w_;
  int depth_ = 0;
  int copy_depth_ = -1;
  bool armed_ = false;
  bool copying_ = false;
  bool done_ = false;
};

}  // namespace

std::string verbatim_payload(std::string_view frame) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  PayloadCopier copier(w);
  rapidjson::MemoryStream in(frame.data(), frame.size());
  rapidjson::Reader reader;
  reader.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag>(
      in, copier);
  if (!copier.copied()) return "null";
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace rwd::protocol
