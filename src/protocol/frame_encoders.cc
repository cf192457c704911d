#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "base/time_format.h"
#include "protocol/error_table.h"
#include "protocol/gateway_codec.h"

namespace rwd::protocol {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Every frame the server sends: {"type":...,"payload":...}, then on v2 the request id of the
// request it answers (with_request_id). The id comes last so that a frame encoded once for
// many connections gains it on one of them by an append, with no re-encoding.
template <typename WritePayload>
std::string envelope(const char* type, WritePayload write_payload) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("type");
  w.String(type);
  w.Key("payload");
  write_payload(w);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
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

void write_users(Writer& w, const std::vector<domain::UserView>& users) {
  w.StartArray();
  for (const auto& u : users) write_user(w, u);
  w.EndArray();
}

std::string users_json(const std::vector<domain::UserView>& users) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  write_users(w, users);
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
  write_users(w, g.members);
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
    write_users(w, *members);
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

// The answer to `load guilds`: the envelope is the same whichever form each guild takes.
template <typename Guild, typename WriteGuild>
std::string encode_guild_load(const std::vector<Guild>& guilds, WriteGuild write_one) {
  return envelope("load", [&](Writer& w) {
    w.StartObject();
    w.Key("type");
    w.String("guilds");
    w.Key("guilds");
    w.StartArray();
    for (const auto& g : guilds) write_one(w, g);
    w.EndArray();
    w.EndObject();
  });
}

}  // namespace

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

std::string with_nonce(std::string frame, std::string_view nonce) {
  if (nonce.empty() || !frame.ends_with("}}")) return frame;
  rapidjson::StringBuffer sb;
  Writer w(sb);
  write_string(w, nonce);
  std::string field = R"(,"nonce":)";
  field.append(sb.GetString(), sb.GetSize());
  frame.insert(frame.size() - 2, field);
  return frame;
}

std::string encode_heartbeat(const std::string& payload_json) {
  // Already JSON text (the payload copier's): written as it is.
  return envelope("heartbeat", [&](Writer& w) {
    w.RawValue(payload_json.data(), payload_json.size(), rapidjson::kObjectType);
  });
}

std::string encode_ok() {
  return envelope("ok", [](Writer& w) {
    w.StartObject();
    w.EndObject();
  });
}

std::string encode_error(Errc code, std::string_view reason, int64_t retry_after_ms) {
  const ErrorInfo& info = error_info(code);
  return envelope("error", [&](Writer& w) {
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
  });
}

// with_seq (v2 changes only: live events and a catch-up's replay): "seq", the change's place in
// its chat, after edited_at.
void write_chat_message(Writer& w, domain::ChatAction action, const domain::ChatMessage& m, bool v2,
                        int utc_offset_s, bool with_seq = false) {
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
  if (v2) {
    w.Key("edited_at");
    if (m.edited_us)
      write_string(w, format_created_at(*m.edited_us, utc_offset_s));
    else
      w.Null();
    if (with_seq) {
      w.Key("seq");
      w.Int64(m.seq);
    }
  }
  w.EndObject();
}

void write_chat_summaries(Writer& w, const std::vector<domain::ChatSummary>& chats,
                          int utc_offset_s) {
  w.StartArray();
  for (const auto& c : chats) {
    w.StartObject();
    w.Key("chat_id");
    write_string(w, std::to_string(c.wire_chat_id));
    w.Key("last_read_id");
    if (c.last_read_id != 0)
      write_string(w, std::to_string(c.last_read_id));
    else
      w.Null();
    w.Key("unread_count");
    w.Int(c.unread);
    w.Key("last_message");
    if (c.last_message)
      write_chat_message(w, domain::ChatAction::kSend, *c.last_message, true, utc_offset_s);
    else
      w.Null();
    w.Key("last_seq");
    w.Int64(c.last_seq);
    w.EndObject();
  }
  w.EndArray();
}

std::string encode_auth(Version v, const domain::UserView& self, const domain::FriendState& st,
                        const AuthExtras& extras) {
  return envelope("auth", [&](Writer& w) {
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
      write_users(w, st.incoming);
      w.Key("mutual_users");
      write_users(w, st.friends);
      w.Key("outgoing_requests");
      write_users(w, st.outgoing);
      w.Key("guilds");
      w.StartArray();
      for (const auto& g : extras.guilds) write_guild_summary(w, g);
      w.EndArray();
      w.Key("chats");
      if (extras.chats)
        write_chat_summaries(w, *extras.chats, extras.utc_offset_s);
      else
        w.Null();
      w.Key("online");
      w.StartArray();
      for (int64_t id : extras.online) write_string(w, std::to_string(id));
      w.EndArray();
      w.Key("show_presence");
      w.Bool(extras.show_presence);
    }
    w.EndObject();
  });
}

