#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rwd::domain {

// The name every user is shown under once its account was deleted (its id stays).
inline constexpr std::string_view kDeletedUserName = "Deleted user";

// What other users may see of a user.
struct UserView {
  int64_t id = 0;
  std::string name;
  std::optional<std::string> profile;
};

// A message as clients see it. chat_id is the chat's id on the wire: for a direct-message
// chat the XOR of its two members' ids, for a guild the guild id.
struct ChatMessage {
  int64_t id = 0;
  int64_t wire_chat_id = 0;
  int64_t author_id = 0;
  std::string content;  // empty for a deletion
  int64_t created_us = 0;
  std::optional<int64_t> edited_us;  // the last edit (or the deletion); none if never edited
  // The stored chat's sequence number of the change this is as of (store.h, "Chat
  // sequence"): a send's or an edit's; in history, the send's. v2 clients see it on changes
  // (live events and a catch-up's replay) only: a history frame's seq is no position.
  int64_t seq = 0;
};

// A chat as one of its members sees it in their list: where they stopped reading, how many
// messages of the others came after (at most kUnreadCap), and the newest message.
struct ChatSummary {
  int64_t wire_chat_id = 0;
  int64_t last_read_id = 0;  // 0: nothing read yet
  int unread = 0;
  std::optional<ChatMessage> last_message;  // none: the chat has no live message
  // The chat's position: the seq of its latest change, read with the rest. A client holding
  // nothing of the chat yet starts counting its changes from here.
  int64_t last_seq = 0;
};

// A client's position in one of its chats: the seq of the latest change it has seen there.
struct ChatPosition {
  int64_t wire_chat_id = 0;
  int64_t seq = 0;
};

// A page of search results, best first, and whether more follow it.
struct SearchPage {
  std::vector<ChatMessage> results;
  bool more = false;
};

// Where a request came from: the connection that sent it (unique within one process; 0:
// none) and the id its client gave it (v2; empty: none). The event a chat request causes
// reaches that connection with the id, so that the client can tell which request it answers.
// A send's nonce (v2; empty: none) comes back on that connection's event too.
struct RequestOrigin {
  uint64_t connection = 0;
  std::string request_id;
  std::string nonce;
};

// The languages of the texts a person reads from the server (mail, pages).
enum class Language { kEnglish, kKorean };

enum class ChatAction { kSend, kEdit };

// One committed change of a chat, as a chat event tells it: a send, or an edit (a deletion is
// an edit with empty content). message.seq is the change's.
struct ChatChange {
  ChatAction action = ChatAction::kSend;
  ChatMessage message;
};

// What a chat missed since a client's position (Chats::catch_up): its changes in seq order,
// and the position they bring the client to; or, past the bound, none and `reload`: the
// client drops what it holds of the chat and loads its history again, from position `seq`.
struct ChatCatchUp {
  int64_t wire_chat_id = 0;
  int64_t seq = 0;
  bool reload = false;
  std::vector<ChatChange> changes;
};

enum class FriendAction { kRequest, kResponse, kRemove, kDelete };

enum class GuildAction { kCreated, kRenamed, kDeleted, kJoined, kLeft };

// A guild as lists and events show it: the same size whatever its membership, so that a
// change in a big guild costs each member a small frame. Members are asked for apart.
struct GuildSummary {
  int64_t id = 0;  // also the id of its chat
  std::string name;
  int64_t owner_id = 0;
  size_t member_count = 0;
};

// A guild with its members, in joining order (ties by id): the first one after the owner is
// who would inherit the guild. At most GuildSettings::max_members of them.
struct GuildView {
  int64_t id = 0;  // also the id of its chat
  std::string name;
  int64_t owner_id = 0;
  std::vector<UserView> members;
};

// The relations of one user, for the auth response.
struct FriendState {
  std::vector<UserView> incoming;  // users who asked me
  std::vector<UserView> outgoing;  // users I asked
  std::vector<UserView> friends;
};

}  // namespace rwd::domain
