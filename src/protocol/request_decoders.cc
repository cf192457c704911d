#include "protocol/request_decoders.h"

#include <rapidjson/document.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "base/crypto.h"
#include "base/text.h"
#include "base/time_format.h"
#include "protocol/gateway_codec.h"
#include "protocol/payload_copier.h"
#include "protocol/request_types.h"

namespace rwd::protocol {

// A frame that is a JSON object with a string `type` and no repeated key.
struct FrameParts {
  std::string_view text;
  const rapidjson::Value* payload;  // null when the frame has none
  Version version;
};

namespace {

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

// Sorted, not compared pairwise: the object comes from an untrusted frame and may hold
// thousands of keys. A frame's usual few are compared pairwise, with nothing allocated.
bool has_duplicate_key(const Value& obj) {
  if (obj.MemberCount() <= 8) {
    for (auto a = obj.MemberBegin(); a != obj.MemberEnd(); ++a)
      for (auto b = a + 1; b != obj.MemberEnd(); ++b)
        if (a->name == b->name) return true;
    return false;
  }
  std::vector<std::string_view> names;
  names.reserve(obj.MemberCount());
  for (auto m = obj.MemberBegin(); m != obj.MemberEnd(); ++m)
    names.emplace_back(m->name.GetString(), m->name.GetStringLength());
  std::sort(names.begin(), names.end());
  return std::adjacent_find(names.begin(), names.end()) != names.end();
}

Error invalid(std::string detail) { return Error{Errc::kInvalidPayload, std::move(detail)}; }

// A JSON string that is a whole decimal integer of 64 bits ("" and "+1" are not).
bool parse_decimal(const Value& s, int64_t& out) {
  const char* b = s.GetString();
  const char* e = b + s.GetStringLength();
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e && b != e;
}

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
      if (!parse_decimal(f, out)) return wrong(name, kWhat);
    } else {
      return wrong(name, kWhat);
    }
    if (out <= 0) return wrong(name, kWhat);
    return out;
  }

  // A count: a JSON integer or a decimal string of one, at least 1; larger than any cap is
  // clamped here and capped by the caller.
  Result<int> count(const char* name) { return integer(name, 1, "an integer of at least 1"); }

  // An optional id: absent is none; present, the rule of id() (null refused too).
  Result<std::optional<int64_t>> optional_id(const char* name) {
    if (obj_.FindMember(name) == obj_.MemberEnd()) return std::optional<int64_t>();
    auto v = id(name);
    if (!v.ok()) return v.error();
    return std::optional<int64_t>(v.value());
  }

  // An optional position in a list: absent is 0; present, a JSON integer or a decimal string
  // of one, at least 0 (null refused). Larger than any list is clamped here.
  Result<int> optional_offset(const char* name) {
    if (obj_.FindMember(name) == obj_.MemberEnd()) return 0;
    return integer(name, 0, "an integer of at least 0");
  }

  // true or false, and nothing else (not 0, 1 or "true").
  Result<bool> boolean(const char* name) {
    auto v = present(name, "true or false");
    if (!v.ok()) return v.error();
    if (!v.value()->IsBool()) return wrong(name, "true or false");
    return v.value()->GetBool();
  }

  // One of a few strings: the request's `type`. `what` lists them for the reason.
  Result<std::string> choice(const char* name, std::initializer_list<std::string_view> allowed,
                             std::string_view what) {
    return choice<std::initializer_list<std::string_view>>(name, allowed, what);
  }
  template <typename Strings>
  Result<std::string> choice(const char* name, const Strings& allowed, std::string_view what) {
    auto v = present(name, what);
    if (!v.ok()) return v.error();
    if (v.value()->IsString()) {
      std::string s = str(*v.value());
      if (std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
    }
    return wrong(name, what);
  }

 private:
  // A JSON integer or a decimal string of one, at least `min`, clamped to 2^30.
  Result<int> integer(const char* name, int64_t min, const char* what) {
    auto v = present(name, what);
    if (!v.ok()) return v.error();
    const Value& f = *v.value();
    int64_t n = 0;
    if (f.IsInt64()) {
      n = f.GetInt64();
    } else if (!f.IsString() || !parse_decimal(f, n)) {
      return wrong(name, what);
    }
    if (n < min) return wrong(name, what);
    return static_cast<int>(std::min<int64_t>(n, 1 << 30));
  }
  Result<const Value*> present(const char* name, std::string_view what) {
    auto it = obj_.FindMember(name);
    if (it == obj_.MemberEnd())
      return invalid(context_ + " needs '" + name + "' (" + std::string(what) + ").");
    if (it->value.IsNull())
      return invalid(context_ + " '" + name + "' is null; it must be " + std::string(what) + ".");
    return &it->value;
  }
  Error wrong(const char* name, std::string_view what) {
    return invalid(context_ + " '" + name + "' must be " + std::string(what) + ".");
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

// A client's optional id (v2's request id, a send's nonce): absent is none; anything but a
// string of 1 to kMaxRequestIdLength printable ASCII characters is refused with `rule`, so
// that what is given back is always a short plain string that any client can compare.
Result<std::string> read_client_id(const Value& obj, const char* name, const char* rule) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd()) return std::string();
  if (!it->value.IsString()) return invalid(rule);
  std::string id = str(it->value);
  if (id.empty() || id.size() > kMaxRequestIdLength) return invalid(rule);
  for (unsigned char c : id)
    if (c < 0x20 || c > 0x7e) return invalid(rule);
  return id;
}

