#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"

// The storage seam, and the only source of truth. Everything the domain keeps goes through
// this interface; SQLite (store/sqlite) and PostgreSQL (store/postgres) implement it, and the
// domain links neither. Memory above it is a cache, changed only from what a commit returned.
//
// Decisions: every check-and-change (a friend request, a guild change, a token revocation,
// an edit of one's own message, ...) is one conditional write that decides inside the
// database transaction, against the committed rows and the writes queued before it, and
// returns what it produced (or the rule it broke, as an Errc). The caller never decides from
// memory what the database will accept.
//
// Contract for writes: each write is applied in submission order and is acknowledged (its
// callback runs) only after the transaction holding it has committed durably. Writes are
// grouped into transactions (group commit), so callers must not wait for one write before
// submitting the next. A write that breaks a rule or fails alone is rolled back alone and
// reported to its callback; the other writes of the batch still commit. When the whole
// transaction fails, every write of it gets the error and none of them changed anything.
// Callbacks run on one store thread, in commit order: keep them short and hand real work to
// other threads. Applying results to a cache from callbacks therefore applies them in the
// order the database did.
//
// Errors: a rule the write broke has its own Errc (kNotFriends, kGuildFull, ...).
// kStorageUnavailable means the environment refused (connection lost, serialization
// failure, disk full, database locked or restarting): retrying later can succeed, and the
// write did not happen. kInternal means a bug or a state retrying will not fix.
//
// Chat sequence: every committed change of a chat (a message sent, edited or deleted) takes
// the chat's next sequence number, 1, 2, 3... with no gap, assigned inside the transaction
// under the chat's row lock, so seq order is commit order. A write that fails takes none.
// It lets a process that receives changes from elsewhere notice one it missed and replay
// the gap (load_chat_changes); clients never see it.
//
// Contract for reads: they block on the disk or the network, so callers run them on a worker
// pool, never on a network thread. They see every write whose callback has run.
namespace rwd::store {

struct UserRecord {
  int64_t id = 0;
  std::string name;
  std::string email;
  std::string password_hash;
  std::optional<std::string> profile;
  int64_t created_us = 0;
  // Disabled by an operator (set_user_disabled): its tokens were revoked and put_token
  // refuses new ones until it is enabled again.
  bool disabled = false;
  // Deleted by its owner or an operator (delete_user): a tombstone kept so that its id is never
  // reused and its messages keep their author. Its name, email and password hash are empty
  // (the name and email are free for a new account) and it has no token.
  bool deleted = false;
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
  // When the token was last used to open a session (touch_token), or created_us if never:
  // what its owner sees in the list of their sessions. Read back by live_tokens_of only.
  int64_t last_seen_us = 0;
  // What the client that logged in said it is (its User-Agent, cleaned by the domain): at
  // most kClientLabelMax bytes of UTF-8 without control characters; may be empty. Stored by
  // put_token, read back by live_tokens_of only.
  std::string client{};  // {}: the records built without it need not name it
};

inline constexpr size_t kClientLabelMax = 200;

// A password reset key of a user: at most one per user (a new request replaces the unused
// one), single use.
struct PasswordReset {
  int64_t user_id = 0;
  std::string key_hash;  // SHA-256 of the reset key; the key itself is never stored
  int64_t created_us = 0;
  int64_t expires_us = 0;
};

// What a password change committed: the user with the new hash, and the tokens it revoked
// (every live one of the user, but the one kept), whose sessions must end.
struct PasswordChanged {
  UserRecord user;
  std::vector<std::string> revoked_token_hashes;
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
  // The chat's sequence number of the change this record is as of (see "Chat sequence"
  // below): put_message's send, edit_message's edit or deletion, a change of
  // load_chat_changes. In load_messages, the message's own send. 0 when not yet stored.
  int64_t seq = 0;
};

// Where put_message stored a message: the seq it took and the time it is stored with.
struct StoredMessage {
  int64_t seq = 0;
  int64_t created_us = 0;
};

// What put_message_once did: the message stored now, or the one that had the nonce already.
struct SentMessage {
  MessageRecord message;
  bool duplicate = false;
};

// What a chat change did.
enum class ChangeKind { kSend, kEdit, kDelete };

// One committed change of a chat, with the message as of that change (its seq is the
// change's). The text of a deleted message is erased from every version: a change before
// the deletion comes back with empty content.
struct ChatChange {
  ChangeKind kind = ChangeKind::kSend;
  MessageRecord message;
};

// Where a user's reading of a chat stands: the newest message they have read there (mark_read).
struct ReadMark {
  int64_t chat_id = 0;
  int64_t message_id = 0;
  bool moved = false;  // this write moved it (false: it already was there or past it)
};

// A chat as one of its members sees it in their list (chat_summaries).
struct ChatSummary {
  int64_t chat_id = 0;
  int64_t last_read_id = 0;  // the member's read mark; 0: nothing read yet
  // Live messages of the other members after the mark, at most the cap asked for.
  int unread = 0;
  std::optional<MessageRecord> last_message;  // the newest live message; none if there is none
  int64_t last_seq = 0;  // the chat's position (ChatPosition) in the same snapshot
};

// How far a chat's changes have gone: last_seq is the seq of its latest committed change.
struct ChatPosition {
  int64_t chat_id = 0;
  int64_t last_seq = 0;
};

// A search of message texts (search_messages).
struct MessageSearch {
  // Words to find, each matching the start of a word of a message (case aside; on SQLite,
  // accents aside too); a message must have them all. At least one, none empty, each of
  // letters and digits only (the caller splits on everything else).
  std::vector<std::string> terms;
  std::vector<int64_t> chat_ids;  // where to look: no other chat's message is ever returned
  int offset = 0;                 // of the ranked list
  int limit = 20;
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

// A guild with its members in joining order (ties by id): the first member after the owner
// is who inherits the guild when the owner leaves.
struct GuildState {
  GuildRecord guild;
  std::vector<GuildMemberRecord> members;
};

// What a friend request produced.
struct FriendRequestOutcome {
  // False: a request from_id -> to_id is now pending. True: to_id had already asked from_id,
  // so the two are now friends (the crossed requests are gone) and chat_id is their chat.
  bool befriended = false;
  int64_t chat_id = 0;
};

// What blocking a user produced.
struct BlockOutcome {
  bool changed = false;     // false: the block already existed (a repeat: nothing changed)
  bool unfriended = false;  // the two were friends: that friendship ended
  // The pending friend request between the two (either way) that the block removed.
  std::optional<FriendRequestRecord> request_removed;
};

// What leaving a guild produced.
struct GuildLeaveOutcome {
  std::optional<GuildState> after;   // none: the last member left and the guild is deleted
  std::optional<int64_t> new_owner;  // the owner left and the guild passed to this member
};

// What disabling or enabling an account produced.
struct AccountStateOutcome {
  bool changed = false;  // false: the account already was in that state (a repeat)
  // Disabling: the hashes of the live tokens it revoked (each one's sessions must end).
  std::vector<std::string> revoked_token_hashes;
};

// A guild the deleted account was a member of, as delete_user left it.
struct GuildDeparture {
  int64_t guild_id = 0;
  GuildLeaveOutcome outcome;  // as leave_guild would have answered
};

// What deleting an account committed: every relation it had, each one removed, so that the
// people concerned can be told.
struct AccountDeleted {
  UserRecord user;  // the tombstone (deleted = true)
  std::vector<std::string> revoked_token_hashes;
  std::vector<int64_t> former_friends;
  std::vector<FriendRequestRecord> removed_requests;  // both ways
  std::vector<GuildDeparture> guilds;                 // by guild id
};

// True when retrying the same write or read later can succeed (see "Errors" above).
inline bool can_retry(const Error& e) {
  return e.code == Errc::kStorageUnavailable || e.code == Errc::kOverloaded;
}

// What the domain keeps in memory, read once at start-up.
struct DirectorySnapshot {
  std::vector<UserRecord> users;
  std::vector<FriendRequestRecord> friend_requests;
  std::vector<UserPair> friendships;
  std::vector<DmChatRecord> dm_chats;
  std::vector<TokenRecord> tokens;  // live ones only: not expired, not revoked
  std::vector<GuildRecord> guilds;
  std::vector<GuildMemberRecord> guild_members;
  std::vector<int64_t> presence_hidden;  // users who show no presence to their friends
};

template <typename T>
using Callback = std::function<void(Result<T>)>;

// Due mail claimed by one sender (Store::claim_due_mail): while the claim lasts no other
// sender sharing the database gets it, so a mail goes out once however many nodes run (on
// SQLite one process holds the database, so there is no other sender to keep out). Each
// mail's outcome is recorded with sent() or retry(); commit() makes them durable and ends the
// claim. A claim that ends without a commit (its process died, the commit failed) leaves its
// mail due again at once: mail goes out at least once, and is never lost. One thread.
class MailClaim {
 public:
  virtual ~MailClaim() = default;
  const std::vector<OutboxMail>& mail() const { return mail_; }
  virtual void sent(int64_t mail_id, int64_t now_us) = 0;
  // Tried again at next_attempt_us (INT64_MAX: given up).
  virtual void retry(int64_t mail_id, int attempts, int64_t next_attempt_us,
                     std::string last_error) = 0;
  virtual Status commit() = 0;

