#include "protocol/gateway_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "base/crypto.h"
#include "base/text.h"
#include "base/time_format.h"
#include "protocol/error_table.h"

namespace rwd::protocol {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using rapidjson::Value;

// Depth of the deepest array/object, stopping early past the limit. Strings are skipped.
bool depth_within(std::string_view s, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

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

// The frame's payload as JSON text for a heartbeat echo ("null" when there is none). The
// frame has already been parsed and validated as a DOM.
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

// Sorted, not compared pairwise: the object comes from an untrusted frame and may hold
// thousands of keys.
bool has_duplicate_key(const Value& obj) {
  std::vector<std::string_view> names;
  names.reserve(obj.MemberCount());
  for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m)
    names.emplace_back(m->name.GetString(), m->name.GetStringLength());
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) != names.end();
}

Error invalid(std::string detail) { return Error{Errc::kInvalidPayload, std::move(detail)}; }

std::string str(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

// Reads the fields of one request's payload, keeping the rules of "Request fields" in
// docs/PROTOCOL.md: a required field that is missing or null is refused (never read as an
// empty value), so is one of another JSON type, and each refusal is kInvalidPayload with a
// reason naming the field. Fields a request does not name are ignored. `context` names the
// request in reasons ("chat edit").
class Fields {
 public:
  Fields(const Value& obj, std::string context) : obj_(obj), context_(std::move(context)) {}

  // Any string, the empty one included: what "" means is the request's own rule.
  Result<std::string> string(const char* name) {
    auto v = present(name, "a string");
    if (!v.ok()) return v.error();
    if (!v.value()->IsString()) return wrong(name, "a string");
    return str(*v.value());
  }

  // A snowflake: a decimal string or a JSON integer, positive as a signed 64-bit integer.
  // "" and "0" are no id.
  Result<int64_t> id(const char* name) {
    static constexpr const char* kWhat = "a positive id as a decimal string";
    auto v = present(name, kWhat);
    if (!v.ok()) return v.error();
    const Value& f = *v.value();
    int64_t out = 0;
    if (f.IsInt64()) {
      out = f.GetInt64();
    } else if (f.IsString()) {
      if (!parse_int64(f, out)) return wrong(name, kWhat);
    } else {
      return wrong(name, kWhat);
    }
    if (out <= 0) return wrong(name, kWhat);
    return out;
  }

  // A count: a JSON integer or a decimal string of one, at least 1; larger than any cap is
  // clamped here and capped by the caller.
  Result<int> count(const char* name) {
    static constexpr const char* kWhat = "an integer of at least 1";
    auto v = present(name, kWhat);
    if (!v.ok()) return v.error();
    const Value& f = *v.value();
    int64_t n = 0;
    if (f.IsInt64()) {
      n = f.GetInt64();
    } else if (!f.IsString() || !parse_int64(f, n)) {
      return wrong(name, kWhat);
    }
    if (n < 1) return wrong(name, kWhat);
    return static_cast<int>(std::min<int64_t>(n, 1 << 30));
  }

  // One of a few strings: the request's `type`. `what` lists them for the reason.
  Result<std::string> choice(const char* name, std::initializer_list<std::string_view> allowed,
                             const char* what) {
    auto v = present(name, what);
    if (!v.ok()) return v.error();
    if (v.value()->IsString()) {
      std::string s = str(*v.value());
      if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
    }
    return wrong(name, what);
  }

 private:
  Result<const Value*> present(const char* name, const char* what) {
    auto it = obj_.FindMember(name);
    if (it == obj_.MemberEnd()) return invalid(context_ + " needs '" + name + "' (" + what + ").");
    if (it->value.IsNull())
      return invalid(context_ + " '" + name + "' is null; it must be " + what + ".");
    return &it->value;
  }
  Error wrong(const char* name, const char* what) {
    return invalid(context_ + " '" + name + "' must be " + what + ".");
  }
  static bool parse_int64(const Value& s, int64_t& out) {
    const char* b = s.GetString();
    const char* e = b + s.GetStringLength();
    auto [p, ec] = std::from_chars(b, e, out);
    return ec == std::errc() && p == e && b != e;
  }

  const Value& obj_;
  std::string context_;
};

// The payload of a request that needs an object; `payload` is null when the frame has none.
Status payload_object(const Value* payload, const char* type) {
  if (!payload) return invalid(std::string(type) + " needs a 'payload' object.");
  if (!payload->IsObject()) return invalid(std::string(type) + " 'payload' must be an object.");
  return {};
}

void write_user(Writer& w, const domain::UserView& u) {
  w.StartObject();
  w.Key("id");
  std::string id = std::to_string(u.id);
  w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
  w.Key("name");
  w.String(u.name.c_str(), static_cast<rapidjson::SizeType>(u.name.size()));
  w.Key("profile");
  if (u.profile)
    w.String(u.profile->c_str(), static_cast<rapidjson::SizeType>(u.profile->size()));
  else
    w.Null();
  w.EndObject();
}

std::string users_json(const std::vector<domain::UserView>& users) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartArray();
  for (const auto& u : users) write_user(w, u);
  w.EndArray();
  return std::string(sb.GetString(), sb.GetSize());
}