Result<std::string> read_request_id(const Value& frame) {
  return read_client_id(frame, "request_id",
                        "'request_id' must be a string of 1 to 64 printable ASCII characters.");
}

// auth's `since` (v2): absent is none; present, an object of at most kMaxCatchUpChats members,
// each a chat id (a positive decimal id) to a position (a JSON integer or a decimal string of
// one, at least 0). Anything else refuses the auth, null and {} aside: {} is no chat.
Result<std::optional<std::vector<domain::ChatPosition>>> read_since(const Value& payload) {
  using Out = std::optional<std::vector<domain::ChatPosition>>;
  auto it = payload.FindMember("since");
  if (it == payload.MemberEnd()) return Out();
  static const std::string kRule =
      "auth 'since' must be an object of at most " + std::to_string(kMaxCatchUpChats) +
      " chat ids, each to the position last seen there (an integer of at least 0).";
  const Value& since = it->value;
  if (!since.IsObject() || since.MemberCount() > kMaxCatchUpChats) return invalid(kRule);
  std::vector<domain::ChatPosition> out;
  out.reserve(since.MemberCount());
  for (auto m = since.MemberBegin(); m != since.MemberEnd(); ++m) {
    int64_t chat = 0, seq = 0;
    if (!parse_decimal(m->name, chat) || chat <= 0) return invalid(kRule);
    if (m->value.IsInt64()) {
      seq = m->value.GetInt64();
    } else if (!m->value.IsString() || !parse_decimal(m->value, seq)) {
      return invalid(kRule);
    }
    if (seq < 0) return invalid(kRule);
    out.push_back({chat, seq});
  }
  // One chat under two spellings ("108" and "0108") is a repeated key too.
  std::vector<int64_t> ids;
  ids.reserve(out.size());
  for (const auto& p : out) ids.push_back(p.wire_chat_id);
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end())
    return Error{Errc::kMalformedFrame, "the frame repeats a key."};
  return Out(std::move(out));
}

// `a, b or c`: the kinds a frame's type accepts, for the reason that refuses another.
std::string one_of(const std::vector<std::string_view>& kinds) {
  std::string out;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (i > 0) out += i + 1 == kinds.size() ? " or " : ", ";
    out += kinds[i];
  }
  return out;
}

Result<Request> decode_body(const FrameParts& frame, const std::string& type, Version version) {
  auto accepts = [&](const RequestType& t) { return t.name == type && t.versions.allows(version); };
  auto types = request_types();
  auto first = std::find_if(types.begin(), types.end(), accepts);
  if (first == types.end()) {
    if (type.size() > 64 || !is_valid_utf8(type)) return Error{Errc::kUnknownType, "unknown type."};
    return Error{Errc::kUnknownType, "unknown type '" + type + "'."};
  }
  if (first->kind.empty()) return first->decode(frame);
  // Several types share this name: the payload's own "type" picks one.
  if (Status s = payload_object(frame.payload, type.c_str()); !s.ok()) return s.error();
  std::vector<std::string_view> kinds;
  for (auto t = first; t != types.end(); ++t)
    if (accepts(*t)) kinds.push_back(t->kind);
  auto kind = Fields(*frame.payload, type).choice("type", kinds, one_of(kinds));
  if (!kind.ok()) return kind.error();
  auto chosen = std::find_if(first, types.end(), [&](const RequestType& t) {
    return accepts(t) && t.kind == kind.value();
  });
  return chosen->decode(frame);
}

}  // namespace

