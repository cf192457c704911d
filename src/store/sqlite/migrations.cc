#include "store/sqlite/migrations.h"

#include <algorithm>
#include <string>

#include "base/unicode.h"
#include "store/sqlite/connection.h"

namespace rwd::store {

namespace {

// Append only: a released migration is never edited. Times are microseconds since the
// Unix epoch, UTC. Ids are snowflakes.
const char* const kMigrations[] = {
    // 1: accounts, friends, direct-message chats, messages, mail outbox.
    R"sql(
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL,
  name_lower    TEXT NOT NULL UNIQUE,
  email         TEXT NOT NULL,
  email_lower   TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  profile       TEXT,
  created_us    INTEGER NOT NULL
);
CREATE TABLE pending_registrations (
  email_lower   TEXT PRIMARY KEY,
  email         TEXT NOT NULL,
  name          TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  key_hash      TEXT NOT NULL UNIQUE,
  created_us    INTEGER NOT NULL,
  expires_us    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE tokens (
  hash       TEXT PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  created_us INTEGER NOT NULL,
  expires_us INTEGER NOT NULL,
  revoked    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE friend_requests (
  from_id    INTEGER NOT NULL REFERENCES users(id),
  to_id      INTEGER NOT NULL REFERENCES users(id),
  created_us INTEGER NOT NULL,
  PRIMARY KEY (from_id, to_id)
) WITHOUT ROWID;
CREATE TABLE friendships (
  user_lo    INTEGER NOT NULL REFERENCES users(id),
  user_hi    INTEGER NOT NULL REFERENCES users(id),
  created_us INTEGER NOT NULL,
  PRIMARY KEY (user_lo, user_hi),
  CHECK (user_lo < user_hi)
) WITHOUT ROWID;
-- kind 0: a direct-message chat of the pair (user_lo, user_hi). Kept after a friendship
-- ends so history survives unfriending and re-friending.
CREATE TABLE chats (
  id         INTEGER PRIMARY KEY,
  kind       INTEGER NOT NULL,
  user_lo    INTEGER,
  user_hi    INTEGER,
  created_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX chats_dm_pair ON chats(user_lo, user_hi) WHERE kind = 0;
CREATE TABLE messages (
  id         INTEGER PRIMARY KEY,
  chat_id    INTEGER NOT NULL REFERENCES chats(id),
  author_id  INTEGER NOT NULL REFERENCES users(id),
  content    TEXT NOT NULL,
  created_us INTEGER NOT NULL,
  edited_us  INTEGER,
  deleted    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_chat_time ON messages(chat_id, created_us);
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  recipient       TEXT NOT NULL,
  subject         TEXT NOT NULL,
  body            TEXT NOT NULL,
  created_us      INTEGER NOT NULL,
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_us INTEGER NOT NULL,
  last_error      TEXT,
  sent_us         INTEGER
);
CREATE INDEX outbox_due ON outbox(next_attempt_us) WHERE sent_us IS NULL;
)sql",
    // 2: guilds. Each guild also has a chats row (kind 1, id = guild id) so that
    // messages.chat_id keeps its foreign key. Deleting a guild deletes its row and its
    // members; its chat row and messages stay (nothing can reach them any more).
    R"sql(
CREATE TABLE guilds (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  owner_id   INTEGER NOT NULL REFERENCES users(id),
  created_us INTEGER NOT NULL
);
CREATE TABLE guild_members (
  guild_id  INTEGER NOT NULL REFERENCES guilds(id) ON DELETE CASCADE,
  user_id   INTEGER NOT NULL REFERENCES users(id),
  joined_us INTEGER NOT NULL,
  PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;
CREATE INDEX guild_members_by_user ON guild_members(user_id);
)sql",
    // 3: what pruning looks for (SqliteStore::prune), so that each bounded batch reads an index
    // instead of scanning its table: expired and revoked tokens, expired pending
    // registrations, mail sent long enough ago.
    R"sql(
CREATE INDEX tokens_by_expiry ON tokens(expires_us);
CREATE INDEX tokens_revoked ON tokens(revoked) WHERE revoked = 1;
CREATE INDEX pending_registrations_by_expiry ON pending_registrations(expires_us);
CREATE INDEX outbox_sent ON outbox(sent_us) WHERE sent_us IS NOT NULL;
)sql",
    // 4: names in any script. name_lower becomes the name's Unicode key (NFC, case folded:
    // the same as before for the ASCII names stored so far) and every name gets its TS #39
    // confusable skeleton, so a lookalike of a taken name is refused.
    R"sql(
UPDATE users SET name_lower = rewind_name_key(name);
ALTER TABLE users ADD COLUMN name_skeleton TEXT;
UPDATE users SET name_skeleton = rewind_name_skeleton(name);
CREATE INDEX users_by_name_skeleton ON users(name_skeleton);
)sql",
    // 5: the chat sequence (store.h). chats.last_seq is the seq of the chat's latest change;
    // a message keeps the seq of its send; an edit or a deletion is a row of message_changes
    // under its own seq. A change row keeps the text the change replaced (content_before),
    // so every version of a text is stored once: the version as of a change is the
    // content_before of the message's next change, or messages.content after the last one.
    // A deletion empties content_before on every change of its message (and messages.content,
    // as before): a deleted text is gone from every version. Messages stored before this
    // version take seqs in id order per chat; their earlier edits were never recorded.
    R"sql(
ALTER TABLE chats ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0 CHECK (last_seq >= 0);
ALTER TABLE messages ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE TEMP TABLE message_seq_backfill (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL);
INSERT INTO message_seq_backfill (id, seq)
  SELECT id, row_number() OVER (PARTITION BY chat_id ORDER BY id) FROM messages;
UPDATE messages SET seq = (SELECT b.seq FROM message_seq_backfill b WHERE b.id = messages.id);
DROP TABLE message_seq_backfill;
UPDATE chats SET last_seq = (SELECT count(*) FROM messages m WHERE m.chat_id = chats.id);
CREATE UNIQUE INDEX messages_by_chat_seq ON messages(chat_id, seq);
CREATE TABLE message_changes (
  chat_id        INTEGER NOT NULL REFERENCES chats(id),
  seq            INTEGER NOT NULL CHECK (seq > 0),
  message_id     INTEGER NOT NULL REFERENCES messages(id),
  deleted        INTEGER NOT NULL CHECK (deleted IN (0, 1)),
  edited_us      INTEGER NOT NULL,
  content_before TEXT    NOT NULL,
  PRIMARY KEY (chat_id, seq)
) WITHOUT ROWID;
CREATE INDEX message_changes_by_message ON message_changes(message_id, seq);
)sql",
    // 6: password reset keys, one per user at most (a new request replaces the unused one;
    // using a key deletes it). Only the key's SHA-256 is stored.
    R"sql(
CREATE TABLE password_resets (
  user_id    INTEGER PRIMARY KEY REFERENCES users(id),
  key_hash   TEXT NOT NULL UNIQUE,
  created_us INTEGER NOT NULL,
  expires_us INTEGER NOT NULL
);
)sql",
    // 7: accounts an operator disabled (store.h, set_user_disabled), and the live tokens of
    // one user (live_tokens_of, and the revocation of them all when disabling).
    R"sql(
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
CREATE INDEX tokens_by_user ON tokens(user_id, created_us);
)sql",
    // 8: blocks, one-way (store.h, block_user): blocker_id blocks blocked_id.
    R"sql(