 protected:
  std::vector<OutboxMail> mail_;
};

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
  // kAccountDisabled when token.user_id is disabled (decided against the user's row, so a
  // login racing a disable never leaves a live token behind it).
  void put_token(TokenRecord token, Callback<void> done) {
    put_login_token(std::move(token), {}, std::move(done));
  }
  // put_token for a login that verified the password hash verified_password_hash: the token
  // is stored only while that is still the user's hash, else kInvalidCredentials. A login
  // racing a password reset or change, or on a node whose cache still holds the old hash,
  // gets no token. An empty verified_password_hash checks nothing.
  virtual void put_login_token(TokenRecord token, std::string verified_password_hash,
                               Callback<void> done) = 0;
  // Revokes a live token (not expired at now_us, not revoked). Returns its user.
  // kUnauthorized when there is no such live token.
  virtual void revoke_token(std::string token_hash, int64_t now_us, Callback<int64_t> done) = 0;
  // The token was used at now_us (a gateway connection authenticated with it): its
  // last_seen_us becomes now_us, unless it already is later. A token that is unknown, revoked
  // or expired is left alone, and that is not an error. Called once per authentication,
  // never per message.
  virtual void touch_token(std::string token_hash, int64_t now_us, Callback<void> done) = 0;

  // Passwords (reset by mail, change while logged in).
  // Stores reset.key_hash as user_id's reset key, replacing any earlier one of the user (its
  // key stops working), together with its mail, in one transaction. kUserNotFound when there
  // is no such user (nothing is stored then, not even the mail).
  virtual void put_password_reset(PasswordReset reset, OutboxMail mail, Callback<void> done) = 0;
  // Consumes the reset key whose hash is key_hash (live: expires_us > now_us), sets its
  // user's password hash and revokes every live token of the user. kLinkInvalid when there
  // is no such live key (unknown, used, replaced or expired).
  virtual void reset_password(std::string key_hash, std::string password_hash, int64_t now_us,
                              Callback<PasswordChanged> done) = 0;
  // Sets user_id's password hash to new_hash if it still is old_hash, and revokes every live
  // token of the user but keep_token_hash. kInvalidCredentials when the hash changed meanwhile
  // (another change or a reset came first), kUserNotFound when there is no such user.
  virtual void change_password(int64_t user_id, std::string old_hash, std::string new_hash,
                               std::string keep_token_hash, int64_t now_us,
                               Callback<PasswordChanged> done) = 0;
  // Disables (disabled = true) or enables user_id. Disabling also revokes every live token
  // of the user in the same transaction, and answers their hashes; enabling revokes nothing
  // (tokens revoked stay revoked). Repeating either is a no-op answered with changed = false.
  // kUserNotFound when there is no such user.
  virtual void set_user_disabled(int64_t user_id, bool disabled, int64_t now_us,
                                 Callback<AccountStateOutcome> done) = 0;