Result<HeartbeatRequest> decode_heartbeat(const FrameParts& frame) {
  // RapidJSON 1.1.0 decodes a lone low-surrogate escape ("\udc00") into bytes that are
  // not UTF-8; echoed, they would make an invalid text frame.
  std::string echo = verbatim_payload(frame.text);
  if (!is_valid_utf8(echo))
    return Error{Errc::kMalformedFrame, "the frame has an invalid \\u escape."};
  return HeartbeatRequest{std::move(echo)};
}

Result<AuthRequest> decode_auth(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "auth"); !s.ok()) return s.error();
  // "" is a string: a token that is not valid (kInvalidToken), answered by the session.
  auto token = Fields(*frame.payload, "auth").string("auth");
  if (!token.ok()) return token.error();
  AuthRequest out{std::move(token.value()), std::nullopt};
  // v2's catch-up positions; v1 never reads them (the app's auth is answered as before).
  if (frame.version == Version::kV2) {
    auto since = read_since(*frame.payload);
    if (!since.ok()) return since.error();
    out.since = std::move(since.value());
  }
  return out;
}

Result<ChatRequest> decode_chat(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "chat"); !s.ok()) return s.error();
  const Value& payload = *frame.payload;
  auto kind = Fields(payload, "chat").choice("type", {"send", "edit"}, "send or edit");
  if (!kind.ok()) return kind.error();
  bool edit = kind.value() == "edit";
  Fields f(payload, "chat " + kind.value());
  auto chat_id = f.id("chat_id");
  if (!chat_id.ok()) return chat_id.error();
  ChatRequest r{
      edit ? domain::ChatAction::kEdit : domain::ChatAction::kSend, chat_id.value(), 0, {}, {}};
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
  // v2's nonce: a send's own id, kept with the message so that a retry answers it. v1 never
  // reads it (the app's frames are answered as before whatever they hold).
  if (!edit && frame.version == Version::kV2) {
    auto nonce =
        read_client_id(payload, "nonce",
                       "chat send 'nonce' must be a string of 1 to 64 printable ASCII characters.");
    if (!nonce.ok()) return nonce.error();
    r.nonce = std::move(nonce.value());
  }
  return r;
}

Result<FriendRequest> decode_friend(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "mutual_users"); !s.ok()) return s.error();
  const Value& payload = *frame.payload;
  auto kind = Fields(payload, "mutual_users")
                  .choice("type", {"request", "response", "remove", "delete"},
                          "request, response, remove or delete");
  if (!kind.ok()) return kind.error();
  const std::string& k = kind.value();
  auto name = Fields(payload, "mutual_users " + k).string("name");
  if (!name.ok()) return name.error();
  domain::FriendAction a = k == "request"    ? domain::FriendAction::kRequest
                           : k == "response" ? domain::FriendAction::kResponse
                           : k == "remove"   ? domain::FriendAction::kRemove
                                             : domain::FriendAction::kDelete;
  return FriendRequest{a, std::move(name.value())};
}

Result<GuildRequest> decode_guild(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "guild"); !s.ok()) return s.error();
  const Value& payload = *frame.payload;
  auto kind = Fields(payload, "guild")
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
  Fields f(payload, "guild " + k);
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
  return r;
}

Result<LoadChatRequest> decode_load_chat(const FrameParts& frame) {
  Fields f(*frame.payload, "load chat");
  auto chat_id = f.id("load_id");
  if (!chat_id.ok()) return chat_id.error();
  // "" is a string: refused as a cursor that cannot be decoded (kInvalidCursor) later.
  auto datetime = f.string("datetime");
  if (!datetime.ok()) return datetime.error();
  auto count = f.count("count");
  if (!count.ok()) return count.error();
  return LoadChatRequest{chat_id.value(), std::move(datetime.value()), count.value()};
}