std::string encode_friend_list(const std::vector<domain::UserView>& friends) {
  return envelope("mutual_users", [&](Writer& w) { write_users(w, friends); });
}

std::string encode_friend_event(domain::FriendAction action, const domain::UserView& user,
                                bool self) {
  return envelope("mutual_users", [&](Writer& w) {
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
  });
}

std::string encode_chat(Version v, domain::ChatAction action, const domain::ChatMessage& m,
                        int utc_offset_s) {
  return envelope("chat", [&](Writer& w) {
    write_chat_message(w, action, m, v == Version::kV2, utc_offset_s);
  });
}

std::string encode_chat_change(domain::ChatAction action, const domain::ChatMessage& m,
                               int utc_offset_s) {
  return envelope("chat", [&](Writer& w) {
    write_chat_message(w, action, m, /*v2=*/true, utc_offset_s, /*with_seq=*/true);
  });
}

std::string encode_catch_up(const std::vector<domain::ChatCatchUp>* chats) {
  return envelope("catch_up", [&](Writer& w) {
    w.StartObject();
    w.Key("chats");
    if (!chats) {
      w.Null();
    } else {
      w.StartArray();
      for (const auto& c : *chats) {
        w.StartObject();
        w.Key("chat_id");
        write_string(w, std::to_string(c.wire_chat_id));
        w.Key("seq");
        w.Int64(c.seq);
        w.Key("reload");
        w.Bool(c.reload);
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
  });
}

std::string encode_guild_event(domain::GuildAction action, const domain::GuildSummary& guild,
                               const domain::UserView& user, const domain::UserView& actor,
                               const std::optional<domain::UserView>& new_owner) {
  return envelope("guild", [&](Writer& w) {
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
  });
}

std::string encode_guild_list(const std::vector<domain::GuildView>& guilds) {
  return encode_guild_load(guilds,
                           [](Writer& w, const domain::GuildView& g) { write_guild(w, g); });
}

std::string encode_guild_summaries(const std::vector<domain::GuildSummary>& guilds) {
  return encode_guild_load(
      guilds, [](Writer& w, const domain::GuildSummary& g) { write_guild_summary(w, g); });
}

std::string encode_guild_members(const domain::GuildView& g) {
  return envelope("load", [&](Writer& w) {
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
    write_users(w, g.members);
    w.EndObject();
  });
}

std::string encode_blocked_users(const std::vector<domain::UserView>& users) {
  return envelope("load", [&](Writer& w) {
    w.StartObject();
    w.Key("type");
    w.String("blocked_users");
    w.Key("users");
    write_users(w, users);
    w.EndObject();
  });
}

std::string encode_typing(int64_t wire_chat_id, int64_t user_id, int expires_in_s) {
  return envelope("typing", [&](Writer& w) {
    w.StartObject();
    w.Key("chat_id");
    write_string(w, std::to_string(wire_chat_id));
    w.Key("user_id");
    write_string(w, std::to_string(user_id));
    w.Key("expires_in");
    w.Int(expires_in_s);
    w.EndObject();
  });
}

std::string encode_presence(int64_t user_id, bool online) {
  return envelope("presence", [&](Writer& w) {
    w.StartObject();
    w.Key("user_id");
    write_string(w, std::to_string(user_id));
    w.Key("online");
    w.Bool(online);
    w.EndObject();
  });
}

std::string encode_read(int64_t wire_chat_id, int64_t message_id) {
  return envelope("read", [&](Writer& w) {
    w.StartObject();
    w.Key("chat_id");
    write_string(w, std::to_string(wire_chat_id));
    w.Key("message_id");
    write_string(w, std::to_string(message_id));
    w.EndObject();
  });
}

std::string encode_chat_summaries(const std::vector<domain::ChatSummary>& chats, int utc_offset_s) {
  return envelope("load", [&](Writer& w) {
    w.StartObject();
    w.Key("type");
    w.String("chats");
    w.Key("chats");
    write_chat_summaries(w, chats, utc_offset_s);
    w.EndObject();
  });
}

std::string encode_search_results(const domain::SearchPage& page, int offset, int utc_offset_s) {
  return envelope("search", [&](Writer& w) {
    w.StartObject();
    w.Key("offset");
    w.Int(offset);
    w.Key("more");
    w.Bool(page.more);
    w.Key("results");
    w.StartArray();
    for (const auto& m : page.results)
      write_chat_message(w, domain::ChatAction::kSend, m, true, utc_offset_s);
    w.EndArray();
    w.EndObject();
  });
}

std::string encode_load_complete(int64_t chat_id, size_t count, bool more) {
  return envelope("load", [&](Writer& w) {
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
  });
}

}  // namespace rwd::protocol