  // Deletes user_id's account, all in one transaction: the row stays as a tombstone (see
  // UserRecord::deleted) whose name and email are freed and whose password hash is emptied;
  // every live token is revoked; its friendships and friend requests (both ways) are removed;
  // it leaves every guild as leave_guild would (an owned guild passes to the first member in
  // joining order, or is deleted with its last member). Its messages stay. When
  // verified_password_hash is not empty, it must still be the user's hash
  // (kInvalidCredentials otherwise: a password change or reset came first). kUserNotFound
  // when there is no such user, or it is already deleted.
  virtual void delete_user(int64_t user_id, std::string verified_password_hash, int64_t now_us,
                           Callback<AccountDeleted> done) = 0;

  // Friends. new_chat_id is used only if the pair gets a direct-message chat for the first
  // time (a pair that was friends before keeps its chat and its history).
  // from_id asks to_id: kAlreadyFriends, kAlreadyRequested (from_id asked already),
  // kUserNotFound when to_id blocked from_id, kUserBlocked when from_id blocked to_id; when
  // to_id had asked from_id, they become friends instead (crossed requests).
  virtual void request_friend(int64_t from_id, int64_t to_id, int64_t new_chat_id, int64_t now_us,
                              Callback<FriendRequestOutcome> done) = 0;
  // user_id accepts the request requester_id sent: kNotRequested when there is none (even
  // between friends). Returns the pair's chat id.
  virtual void accept_friend(int64_t user_id, int64_t requester_id, int64_t new_chat_id,
                             int64_t now_us, Callback<int64_t> done) = 0;
  // Withdraws user_id's request to other_id or, when there is none, declines other_id's
  // request to user_id. kNotRequested when neither exists. Returns the request removed.
  virtual void cancel_friend_request(int64_t user_id, int64_t other_id,
                                     Callback<FriendRequestRecord> done) = 0;
  // Ends the friendship of user_id and other_id (their chat and history stay).
  // kNotFriends when they are not friends.
  virtual void unfriend(int64_t user_id, int64_t other_id, Callback<void> done) = 0;