void write_string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

const char* friend_action_name(domain::FriendAction a) {
  switch (a) {
    case domain::FriendAction::kRequest:
      return "request";
    case domain::FriendAction::kResponse:
      return "response";
    case domain::FriendAction::kRemove:
      return "remove";
    case domain::FriendAction::kDelete:
      return "delete";
  }
  return "request";
}

void write_guild(Writer& w, const domain::GuildView& g) {
  w.StartObject();
  w.Key("id");
  write_string(w, std::to_string(g.id));
  w.Key("name");
  write_string(w, g.name);
  w.Key("owner_id");
  write_string(w, std::to_string(g.owner_id));
  w.Key("members");
  w.StartArray();
  for (const auto& u : g.members) write_user(w, u);
  w.EndArray();
  w.EndObject();
}

// `members`, when given, are written after the summary's fields.
void write_guild_summary(Writer& w, const domain::GuildSummary& g,
                         const std::vector<domain::UserView>* members = nullptr) {
  w.StartObject();
  w.Key("id");
  write_string(w, std::to_string(g.id));
  w.Key("name");
  write_string(w, g.name);
  w.Key("owner_id");
  write_string(w, std::to_string(g.owner_id));
  w.Key("member_count");
  w.Uint64(g.member_count);
  if (members) {
    w.Key("members");
    w.StartArray();
    for (const auto& u : *members) write_user(w, u);
    w.EndArray();
  }
  w.EndObject();
}

const char* guild_action_name(domain::GuildAction a) {
  switch (a) {
    case domain::GuildAction::kCreated:
      return "created";
    case domain::GuildAction::kRenamed:
      return "renamed";
    case domain::GuildAction::kDeleted:
      return "deleted";
    case domain::GuildAction::kJoined:
      return "joined";
    case domain::GuildAction::kLeft:
      return "left";
  }
  return "created";
}

Result<Request> decode_guild(const Value* payload) {
  if (Status s = payload_object(payload, "guild"); !s.ok()) return s.error();
  auto kind = Fields(*payload, "guild")
                  .choice("type", {"create", "rename", "add", "remove", "leave", "delete"},
                          "create, rename, add, remove, leave or delete");
  if (!kind.ok()) return kind.error();
  const std::string& k = kind.value();
  GuildRequest r{GuildOp::kCreate, 0, {}};
  bool needs_id = true, needs_name = true;
  if (k == "create") {
    needs_id = false;
  } else if (k == "rename") {
    r.op = GuildOp::kRename;
  } else if (k == "add") {
    r.op = GuildOp::kAdd;
  } else if (k == "remove") {
    r.op = GuildOp::kRemove;
  } else if (k == "leave") {
    r.op = GuildOp::kLeave, needs_name = false;
  } else {
    r.op = GuildOp::kDelete, needs_name = false;
  }
  Fields f(*payload, "guild " + k);
  if (needs_id) {
    auto id = f.id("guild_id");
    if (!id.ok()) return id.error();
    r.guild_id = id.value();
  }
  if (needs_name) {
    auto name = f.string("name");
    if (!name.ok()) return name.error();
    r.name = std::move(name.value());
  }
  return Request(std::move(r));
}

Result<Request> decode_chat(const Value* payload) {
  if (Status s = payload_object(payload, "chat"); !s.ok()) return s.error();
  auto kind = Fields(*payload, "chat").choice("type", {"send", "edit"}, "send or edit");
  if (!kind.ok()) return kind.error();
  bool edit = kind.value() == "edit";
  Fields f(*payload, "chat " + kind.value());
  auto chat_id = f.id("chat_id");
  if (!chat_id.ok()) return chat_id.error();
  ChatRequest r{
      edit ? domain::ChatAction::kEdit : domain::ChatAction::kSend, chat_id.value(), 0, {}};
  if (edit) {
    auto id = f.id("id");
    if (!id.ok()) return id.error();
    r.message_id = id.value();
  }
  // Only "" is empty content (a send to ignore, an edit that deletes): a missing or null
  // content is a malformed request, never a deletion.
  auto content = f.string("content");
  if (!content.ok()) return content.error();
  r.content = std::move(content.value());
  return Request(std::move(r));
}