Result<LoadFriendsRequest> decode_load_friends(const FrameParts&) { return LoadFriendsRequest{}; }

Result<LoadGuildsRequest> decode_load_guilds(const FrameParts&) { return LoadGuildsRequest{}; }

Result<LoadGuildMembersRequest> decode_load_guild_members(const FrameParts& frame) {
  auto id = Fields(*frame.payload, "load guild_members").id("guild_id");
  if (!id.ok()) return id.error();
  return LoadGuildMembersRequest{id.value()};
}

Result<BlockRequest> decode_block(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "block"); !s.ok()) return s.error();
  const Value& payload = *frame.payload;
  auto kind = Fields(payload, "block").choice("type", {"block", "unblock"}, "block or unblock");
  if (!kind.ok()) return kind.error();
  auto name = Fields(payload, "block " + kind.value()).string("name");
  if (!name.ok()) return name.error();
  return BlockRequest{kind.value() == "block", std::move(name.value())};
}

Result<LoadBlockedRequest> decode_load_blocked(const FrameParts&) { return LoadBlockedRequest{}; }

Result<TypingRequest> decode_typing(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "typing"); !s.ok()) return s.error();
  auto chat_id = Fields(*frame.payload, "typing").id("chat_id");
  if (!chat_id.ok()) return chat_id.error();
  return TypingRequest{chat_id.value()};
}

Result<ReadRequest> decode_read(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "read"); !s.ok()) return s.error();
  Fields f(*frame.payload, "read");
  auto chat_id = f.id("chat_id");
  if (!chat_id.ok()) return chat_id.error();
  auto message_id = f.id("message_id");
  if (!message_id.ok()) return message_id.error();
  return ReadRequest{chat_id.value(), message_id.value()};
}

Result<LoadChatsRequest> decode_load_chats(const FrameParts&) { return LoadChatsRequest{}; }

Result<SearchRequest> decode_search(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "search"); !s.ok()) return s.error();
  Fields f(*frame.payload, "search");
  auto query = f.string("query");
  if (!query.ok()) return query.error();
  auto chat_id = f.optional_id("chat_id");
  if (!chat_id.ok()) return chat_id.error();
  auto offset = f.optional_offset("offset");
  if (!offset.ok()) return offset.error();
  return SearchRequest{std::move(query.value()), chat_id.value(), offset.value()};
}

Result<PresenceRequest> decode_presence(const FrameParts& frame) {
  if (Status s = payload_object(frame.payload, "presence"); !s.ok()) return s.error();
  auto visible = Fields(*frame.payload, "presence").boolean("visible");
  if (!visible.ok()) return visible.error();
  return PresenceRequest{visible.value()};
}

Result<Request> decode_request(std::string_view frame, Version version) {
  return decode_frame(frame, version).request;
}

namespace {

// Where a frame's parsed values and the parser's stack live while it is decoded: buffers of
// the decoding thread, reused for every frame. A default rapidjson::Document allocates a
// 64 KiB chunk and a stack for each frame and frees both after it; frames are small, so most
// never leave these buffers (a larger one takes heap chunks, freed with its allocator).
struct FrameArena {
  alignas(16) char values[16 * 1024];
  alignas(16) char stack[4 * 1024];
};
thread_local FrameArena frame_arena;
// The parse stack's first size. It must fit in `stack` beside the allocator's own header (the
// first 24 bytes of the buffer): a first request larger than what is left takes a 64 KiB heap
// chunk instead. It grows in place from there.
constexpr size_t kParseStackStart = 1024;

using FrameDocument =
    rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>,
                               rapidjson::MemoryPoolAllocator<>>;

}  // namespace

DecodedFrame decode_frame(std::string_view frame, Version version) {
  if (!depth_within(frame, kMaxJsonDepth))
    return {{}, Error{Errc::kMalformedFrame, "JSON nesting is too deep."}};
  rapidjson::MemoryPoolAllocator<> values(frame_arena.values, sizeof frame_arena.values);
  rapidjson::MemoryPoolAllocator<> stack(frame_arena.stack, sizeof frame_arena.stack);
  FrameDocument doc(&values, kParseStackStart, &stack);
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
  out.request = decode_body(FrameParts{frame, payload, version}, type, version);
  return out;
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