  // Blocks (one-way). blocker_id blocks blocked_id and, in the same transaction, ends their
  // friendship and removes the pending request between them, whichever way it goes (the
  // outcome says what ended). While the block lasts, request_friend from blocked_id to
  // blocker_id answers kUserNotFound, as for a user that does not exist, and from blocker_id
  // to blocked_id kUserBlocked; add_guild_member and sending in their chat need a friendship,
  // so they are refused too. Blocking again is a no-op answered with changed = false.
  // kSelfTarget; kUserNotFound when blocked_id is no user.
  virtual void block_user(int64_t blocker_id, int64_t blocked_id, int64_t now_us,
                          Callback<BlockOutcome> done) = 0;
  // Ends blocker_id's block of blocked_id; true when there was one (a repeat answers false).
  virtual void unblock_user(int64_t blocker_id, int64_t blocked_id, Callback<bool> done) = 0;

  // Stores a new message (message.seq is ignored) and answers the seq it took and its time.
  // A message's time is unique in its chat: history pages by time, strictly before the
  // oldest message received, so two in one microsecond (two nodes' clocks) would lose one at
  // a page's edge. It is stored at message.created_us, or 1 µs after the chat's latest
  // message when that is not earlier (decided under the chat's lock, so two processes
  // agree). Putting the same message again is a no-op that answers what it already has.
  virtual void put_message(MessageRecord message, Callback<StoredMessage> done) = 0;
  // A send that carries its client's nonce (protocol v2): at most one message of
  // (message.chat_id, message.author_id, nonce) is stored while the first is newer than
  // reuse_before_us. If one is, nothing is stored and it is answered as it is now (edited or
  // deleted since, perhaps) with duplicate = true; its seq is its send's. Otherwise the
  // message is stored with the nonce, as put_message would (an older message's nonce is
  // taken from it), and answered with its seq and stored time. The decision is the store's, so two
  // retries on two nodes store one message.
  virtual void put_message_once(MessageRecord message, std::string nonce, int64_t reuse_before_us,
                                Callback<SentMessage> done) = 0;
  // Replaces the content of author_id's own live message in chat_id; empty content deletes
  // it. kMessageNotFound when there is no such message. Returns the updated record, whose
  // edited_us is now_us and whose seq is the edit's.
  virtual void edit_message(int64_t chat_id, int64_t message_id, int64_t author_id,
                            std::string content, int64_t now_us, Callback<MessageRecord> done) = 0;