Result<Request> decode_load(const Value* payload, Version version) {
  if (Status s = payload_object(payload, "load"); !s.ok()) return s.error();
  // guild_members is v2 only: on v1 it is an unknown load type, as before it existed.
  auto kind =
      version == Version::kV2
          ? Fields(*payload, "load")
                .choice("type", {"chat", "mutual_users", "guilds", "guild_members"},
                        "chat, mutual_users, guilds or guild_members")
          : Fields(*payload, "load")
                .choice("type", {"chat", "mutual_users", "guilds"}, "chat, mutual_users or guilds");
  if (!kind.ok()) return kind.error();
  if (kind.value() == "mutual_users") return Request(LoadFriendsRequest{});
  if (kind.value() == "guilds") return Request(LoadGuildsRequest{});
  if (kind.value() == "guild_members") {
    auto id = Fields(*payload, "load guild_members").id("guild_id");
    if (!id.ok()) return id.error();
    return Request(LoadGuildMembersRequest{id.value()});
  }
  Fields f(*payload, "load chat");
  auto chat_id = f.id("load_id");
  if (!chat_id.ok()) return chat_id.error();
  // "" is a string: refused as a cursor that cannot be decoded (kInvalidCursor) later.
  auto datetime = f.string("datetime");
  if (!datetime.ok()) return datetime.error();
  auto count = f.count("count");
  if (!count.ok()) return count.error();
  return Request(LoadChatRequest{chat_id.value(), std::move(datetime.value()), count.value()});
}

Result<Request> decode_friend(const Value* payload) {
  if (Status s = payload_object(payload, "mutual_users"); !s.ok()) return s.error();
  auto kind = Fields(*payload, "mutual_users")
                  .choice("type", {"request", "response", "remove", "delete"},
                          "request, response, remove or delete");
  if (!kind.ok()) return kind.error();
  const std::string& k = kind.value();
  auto name = Fields(*payload, "mutual_users " + k).string("name");
  if (!name.ok()) return name.error();
  domain::FriendAction a = k == "request"    ? domain::FriendAction::kRequest
                           : k == "response" ? domain::FriendAction::kResponse
                           : k == "remove"   ? domain::FriendAction::kRemove
                                             : domain::FriendAction::kDelete;
  return Request(FriendRequest{a, std::move(name.value())});
}

Result<Request> decode_auth(const Value* payload) {
  if (Status s = payload_object(payload, "auth"); !s.ok()) return s.error();
  // "" is a string: a token that is not valid (kInvalidToken), answered by the session.
  auto token = Fields(*payload, "auth").string("auth");
  if (!token.ok()) return token.error();
  return Request(AuthRequest{std::move(token.value())});
}

// v2's request id: absent is none; anything but a string of 1 to kMaxRequestIdLength
// printable ASCII characters is refused, so that what is echoed is always a short plain
// string that any client can compare.
Result<std::string> read_request_id(const Value& frame) {
  static constexpr const char* kRule =
      "'request_id' must be a string of 1 to 64 printable ASCII characters.";
  auto it = frame.FindMember("request_id");
  if (it == frame.MemberEnd()) return std::string();
  if (!it->value.IsString()) return invalid(kRule);
  std::string id = str(it->value);
  if (id.empty() || id.size() > kMaxRequestIdLength) return invalid(kRule);
  for (unsigned char c : id)
    if (c < 0x20 || c > 0x7e) return invalid(kRule);
  return id;
}

// The request of a frame that is a JSON object with a string `type` and no repeated key.
Result<Request> decode_body(std::string_view frame, const std::string& type, const Value* payload,
                            Version version) {
  if (type == "heartbeat") {
    // RapidJSON 1.1.0 decodes a lone low-surrogate escape ("\udc00") into bytes that are
    // not UTF-8; echoed, they would make an invalid text frame.
    std::string echo = verbatim_payload(frame);
    if (!is_valid_utf8(echo))
      return Error{Errc::kMalformedFrame, "the frame has an invalid \\u escape."};
    return Request(HeartbeatRequest{std::move(echo)});
  }
  if (type == "auth") return decode_auth(payload);
  if (type == "chat") return decode_chat(payload);
  if (type == "load") return decode_load(payload, version);
  if (type == "mutual_users") return decode_friend(payload);
  // v1 is the published app's protocol, which has no guilds: whatever its payload, a guild
  // frame is answered as before guilds existed.
  if (type == "guild" && version == Version::kV2) return decode_guild(payload);
  if (type.size() > 64 || !is_valid_utf8(type)) return Error{Errc::kUnknownType, "unknown type."};
  return Error{Errc::kUnknownType, "unknown type '" + type + "'."};
}

}  // namespace