CREATE TABLE blocks (
  blocker_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  blocked_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_us INTEGER NOT NULL,
  PRIMARY KEY (blocker_id, blocked_id),
  CHECK (blocker_id <> blocked_id)
) WITHOUT ROWID;
)sql",
    // 9: accounts deleted by their owner or an operator (store.h, delete_user). The row stays
    // as a tombstone (its id is never reused; messages keep their author), its name, email and
    // password hash emptied; name_lower and email_lower become '#deleted:<id>', which no name
    // (letters, digits, '_', '.', '-') and no email (it has an '@') can be, so both are free.
    R"sql(
ALTER TABLE users ADD COLUMN deleted_us INTEGER;
CREATE INDEX friend_requests_to ON friend_requests(to_id);
CREATE INDEX friendships_hi ON friendships(user_hi);
)sql",
    // 10: what a user sees of each of their sessions (store.h, TokenRecord): when its token
    // was last used, and the client that logged in. Tokens from before start at their login.
    R"sql(
ALTER TABLE tokens ADD COLUMN last_seen_us INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN client TEXT NOT NULL DEFAULT '';
UPDATE tokens SET last_seen_us = created_us;
)sql",
    // 11: a send's nonce (store.h, put_message_once): its client's id for it, so that a retry
    // finds the message it sent instead of storing a second one. NULL for a send without one.
    R"sql(
ALTER TABLE messages ADD COLUMN nonce TEXT;
CREATE UNIQUE INDEX messages_by_nonce ON messages(chat_id, author_id, nonce)
  WHERE nonce IS NOT NULL;
)sql",
    // 12: read marks (store.h, mark_read): the newest message each user has read in a chat,
    // with its send's seq, which orders marks and counts what came after (messages_by_chat_seq).
    R"sql(
