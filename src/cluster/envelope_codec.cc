#include "cluster/envelope_codec.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <type_traits>

namespace rwd::cluster {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using Value = rapidjson::Value;

// ---- encoding ----

void put_string(Writer& w, const char* key, std::string_view s) {
  w.Key(key);
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void put_i64(Writer& w, const char* key, int64_t v) {
  w.Key(key);
  w.Int64(v);
}

void put_optional_string(Writer& w, const char* key, const std::optional<std::string>& s) {
  if (s) put_string(w, key, *s);
}

void put_optional_i64(Writer& w, const char* key, const std::optional<int64_t>& v) {
  if (v) put_i64(w, key, *v);
}

void put_ids(Writer& w, const char* key, const std::vector<int64_t>& ids) {
  w.Key(key);
  w.StartArray();
  for (int64_t id : ids) w.Int64(id);
  w.EndArray();
}

void put_user(Writer& w, const char* key, const domain::UserView& u) {
  w.Key(key);
  w.StartObject();
  put_i64(w, "id", u.id);
  put_string(w, "name", u.name);
  put_optional_string(w, "profile", u.profile);
  w.EndObject();
}

void put_request_origin(Writer& w, const domain::RequestOrigin& o) {
  w.Key("request_origin");
  w.StartObject();
  w.Key("connection");
  w.Uint64(o.connection);
  put_string(w, "request_id", o.request_id);
  // Only when there is one: an envelope of a node that knows no nonces reads the same.
  if (!o.nonce.empty()) put_string(w, "nonce", o.nonce);
  w.EndObject();
}

const char* chat_action_name(domain::ChatAction a) {
  return a == domain::ChatAction::kEdit ? "edit" : "send";
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

struct EventWriter {
  Writer& w;
  const char* operator()(const domain::ChatEvent& e) {
    put_string(w, "action", chat_action_name(e.action));
    w.Key("message");
    w.StartObject();
    put_i64(w, "id", e.message.id);
    put_i64(w, "chat", e.message.wire_chat_id);
    put_i64(w, "author", e.message.author_id);
    put_string(w, "content", e.message.content);
    put_i64(w, "created_us", e.message.created_us);
    put_optional_i64(w, "edited_us", e.message.edited_us);
    put_i64(w, "seq", e.message.seq);
    w.EndObject();
    put_i64(w, "stored_chat", e.chat_id);
    put_ids(w, "recipients", e.recipients);
    w.Key("guild");
    w.Bool(e.guild);
    put_request_origin(w, e.origin);
    return "chat";
  }
  const char* operator()(const domain::FriendEvent& e) {
    put_string(w, "action", friend_action_name(e.action));
    put_user(w, "target", e.target);
    put_user(w, "actor", e.actor);
    w.Key("connection");
    w.Uint64(e.origin);
    return "friend";
  }
  const char* operator()(const domain::GuildEvent& e) {
    put_string(w, "action", guild_action_name(e.action));
    w.Key("guild");
    w.StartObject();
    put_i64(w, "id", e.guild.id);
    put_string(w, "name", e.guild.name);
    put_i64(w, "owner", e.guild.owner_id);
    w.Key("member_count");
    w.Uint64(e.guild.member_count);
    w.EndObject();
    put_user(w, "user", e.user);
    put_user(w, "actor", e.actor);
    if (e.new_owner) put_user(w, "new_owner", *e.new_owner);
    put_ids(w, "recipients", e.recipients);
    put_request_origin(w, e.origin);
    return "guild";
  }
  const char* operator()(const domain::TokenRevokedEvent& e) {
    put_i64(w, "user", e.user_id);
    put_string(w, "token_hash", e.token_hash);
    if (e.reason == domain::RevokeReason::kAccountDisabled)
      put_string(w, "reason", "account_disabled");
    if (e.reason == domain::RevokeReason::kAccountDeleted)
      put_string(w, "reason", "account_deleted");
    return "token_revoked";
  }
  const char* operator()(const domain::TypingEvent& e) {
    put_i64(w, "chat", e.wire_chat_id);
    put_i64(w, "user", e.user_id);
    put_ids(w, "recipients", e.recipients);
    w.Key("guild");
    w.Bool(e.guild);
    return "typing";
  }
  const char* operator()(const domain::PresenceEvent& e) {
    put_i64(w, "user", e.user_id);
    put_ids(w, "recipients", e.recipients);
    return "presence";
  }
  const char* operator()(const domain::ReadEvent& e) {
    put_i64(w, "user", e.user_id);
    put_i64(w, "chat", e.wire_chat_id);
    put_i64(w, "message", e.message_id);
    return "read";
  }
};

struct ChangeWriter {
  Writer& w;
  const char* operator()(const domain::change::UserAdded& c) {
    put_i64(w, "id", c.user.id);
    put_string(w, "name", c.user.name);
    put_string(w, "email", c.user.email);
    put_string(w, "password_hash", c.user.password_hash);
    put_optional_string(w, "profile", c.user.profile);
    put_i64(w, "created_us", c.user.created_us);
    // Only when set: a node of an earlier version reads the frame as before.
    if (c.user.deleted) {
      w.Key("deleted");
      w.Bool(true);
    }
    return "dir.user_added";
  }
  const char* operator()(const domain::change::TokenAdded& c) {
    put_string(w, "token_hash", c.token.token_hash);
    put_i64(w, "user", c.token.user_id);
    put_i64(w, "created_us", c.token.created_us);
    put_i64(w, "expires_us", c.token.expires_us);
    return "dir.token_added";
  }
  const char* operator()(const domain::change::TokenRemoved& c) {
    put_string(w, "token_hash", c.token_hash);
    return "dir.token_removed";
  }
  const char* operator()(const domain::change::FriendRequestAdded& c) {
    put_i64(w, "from", c.from_id);
    put_i64(w, "to", c.to_id);
    return "dir.friend_request_added";
  }
  const char* operator()(const domain::change::FriendRequestRemoved& c) {
    put_i64(w, "from", c.from_id);
    put_i64(w, "to", c.to_id);
    return "dir.friend_request_removed";
  }
  const char* operator()(const domain::change::FriendshipAdded& c) {
    put_i64(w, "a", c.a);
    put_i64(w, "b", c.b);
    put_i64(w, "chat", c.chat_id);
    return "dir.friendship_added";
  }
  const char* operator()(const domain::change::FriendshipRemoved& c) {
    put_i64(w, "a", c.a);
    put_i64(w, "b", c.b);
    return "dir.friendship_removed";
  }
  const char* operator()(const domain::change::GuildPut& c) {
    put_i64(w, "id", c.state.guild.id);
    put_string(w, "name", c.state.guild.name);
    put_i64(w, "owner", c.state.guild.owner_id);
    put_i64(w, "created_us", c.state.guild.created_us);
    w.Key("members");
    w.StartArray();
    for (const auto& m : c.state.members) {
      w.StartObject();
      put_i64(w, "user", m.user_id);
      put_i64(w, "joined_us", m.joined_us);
      w.EndObject();
    }
    w.EndArray();
    return "dir.guild_put";
  }
  const char* operator()(const domain::change::GuildErased& c) {
    put_i64(w, "id", c.guild_id);
    return "dir.guild_erased";
  }
  const char* operator()(const domain::change::PresenceHidden& c) {
    put_i64(w, "user", c.user_id);
    w.Key("hidden");
    w.Bool(c.hidden);
    return "dir.presence_hidden";
  }
};

// The kind comes after the fields so that one visit writes both; the decoder reads by key,
// not by position.
template <typename Visitor, typename Variant>
std::string encode(std::string_view origin, const Variant& body, uint64_t position = 0) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  put_string(w, "origin", origin);
  if (position != 0) {
    w.Key("n");
    w.Uint64(position);
  }
  w.Key("fields");
  w.StartObject();
  const char* kind = std::visit(Visitor{w}, body);
  w.EndObject();
  put_string(w, "kind", kind);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

// ---- decoding ----

// Reads the fields of one object; the first missing or mistyped one fails the whole
// message (and is named in the detail).
class Fields {
 public:
  explicit Fields(const Value& object) : object_(object) {}

  bool ok() const { return bad_.empty(); }
  bool has(const char* key) const { return object_.HasMember(key); }
  const std::string& bad() const { return bad_; }

  int64_t i64(const char* key) {
    const Value* v = find(key);
    if (!v) return 0;
    if (!v->IsInt64()) return fail(key), 0;
    return v->GetInt64();
  }
  uint64_t u64(const char* key) {
    const Value* v = find(key);
    if (!v) return 0;
    if (!v->IsUint64()) return fail(key), 0;
    return v->GetUint64();
  }
  bool boolean(const char* key) {
    const Value* v = find(key);
    if (!v) return false;
    if (!v->IsBool()) return fail(key), false;
    return v->GetBool();
  }
  std::string str(const char* key) {
    const Value* v = find(key);
    if (!v) return {};
    if (!v->IsString()) return fail(key), std::string();
    return std::string(v->GetString(), v->GetStringLength());
  }
  std::optional<std::string> optional_str(const char* key) {
    if (!object_.HasMember(key)) return std::nullopt;
    return str(key);
  }
  std::optional<int64_t> optional_i64(const char* key) {
    if (!object_.HasMember(key)) return std::nullopt;
    return i64(key);
  }
  std::vector<int64_t> ids(const char* key) {
    std::vector<int64_t> out;
    const Value* v = find(key);
    if (!v) return out;
    if (!v->IsArray()) return fail(key), out;
    out.reserve(v->Size());
    for (const auto& e : v->GetArray()) {
      if (!e.IsInt64()) return fail(key), std::vector<int64_t>{};
      out.push_back(e.GetInt64());
    }
    return out;
  }
  // A nested object, or null (after failing) when it is missing or not an object.
  const Value* object(const char* key) {
    const Value* v = find(key);
    if (!v) return nullptr;
    if (!v->IsObject()) return fail(key), nullptr;
    return v;
  }
  const Value* array(const char* key) {
    const Value* v = find(key);
    if (!v) return nullptr;
    if (!v->IsArray()) return fail(key), nullptr;
    return v;
  }
  domain::UserView user(const char* key) {
    domain::UserView u;
    const Value* v = object(key);
    if (!v) return u;
    Fields f(*v);
    u.id = f.i64("id");
    u.name = f.str("name");
    u.profile = f.optional_str("profile");
    absorb(f, key);
    return u;
  }
  domain::RequestOrigin request_origin() {
    domain::RequestOrigin o;
    const Value* v = object("request_origin");
    if (!v) return o;
    Fields f(*v);
    o.connection = f.u64("connection");
    o.request_id = f.str("request_id");
    o.nonce = f.optional_str("nonce").value_or("");
    absorb(f, "request_origin");
    return o;
  }
  // Takes a nested reader's failure as this one's.
  void absorb(const Fields& nested, const char* key) {
    if (!nested.ok() && ok()) bad_ = std::string(key) + "." + nested.bad();
  }
  void fail(const char* key) {
    if (ok()) bad_ = key;
  }

 private:
  const Value* find(const char* key) {
    auto it = object_.FindMember(key);
    if (it == object_.MemberEnd()) {
      fail(key);
      return nullptr;
    }
    return &it->value;
  }

  const Value& object_;
  std::string bad_;
};

template <typename Enum, size_t N>
Enum parse_action(Fields& f, const char* (&names)[N], const Enum (&values)[N]) {
  std::string name = f.str("action");
  if (!f.ok()) return values[0];
  for (size_t i = 0; i < N; ++i)
    if (name == names[i]) return values[i];
  f.fail("action");
  return values[0];
}

domain::ChatEvent decode_chat(Fields& f) {
  domain::ChatEvent e;
  const char* names[] = {"send", "edit"};
  const domain::ChatAction values[] = {domain::ChatAction::kSend, domain::ChatAction::kEdit};
  e.action = parse_action(f, names, values);
  if (const Value* m = f.object("message")) {
    Fields mf(*m);
    e.message.id = mf.i64("id");
    e.message.wire_chat_id = mf.i64("chat");
    e.message.author_id = mf.i64("author");
    e.message.content = mf.str("content");
    e.message.created_us = mf.i64("created_us");
    e.message.edited_us = mf.optional_i64("edited_us");
    // Absent from a node that predates the chat sequence: delivered unsequenced (0).
    e.message.seq = mf.optional_i64("seq").value_or(0);
    f.absorb(mf, "message");
  }
  e.chat_id = f.optional_i64("stored_chat").value_or(0);
  e.recipients = f.ids("recipients");
  e.guild = f.boolean("guild");
  e.origin = f.request_origin();
  return e;
}

domain::FriendEvent decode_friend(Fields& f) {
  domain::FriendEvent e;
  const char* names[] = {"request", "response", "remove", "delete"};
  const domain::FriendAction values[] = {
      domain::FriendAction::kRequest, domain::FriendAction::kResponse,
      domain::FriendAction::kRemove, domain::FriendAction::kDelete};
  e.action = parse_action(f, names, values);
  e.target = f.user("target");
  e.actor = f.user("actor");
  e.origin = f.u64("connection");
  return e;
}

domain::GuildEvent decode_guild(Fields& f) {
  domain::GuildEvent e;
  const char* names[] = {"created", "renamed", "deleted", "joined", "left"};
  const domain::GuildAction values[] = {
      domain::GuildAction::kCreated, domain::GuildAction::kRenamed, domain::GuildAction::kDeleted,
      domain::GuildAction::kJoined, domain::GuildAction::kLeft};
  e.action = parse_action(f, names, values);
  if (const Value* g = f.object("guild")) {
    Fields gf(*g);
    e.guild.id = gf.i64("id");
    e.guild.name = gf.str("name");
    e.guild.owner_id = gf.i64("owner");
    e.guild.member_count = static_cast<size_t>(gf.u64("member_count"));
    f.absorb(gf, "guild");
  }
  e.user = f.user("user");
  e.actor = f.user("actor");
  if (f.has("new_owner")) e.new_owner = f.user("new_owner");
  e.recipients = f.ids("recipients");
  e.origin = f.request_origin();
  return e;
}

domain::DirectoryChange decode_guild_put(Fields& f) {
  domain::change::GuildPut c;
  c.state.guild.id = f.i64("id");
  c.state.guild.name = f.str("name");
  c.state.guild.owner_id = f.i64("owner");
  c.state.guild.created_us = f.i64("created_us");
  if (const Value* members = f.array("members")) {
    c.state.members.reserve(members->Size());
    for (const auto& m : members->GetArray()) {
      if (!m.IsObject()) {
        f.fail("members");
        break;
      }
      Fields mf(m);
      store::GuildMemberRecord r{c.state.guild.id, mf.i64("user"), mf.i64("joined_us")};
      f.absorb(mf, "members");
      if (!f.ok()) break;
      c.state.members.push_back(r);
    }
  }
  return c;
}

// The body of `kind` from its fields; nullopt when the kind is unknown.
std::optional<Body> decode_body(std::string_view kind, Fields& f) {
  namespace change = domain::change;
  if (kind == "chat") return Body{domain::Event{decode_chat(f)}};
  if (kind == "friend") return Body{domain::Event{decode_friend(f)}};
  if (kind == "guild") return Body{domain::Event{decode_guild(f)}};
  if (kind == "typing") {
    domain::TypingEvent e;
    e.wire_chat_id = f.i64("chat");
    e.user_id = f.i64("user");
    e.recipients = f.ids("recipients");
    e.guild = f.boolean("guild");
    return Body{domain::Event{std::move(e)}};
  }
  if (kind == "presence") {
    domain::PresenceEvent e;
    e.user_id = f.i64("user");
    e.recipients = f.ids("recipients");
    return Body{domain::Event{std::move(e)}};
  }
  if (kind == "read") {
    domain::ReadEvent e;
    e.user_id = f.i64("user");
    e.wire_chat_id = f.i64("chat");
    e.message_id = f.i64("message");
    return Body{domain::Event{std::move(e)}};
  }
  if (kind == "token_revoked") {
    domain::TokenRevokedEvent e{f.i64("user"), f.str("token_hash")};
    auto reason = f.optional_str("reason");
    if (reason == "account_disabled") e.reason = domain::RevokeReason::kAccountDisabled;
    if (reason == "account_deleted") e.reason = domain::RevokeReason::kAccountDeleted;
    return Body{domain::Event{std::move(e)}};
  }
  if (kind == "dir.user_added") {
    store::UserRecord u;
    u.id = f.i64("id");
    u.name = f.str("name");
    u.email = f.str("email");
    u.password_hash = f.str("password_hash");
    u.profile = f.optional_str("profile");
    u.created_us = f.i64("created_us");
    u.deleted = f.has("deleted") && f.boolean("deleted");
    return Body{domain::DirectoryChange{change::UserAdded{std::move(u)}}};
  }
  if (kind == "dir.token_added") {
    store::TokenRecord t;
    t.token_hash = f.str("token_hash");
    t.user_id = f.i64("user");
    t.created_us = f.i64("created_us");
    t.expires_us = f.i64("expires_us");
    return Body{domain::DirectoryChange{change::TokenAdded{std::move(t)}}};
  }
  if (kind == "dir.token_removed")
    return Body{domain::DirectoryChange{change::TokenRemoved{f.str("token_hash")}}};
  if (kind == "dir.friend_request_added")
    return Body{domain::DirectoryChange{change::FriendRequestAdded{f.i64("from"), f.i64("to")}}};
  if (kind == "dir.friend_request_removed")
    return Body{domain::DirectoryChange{change::FriendRequestRemoved{f.i64("from"), f.i64("to")}}};
  if (kind == "dir.friendship_added")
    return Body{
        domain::DirectoryChange{change::FriendshipAdded{f.i64("a"), f.i64("b"), f.i64("chat")}}};
  if (kind == "dir.friendship_removed")
    return Body{domain::DirectoryChange{change::FriendshipRemoved{f.i64("a"), f.i64("b")}}};
  if (kind == "dir.guild_put") return Body{decode_guild_put(f)};
  if (kind == "dir.guild_erased")
    return Body{domain::DirectoryChange{change::GuildErased{f.i64("id")}}};
  if (kind == "dir.presence_hidden")
    return Body{
        domain::DirectoryChange{change::PresenceHidden{f.i64("user"), f.boolean("hidden")}}};
  if (kind == "resync") return Body{Resync{}};
  return std::nullopt;
}

DecodeResult failed(DecodeFailure failure, std::string detail) {
  DecodeResult r;
  r.failure = failure;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

std::string encode_envelope(std::string_view origin, const domain::Event& event) {
  return encode<EventWriter>(origin, event);
}

std::string encode_envelope(std::string_view origin, const domain::DirectoryChange& change,
                            uint64_t position) {
  return encode<ChangeWriter>(origin, change, position);
}

std::string encode_resync(std::string_view origin) {
  struct ResyncWriter {
    Writer& w;
    const char* operator()(const Resync&) { return "resync"; }
  };
  return encode<ResyncWriter>(origin, std::variant<Resync>{});
}

const char* decode_failure_name(DecodeFailure failure) {
  switch (failure) {
    case DecodeFailure::kBadJson:
      return "bad JSON";
    case DecodeFailure::kNotAnEnvelope:
      return "not an envelope";
    case DecodeFailure::kUnknownKind:
      return "unknown kind";
    case DecodeFailure::kBadField:
      return "bad field";
  }
  return "unknown failure";
}

DecodeResult decode_envelope(std::string_view payload) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(payload.data(),
                                                                                    payload.size());
  if (doc.HasParseError())
    return failed(DecodeFailure::kBadJson, "offset " + std::to_string(doc.GetErrorOffset()));
  if (!doc.IsObject()) return failed(DecodeFailure::kNotAnEnvelope, "not an object");
  auto origin = doc.FindMember("origin");
  auto kind = doc.FindMember("kind");
  auto fields = doc.FindMember("fields");
  if (origin == doc.MemberEnd() || !origin->value.IsString() || kind == doc.MemberEnd() ||
      !kind->value.IsString() || fields == doc.MemberEnd() || !fields->value.IsObject())
    return failed(DecodeFailure::kNotAnEnvelope, "origin, kind or fields missing");
  std::string_view kind_name(kind->value.GetString(), kind->value.GetStringLength());
  Fields f(fields->value);
  std::optional<Body> body = decode_body(kind_name, f);
  if (!body) return failed(DecodeFailure::kUnknownKind, std::string(kind_name));
  if (!f.ok()) return failed(DecodeFailure::kBadField, std::string(kind_name) + ": " + f.bad());
  DecodeResult r;
  if (auto n = doc.FindMember("n"); n != doc.MemberEnd()) {
    if (!n->value.IsUint64() || n->value.GetUint64() == 0)
      return failed(DecodeFailure::kBadField, "n");
    r.envelope.position = n->value.GetUint64();
  }
  r.ok = true;
  r.envelope.origin.assign(origin->value.GetString(), origin->value.GetStringLength());
  r.envelope.body = std::move(*body);
  return r;
}

}  // namespace rwd::cluster