Result<Request> decode_request(std::string_view frame, Version version) {
  return decode_frame(frame, version).request;
}

DecodedFrame decode_frame(std::string_view frame, Version version) {
  if (!depth_within(frame, kMaxJsonDepth))
    return {{}, Error{Errc::kMalformedFrame, "JSON nesting is too deep."}};
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(frame.data(), frame.size());
  if (doc.HasParseError())
    return {{}, Error{Errc::kMalformedFrame, "the frame is not valid JSON."}};
  if (!doc.IsObject())
    return {{}, Error{Errc::kMalformedFrame, "the frame must be a JSON object."}};
  auto tit = doc.FindMember("type");
  if (tit == doc.MemberEnd() || !tit->value.IsString())
    return {{}, Error{Errc::kMalformedFrame, "the frame needs a string 'type'."}};
  std::string type = str(tit->value);
  auto pit = doc.FindMember("payload");
  const Value* payload = pit == doc.MemberEnd() ? nullptr : &pit->value;
  // A repeated key means two readers of the frame may disagree on what it says: refuse it.
  if (has_duplicate_key(doc) || (payload && payload->IsObject() && has_duplicate_key(*payload)))
    return {{}, Error{Errc::kMalformedFrame, "the frame repeats a key."}};
  DecodedFrame out{{}, Errc::kInvalidPayload};
  if (version == Version::kV2) {
    auto request_id = read_request_id(doc);
    if (!request_id.ok()) return {{}, request_id.error()};
    out.request_id = std::move(request_id.value());
  }
  out.request = decode_body(frame, type, payload, version);
  return out;
}

const char* request_type_name(const Request& r) {
  static const char* const kNames[] = {"heartbeat",    "auth",  "chat", "load", "load",
                                       "mutual_users", "guild", "load", "load"};
  static_assert(std::size(kNames) == std::variant_size_v<Request>);
  return kNames[r.index()];
}

std::string encode_heartbeat(const std::string& payload_json) {
  return R"({"type":"heartbeat","payload":)" + payload_json + "}";
}

std::string with_request_id(std::string frame, std::string_view request_id) {
  if (request_id.empty() || frame.empty() || frame.back() != '}') return frame;
  rapidjson::StringBuffer sb;
  Writer w(sb);
  write_string(w, request_id);
  frame.pop_back();
  frame += R"(,"request_id":)";
  frame.append(sb.GetString(), sb.GetSize());
  frame += '}';
  return frame;
}

std::string encode_ok() { return R"({"type":"ok","payload":{}})"; }