CREATE TABLE read_marks (
  user_id    INTEGER NOT NULL REFERENCES users(id),
  chat_id    INTEGER NOT NULL REFERENCES chats(id),
  message_id INTEGER NOT NULL REFERENCES messages(id),
  seq        INTEGER NOT NULL CHECK (seq > 0),
  PRIMARY KEY (user_id, chat_id)
) WITHOUT ROWID;
)sql",
    // 13: users who show no presence to their friends (store.h, set_presence_hidden).
    R"sql(
CREATE TABLE presence_hidden (
  user_id INTEGER PRIMARY KEY REFERENCES users(id)
);
)sql",
    // 14: full-text search of messages (store.h, search_messages). An FTS5 index over
    // messages (external content: the texts are stored once, in messages) of each text's
    // words and of its chat id, so a search of some chats intersects word lists inside the
    // index. A send does not touch it: FTS5 writes a segment per transaction, which at one
    // message per commit doubled a send's cost. The writer indexes new messages in steps of
    // many (SqliteStore::make_index_step), and search_progress says how far it has come;
    // a search first has the writer catch up. An edit or a deletion of a message already
    // indexed replaces its entry in its own transaction (the triggers); one not yet indexed
    // is indexed as it is then. A message whose id is not past the progress (ids rise with
    // time; a clock set back across a restart breaks that) is indexed as it is stored, so
    // that every id up to the progress is in the index, which the 'delete' of an edit
    // relies on. A deletion's empty text leaves only the chat id, which no search matches
    // alone.
    R"sql(
CREATE VIRTUAL TABLE message_search USING fts5(
  content, chat_id, content = 'messages', content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE search_progress (
  one           INTEGER PRIMARY KEY CHECK (one = 1),
  indexed_up_to INTEGER NOT NULL  -- every message with an id up to it is in message_search
);
INSERT INTO search_progress (one, indexed_up_to) VALUES (1, 0);
CREATE TRIGGER message_search_insert AFTER INSERT ON messages
  WHEN new.id <= (SELECT indexed_up_to FROM search_progress) BEGIN
  INSERT INTO message_search (rowid, content, chat_id) VALUES (new.id, new.content, new.chat_id);
END;
CREATE TRIGGER message_search_update AFTER UPDATE OF content, chat_id ON messages
  WHEN old.id <= (SELECT indexed_up_to FROM search_progress) BEGIN
  INSERT INTO message_search (message_search, rowid, content, chat_id)
    VALUES ('delete', old.id, old.content, old.chat_id);
  INSERT INTO message_search (rowid, content, chat_id) VALUES (new.id, new.content, new.chat_id);
END;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages
  WHEN old.id <= (SELECT indexed_up_to FROM search_progress) BEGIN
  INSERT INTO message_search (message_search, rowid, content, chat_id)
    VALUES ('delete', old.id, old.content, old.chat_id);
END;
)sql",
    // 15: the search index's segments are merged a little in every index step
    // (SqliteStore::make_index_step), not by FTS5's automatic merge, which does its work in
    // lumps of 64 pages per level every 64 pages written: at 5,000 messages/s that was a step of
    // 7-10 ms every few seconds, with every send's commit queued behind it (BENCHMARKS.md).
    // FTS5 keeps the setting in message_search_config.
    R"sql(
INSERT INTO message_search (message_search, rank) VALUES ('automerge', 0);
)sql",
};

}  // namespace

int latest_schema_version() { return static_cast<int>(std::size(kMigrations)); }

Status migrate(Connection& conn, int up_to) {
  if (Status s = conn.add_text_function("rewind_name_key", &unicode::name_key); !s.ok()) return s;
  if (Status s = conn.add_text_function("rewind_name_skeleton", &unicode::confusable_skeleton);
      !s.ok())
    return s;
  int version = 0;
  {
    auto q = conn.query("PRAGMA user_version");
    if (q.step()) version = static_cast<int>(q.int64(0));
    if (q.failed()) return Error{Errc::kInternal, "reading user_version: " + conn.last_error()};
  }
  if (version > latest_schema_version())
    return Error{Errc::kInternal, "database schema version " + std::to_string(version) +
                                      " is newer than this build (" +
                                      std::to_string(latest_schema_version()) + ")"};
  for (int v = version; v < std::min(up_to, latest_schema_version()); ++v) {
    std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] +
                      "PRAGMA user_version = " + std::to_string(v + 1) + "; COMMIT;";
    if (Status s = conn.exec(sql); !s.ok()) {
      (void)conn.exec("ROLLBACK");
      return Error{Errc::kInternal,
                   "migration " + std::to_string(v + 1) + " failed: " + s.error().detail};
    }
  }
  return {};
}

}  // namespace rwd::store