  // Whether user_id shows their friends when they are online (set_presence_hidden(true):
  // never). Setting what is already set changes nothing and is no error.
  virtual void set_presence_hidden(int64_t user_id, bool hidden, Callback<void> done) = 0;
  // user_id has read chat_id up to message_id (any message of that chat, even one deleted
  // since): the mark moves there, unless it already is there or past it in the chat's order
  // (the seq of each message's send): a mark never moves back, so two devices marking at once
  // leave the later of the two. Answers the mark as it is after the write.
  // kMessageNotFound when chat_id has no such message.
  virtual void mark_read(int64_t user_id, int64_t chat_id, int64_t message_id,
                         Callback<ReadMark> done) = 0;

  // Guilds. "A member" is a row of guild_members; a guild user_id is not a member of and a
  // guild that does not exist both give kGuildNotFound.
  // Creates the guild, its chat (kind 1, same id) and its owner as first member (joined at
  // guild.created_us).
  virtual void create_guild(GuildRecord guild, Callback<GuildState> done) = 0;
  // kGuildNotFound; kNotGuildOwner when actor_id is a member but not the owner.
  virtual void rename_guild(int64_t guild_id, int64_t actor_id, std::string name,
                            Callback<GuildState> done) = 0;
  // actor_id (a member) adds user_id (actor_id's friend), joined at
  // max(now_us, the last member's joined_us) so that joining order is never reversed.
  // kGuildNotFound; kAlreadyMember; kNotFriends when they are not friends; kGuildFull when
  // the guild has max_members members.
  virtual void add_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id, int64_t now_us,
                                int64_t max_members, Callback<GuildState> done) = 0;
  // The owner actor_id removes member user_id. kGuildNotFound; kNotGuildOwner; kSelfTarget
  // when user_id is the owner; kUserNotFound when user_id is not a member.
  virtual void remove_guild_member(int64_t guild_id, int64_t actor_id, int64_t user_id,
                                   Callback<GuildState> done) = 0;
  // user_id leaves: the owner's guild passes to the first member in joining order; the last
  // member's leaving deletes the guild. kGuildNotFound.
  virtual void leave_guild(int64_t guild_id, int64_t user_id, Callback<GuildLeaveOutcome> done) = 0;
  // The owner deletes the guild and its members; its chat row and messages stay. Returns the
  // guild as it was. kGuildNotFound; kNotGuildOwner.
  virtual void delete_guild(int64_t guild_id, int64_t actor_id, Callback<GuildState> done) = 0;

  // A mail's outcome outside a claim. A claimed mail is marked through its MailClaim (on
  // PostgreSQL the claim holds the mail's row until it commits).
  virtual void mark_mail_sent(int64_t mail_id, int64_t now_us, Callback<void> done) = 0;
  virtual void reschedule_mail(int64_t mail_id, int attempts, int64_t next_attempt_us,
                               std::string last_error, Callback<void> done) = 0;

