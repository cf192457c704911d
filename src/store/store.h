#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

// The storage seam. Everything the domain keeps goes through this interface; SQLite
// (store/sqlite) implements it today, PostgreSQL will tomorrow.
//
// Contract for writes: each write is applied in submission order by one writer and is
// acknowledged (its callback runs) only after the transaction holding it has committed
// durably. Writes are grouped into transactions (group commit), so callers must not wait
// for one write before submitting the next. A write that fails is rolled back alone and
// reported to its callback; the other writes of the batch still commit. Callbacks run on one
// store thread, in commit order: keep them short and hand real work to other threads.
//
// Contract for reads: they block on the disk, so callers run them on a worker pool, never
// on a network thread. They see every write whose callback has run.
namespace rwd::store {

struct UserRecord {
  int64_t id = 0;
  std::string name;
  std::string email;
  std::string password_hash;
  std::optional<std::string> profile;
  int64_t created_us = 0;
};

struct PendingRegistration {
  std::string email;  // as typed; matched case-insensitively
  std::string name;
  std::string password_hash;
  std::string key_hash;  // SHA-256 of the verification key; the key itself is never stored
  int64_t created_us = 0;
  int64_t expires_us = 0;
};

struct OutboxMail {
  int64_t id = 0;  // assigned by the store when 0
  std::string recipient;
  std::string subject;
  std::string body;
  int attempts = 0;
  int64_t next_attempt_us = 0;
};

struct TokenRecord {
  std::string token_hash;  // SHA-256 of the token; the token itself is never stored
  int64_t user_id = 0;
  int64_t created_us = 0;
  int64_t expires_us = 0;
};

struct UserPair {
  int64_t lo = 0, hi = 0;  // lo < hi
};

struct FriendRequestRecord {
  int64_t from_id = 0, to_id = 0;
};

struct DmChatRecord {
  int64_t chat_id = 0;
  int64_t user_lo = 0, user_hi = 0;
};

struct MessageRecord {
  int64_t id = 0;
  int64_t chat_id = 0;
  int64_t author_id = 0;
  std::string content;  // empty when deleted
  int64_t created_us = 0;
  bool deleted = false;
  std::optional<int64_t> edited_us;  // the last edit (or the deletion); none if never edited
};

struct GuildRecord {
  int64_t id = 0;  // also the id of the guild's chat
  std::string name;
  int64_t owner_id = 0;
  int64_t created_us = 0;
};

struct GuildMemberRecord {
  int64_t guild_id = 0;
  int64_t user_id = 0;
  int64_t joined_us = 0;
};

// What the domain keeps in memory, read once at start-up.
struct DirectorySnapshot {
  std::vector<UserRecord> users;
  std::vector<FriendRequestRecord> friend_requests;
  std::vector<UserPair> friendships;
  std::vector<DmChatRecord> dm_chats;
  std::vector<TokenRecord> tokens;  // live ones only: not expired, not revoked
  std::vector<GuildRecord> guilds;
  std::vector<GuildMemberRecord> guild_members;
};

template <typename T>
using Callback = std::function<void(Result<T>)>;

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<DirectorySnapshot> load_directory(int64_t now_us) = 0;

  // --- writes (asynchronous, acknowledged after commit) ---
  // Stores a pending registration, replacing any pending one for the same email (the old
  // key stops working), together with its verification mail, in one transaction.
  virtual void put_registration(PendingRegistration reg, OutboxMail mail, Callback<void> done) = 0;
  virtual void put_mail(OutboxMail mail, Callback<void> done) = 0;
  // Consumes the pending registration whose key hashes to key_hash and creates its user
  // with new_user_id. kLinkInvalid when unknown or expired, kNameTaken when the name went
  // to someone else meanwhile; an account that exists for the email also gives kLinkInvalid.
  virtual void verify_registration(std::string key_hash, int64_t now_us, int64_t new_user_id,
                                   Callback<UserRecord> done) = 0;
  virtual void put_token(TokenRecord token, Callback<void> done) = 0;
  virtual void revoke_token(std::string token_hash, Callback<void> done) = 0;
  virtual void put_friend_request(int64_t from_id, int64_t to_id, int64_t now_us,
                                  Callback<void> done) = 0;
  virtual void delete_friend_request(int64_t from_id, int64_t to_id, Callback<void> done) = 0;
  // Makes two users friends: removes requests both ways and makes sure their direct-message
  // chat exists (with new_chat_id when it did not). Returns the chat id.
  virtual void put_friendship(UserPair pair, int64_t new_chat_id, int64_t now_us,
                              Callback<int64_t> done) = 0;
  virtual void delete_friendship(UserPair pair, Callback<void> done) = 0;
  virtual void put_message(MessageRecord message, Callback<void> done) = 0;
  // Replaces the content of author_id's own live message in chat_id; empty content deletes
  // it. kMessageNotFound when there is no such message. Returns the updated record, whose
  // edited_us is now_us.
  virtual void edit_message(int64_t chat_id, int64_t message_id, int64_t author_id,
                            std::string content, int64_t now_us, Callback<MessageRecord> done) = 0;
  // Creates a guild, its chat (kind 1, same id) and its owner as first member, in one
  // transaction.
  virtual void put_guild(GuildRecord guild, Callback<void> done) = 0;
  virtual void rename_guild(int64_t guild_id, std::string name, Callback<void> done) = 0;
  virtual void add_guild_member(GuildMemberRecord member, Callback<void> done) = 0;
  // Removes a member; with new_owner, also hands the guild to that member (the owner left).
  virtual void remove_guild_member(int64_t guild_id, int64_t user_id,
                                   std::optional<int64_t> new_owner, Callback<void> done) = 0;
  // Deletes the guild and its members. Its chat row and messages stay.
  virtual void delete_guild(int64_t guild_id, Callback<void> done) = 0;
  virtual void mark_mail_sent(int64_t mail_id, int64_t now_us, Callback<void> done) = 0;
  virtual void reschedule_mail(int64_t mail_id, int attempts, int64_t next_attempt_us,
                               std::string last_error, Callback<void> done) = 0;

  // --- reads (blocking) ---
  // The newest `limit` live messages of chat_id created strictly before before_us, oldest
  // first, each with the time of its last edit if it has one.
  virtual Result<std::vector<MessageRecord>> load_messages(int64_t chat_id, int64_t before_us,
                                                           int limit) = 0;
  virtual Result<std::optional<PendingRegistration>> find_pending(const std::string& email) = 0;
  virtual Result<std::vector<OutboxMail>> due_mail(int64_t now_us, int limit) = 0;
  // Earliest next_attempt_us of unsent mail, if any.
  virtual Result<std::optional<int64_t>> next_mail_due() = 0;

  // Blocks until every write submitted so far has committed (or failed).
  virtual void flush() = 0;
};

}  // namespace rwd::store