std::string encode_error(Errc code, std::string_view reason, int64_t retry_after_ms) {
  const ErrorInfo& info = error_info(code);
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("error");
  w.Key("payload");
  w.StartObject();
  w.Key("code");
  w.String(info.gateway_code);
  w.Key("reason");
  if (reason.empty())
    w.String(info.message);
  else
    write_string(w, reason);
  if (retry_after_ms > 0) {
    w.Key("retry_after");
    w.Double(std::ceil(static_cast<double>(retry_after_ms) / 100.0) / 10.0);
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string encode_auth(Version v, const domain::UserView& self, const domain::FriendState& st,
                        const std::vector<domain::GuildSummary>& guilds) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("auth");
  w.Key("payload");
  w.StartObject();
  w.Key("self_user");
  write_user(w, self);
  if (v == Version::kV1) {
    // The app decodes these two with a JSON string decoder: JSON text inside a string.
    std::string requests = users_json(st.incoming), friends = users_json(st.friends);
    w.Key("mutual_requests");
    write_string(w, requests);
    w.Key("mutual_users");
    write_string(w, friends);
  } else {
    w.Key("mutual_requests");
    w.StartArray();
    for (const auto& u : st.incoming) write_user(w, u);
    w.EndArray();
    w.Key("mutual_users");
    w.StartArray();
    for (const auto& u : st.friends) write_user(w, u);
    w.EndArray();
    w.Key("outgoing_requests");
    w.StartArray();
    for (const auto& u : st.outgoing) write_user(w, u);
    w.EndArray();
    w.Key("guilds");
    w.StartArray();
    for (const auto& g : guilds) write_guild_summary(w, g);
    w.EndArray();
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string encode_friend_list(const std::vector<domain::UserView>& friends) {
  return R"({"type":"mutual_users","payload":)" + users_json(friends) + "}";
}

std::string encode_friend_event(domain::FriendAction action, const domain::UserView& user,
                                bool self) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("mutual_users");
  w.Key("payload");
  w.StartObject();
  w.Key("type");
  w.String(friend_action_name(action));
  w.Key("user");
  write_user(w, user);
  if (self) {
    w.Key("self");
    w.Bool(true);
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string encode_chat(Version v, domain::ChatAction action, const domain::ChatMessage& m,
                        int utc_offset_s) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("chat");
  w.Key("payload");
  w.StartObject();
  w.Key("type");
  w.String(action == domain::ChatAction::kSend ? "send" : "edit");
  w.Key("id");
  write_string(w, std::to_string(m.id));
  w.Key("user_id");
  write_string(w, std::to_string(m.author_id));
  w.Key("chat_id");
  write_string(w, std::to_string(m.wire_chat_id));
  w.Key("content");
  write_string(w, m.content);
  w.Key("created_at");
  write_string(w, format_created_at(m.created_us, utc_offset_s));
  if (v == Version::kV2) {
    w.Key("edited_at");
    if (m.edited_us)
      write_string(w, format_created_at(*m.edited_us, utc_offset_s));
    else
      w.Null();
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string encode_guild_event(domain::GuildAction action, const domain::GuildSummary& guild,
                               const domain::UserView& user, const domain::UserView& actor,
                               const std::optional<domain::UserView>& new_owner) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("guild");
  w.Key("payload");
  w.StartObject();
  w.Key("type");
  w.String(guild_action_name(action));
  w.Key("guild");
  if (action == domain::GuildAction::kCreated) {
    // The creator's event lists the members too: there is one, the creator.
    std::vector<domain::UserView> members{user};
    write_guild_summary(w, guild, &members);
  } else {
    write_guild_summary(w, guild);
  }
  w.Key("user");
  write_user(w, user);
  w.Key("actor");
  write_user(w, actor);
  if (new_owner) {
    w.Key("new_owner");
    write_user(w, *new_owner);
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

namespace {
// The answer to `load guilds`: the envelope is the same whichever form each guild takes.
template <typename Guild, typename WriteGuild>
std::string encode_guild_load(const std::vector<Guild>& guilds, WriteGuild write_one) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("load");
  w.Key("payload");
  w.StartObject();
  w.Key("type");
  w.String("guilds");
  w.Key("guilds");
  w.StartArray();
  for (const auto& g : guilds) write_one(w, g);
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}
}  // namespace

std::string encode_guild_list(const std::vector<domain::GuildView>& guilds) {
  return encode_guild_load(guilds,
                           [](Writer& w, const domain::GuildView& g) { write_guild(w, g); });
}

std::string encode_guild_summaries(const std::vector<domain::GuildSummary>& guilds) {
  return encode_guild_load(
      guilds, [](Writer& w, const domain::GuildSummary& g) { write_guild_summary(w, g); });
}

std::string encode_guild_members(const domain::GuildView& g) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("load");
  w.Key("payload");
  w.StartObject();
  w.Key("type");
  w.String("guild_members");
  w.Key("guild_id");
  write_string(w, std::to_string(g.id));
  w.Key("owner_id");
  write_string(w, std::to_string(g.owner_id));
  w.Key("member_count");
  w.Uint64(g.members.size());
  w.Key("members");
  w.StartArray();
  for (const auto& u : g.members) write_user(w, u);
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string encode_load_complete(int64_t chat_id, size_t count, bool more) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String("load");
  w.Key("payload");
  w.StartObject();
  w.Key("type");
  w.String("chat");
  w.Key("load_id");
  write_string(w, std::to_string(chat_id));
  w.Key("count");
  w.Uint64(count);
  w.Key("complete");
  w.Bool(true);
  w.Key("more");
  w.Bool(more);
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Result<int64_t> decode_cursor(std::string_view datetime_b64, int utc_offset_s) {
  if (datetime_b64.size() > 256) return Errc::kInvalidCursor;
  auto text = crypto::base64_decode(datetime_b64);
  if (!text) return Errc::kInvalidCursor;
  auto us = parse_local_datetime(*text, utc_offset_s);
  if (!us) return Errc::kInvalidCursor;
  return *us;
}

}  // namespace rwd::protocol