  // --- reads (blocking) ---
  // The newest `limit` live messages of chat_id created strictly before before_us, oldest
  // first, each with the time of its last edit if it has one.
  virtual Result<std::vector<MessageRecord>> load_messages(int64_t chat_id, int64_t before_us,
                                                           int limit) = 0;
  // The changes of chat_id with seq > after_seq, in seq order, at most `limit` (>= 1): what a
  // process replays to fill a gap. Page on with the last seq returned.
  virtual Result<std::vector<ChatChange>> load_chat_changes(int64_t chat_id, int64_t after_seq,
                                                            int limit) = 0;
  // The last seq of each chat asked for that exists, in chat id order; a chat that does not
  // exist is left out (one with no change yet has last_seq 0).
  virtual Result<std::vector<ChatPosition>> chat_positions(
      const std::vector<int64_t>& chat_ids) = 0;
  // user_id's view of each chat of chat_ids, in that order (one that does not exist is left
  // out): their read mark, how many live messages of others come after it in the chat's
  // order (counted up to unread_cap, which it never exceeds), and the chat's newest live
  // message. The caller says which chats are the user's.
  virtual Result<std::vector<ChatSummary>> chat_summaries(int64_t user_id,
                                                          const std::vector<int64_t>& chat_ids,
                                                          int unread_cap) = 0;
  // The live messages of search.chat_ids that match every term, best match first (the full
  // text index's rank; ties: newest first), skipping search.offset of them, at most
  // search.limit. Served by an index of words and chats: the cost follows the matches of
  // whole words in those chats, not the size of the store (a short prefix, which stands for
  // every word it begins, is the exception).
  virtual Result<std::vector<MessageRecord>> search_messages(const MessageSearch& search) = 0;
  // Cache misses: a token issued, or a user created, by another process sharing the database.
  // The token when it is live at now_us (not expired, not revoked).
  virtual Result<std::optional<TokenRecord>> find_token(const std::string& token_hash,
                                                        int64_t now_us) = 0;
  virtual Result<std::optional<UserRecord>> find_user(int64_t id) = 0;
  // user_id's live tokens at now_us (not expired, not revoked), oldest first (ties by hash),
  // with their last_seen_us (never before created_us) and client.
  virtual Result<std::vector<TokenRecord>> live_tokens_of(int64_t user_id, int64_t now_us) = 0;
  // The users blocker_id blocks, oldest block first (ties by id).
  virtual Result<std::vector<int64_t>> blocked_by(int64_t blocker_id) = 0;
  // Matched as the Directory matches names: by unicode::name_key (NFC, case folded).
  virtual Result<std::optional<UserRecord>> find_user_by_name(const std::string& name) = 0;
  // Matched as the Directory matches emails: ASCII case-insensitively.
  virtual Result<std::optional<UserRecord>> find_user_by_email(const std::string& email) = 0;
  virtual Result<std::optional<PendingRegistration>> find_pending(const std::string& email) = 0;
  // Unsent mail due at now_us, the longest due first, at most `limit`, claimed by the caller
  // until the claim commits or ends (MailClaim). Mail another sender holds is skipped, not
  // waited for.
  virtual Result<std::unique_ptr<MailClaim>> claim_due_mail(int64_t now_us, int limit) = 0;
  // Earliest next_attempt_us of unsent mail, if any.
  virtual Result<std::optional<int64_t>> next_mail_due() = 0;
  // Unsent mail that will still be tried: the outbox's backlog (mail given up after its last
  // attempt, next_attempt_us INT64_MAX, is left out).
  virtual Result<int64_t> unsent_mail_count() = 0;

  // Blocks until every write submitted so far has committed (or failed).
  virtual void flush() = 0;
  // Drains the queued writes, then refuses new ones (they fail with kStorageUnavailable).
  virtual void close() = 0;

  // Writes and reads the environment refused since start-up (any thread; for metrics).
  virtual uint64_t write_failures() const = 0;
  virtual uint64_t read_failures() const = 0;

  // Whether a write submitted now can be expected to commit, for readiness (a proxy sends new
  // clients only to a node whose store writes). False while the environment refuses writes:
  // SQLite, from a write refused for the environment (disk full, I/O error) until a write
  // commits again; PostgreSQL, while the writer has no connection (lost, or reconnecting).
  // A rule a write broke says nothing about this. Any thread; never blocks.
  virtual bool can_write() const = 0;
};

}  // namespace rwd::store
