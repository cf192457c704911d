#include "store/postgres/migrations.h"

#include <libpq-fe.h>

#include <algorithm>
#include <iterator>
#include <string>

#include "store/postgres/pg_util.h"

namespace rwd::store::postgres {

namespace {

// Append only: a released migration is never edited; a function changes by a later
// CREATE OR REPLACE. Times are microseconds since the Unix epoch, UTC; ids are snowflakes
// given by the application (except outbox ids). Names are compared by keys computed in C++
// (base/unicode.h: name_key, confusable_skeleton) and sent with the row, never recomputed
// here, so both stores refuse exactly the same names.
const char* const kMigrations[] = {
    // 1: the tables. The constraints state the rules the code relies on, so that a bug that
    // would break one fails its write instead of storing a contradiction.
    R"sql(
CREATE TABLE users (
  id            bigint PRIMARY KEY,
  name          text   NOT NULL,
  name_key      text   NOT NULL UNIQUE,  -- NFC, case folded: one account per name
  name_skeleton text   NOT NULL UNIQUE,  -- TS #39 skeleton: no lookalike of a taken name
  email         text   NOT NULL,
  email_lower   text   NOT NULL UNIQUE,
  password_hash text   NOT NULL,
  profile       text,
  created_us    bigint NOT NULL
);
-- The key and skeleton are kept with the registration so that verification compares them
-- without recomputing them in SQL.
CREATE TABLE pending_registrations (
  email_lower   text   PRIMARY KEY,
  email         text   NOT NULL,
  name          text   NOT NULL,
  name_key      text   NOT NULL,
  name_skeleton text   NOT NULL,
  password_hash text   NOT NULL,
  key_hash      text   NOT NULL UNIQUE,
  created_us    bigint NOT NULL,
  expires_us    bigint NOT NULL
);
CREATE INDEX pending_registrations_by_expiry ON pending_registrations (expires_us);
CREATE TABLE tokens (
  hash       text    PRIMARY KEY,
  user_id    bigint  NOT NULL REFERENCES users (id),
  created_us bigint  NOT NULL,
  expires_us bigint  NOT NULL,
  revoked    boolean NOT NULL DEFAULT false
);
CREATE INDEX tokens_by_expiry ON tokens (expires_us);
CREATE INDEX tokens_revoked ON tokens (hash) WHERE revoked;
CREATE TABLE friend_requests (
  from_id    bigint NOT NULL REFERENCES users (id),
  to_id      bigint NOT NULL REFERENCES users (id),
  created_us bigint NOT NULL,
  PRIMARY KEY (from_id, to_id),
  CHECK (from_id <> to_id)
);
CREATE TABLE friendships (
  user_lo    bigint NOT NULL REFERENCES users (id),
  user_hi    bigint NOT NULL REFERENCES users (id),
  created_us bigint NOT NULL,
  PRIMARY KEY (user_lo, user_hi),
  CHECK (user_lo < user_hi)
);
-- kind 0: the direct-message chat of the pair (user_lo, user_hi), one per pair, kept after a
-- friendship ends so that history survives unfriending and befriending again.
-- kind 1: a guild's chat (same id as the guild), kept after the guild is deleted.
CREATE TABLE chats (
  id         bigint   PRIMARY KEY,
  kind       smallint NOT NULL,
  user_lo    bigint   REFERENCES users (id),
  user_hi    bigint   REFERENCES users (id),
  created_us bigint   NOT NULL,
  CHECK ((kind = 0 AND user_lo IS NOT NULL AND user_hi IS NOT NULL AND user_lo < user_hi) OR
         (kind = 1 AND user_lo IS NULL AND user_hi IS NULL))
);
CREATE UNIQUE INDEX chats_dm_pair ON chats (user_lo, user_hi) WHERE kind = 0;
CREATE TABLE messages (
  id         bigint  PRIMARY KEY,
  chat_id    bigint  NOT NULL REFERENCES chats (id),
  author_id  bigint  NOT NULL REFERENCES users (id),
  content    text    NOT NULL,
  created_us bigint  NOT NULL,
  edited_us  bigint,
  deleted    boolean NOT NULL DEFAULT false,
  CHECK (NOT deleted OR (content = '' AND edited_us IS NOT NULL))
);
-- History: the newest live messages of a chat before a time (PostgresStore::load_messages),
-- read backwards from the cursor.
CREATE INDEX messages_history ON messages (chat_id, created_us, id) WHERE NOT deleted;
CREATE TABLE outbox (
  id              bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient       text    NOT NULL,
  subject         text    NOT NULL,
  body            text    NOT NULL,
  created_us      bigint  NOT NULL,
  attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_us bigint  NOT NULL,
  last_error      text,
  sent_us         bigint
);
CREATE INDEX outbox_due ON outbox (next_attempt_us) WHERE sent_us IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_us) WHERE sent_us IS NOT NULL;
CREATE TABLE guilds (
  id         bigint PRIMARY KEY REFERENCES chats (id),
  name       text   NOT NULL,
  owner_id   bigint NOT NULL REFERENCES users (id),
  created_us bigint NOT NULL
);
CREATE TABLE guild_members (
  guild_id  bigint NOT NULL REFERENCES guilds (id) ON DELETE CASCADE,
  user_id   bigint NOT NULL REFERENCES users (id),
  joined_us bigint NOT NULL,
  PRIMARY KEY (guild_id, user_id)
);
CREATE INDEX guild_members_by_user ON guild_members (user_id);
-- The owner is a member. Deferrable because a guild and its first member reference each
-- other: rwd_create_guild defers it for its own two inserts only.
ALTER TABLE guilds ADD CONSTRAINT guilds_owner_is_member FOREIGN KEY (id, owner_id)
  REFERENCES guild_members (guild_id, user_id) DEFERRABLE INITIALLY IMMEDIATE;
-- Every write transaction inserts its batch's id here: after a connection is lost while a
-- COMMIT was in flight, the row says whether that transaction committed. `fenced` rows are
-- inserted by the settlement instead, which makes the lost transaction unable to commit.
-- Pruned after a day.
CREATE TABLE write_batches (
  id          uuid    PRIMARY KEY,
  recorded_us bigint  NOT NULL,
  fenced      boolean NOT NULL DEFAULT false
);
CREATE INDEX write_batches_by_time ON write_batches (recorded_us);
)sql",

    // 2: the decisions. Each conditional write of store.h is one function call, so that a
    // batch of writes is one pipelined round trip with no client-side branching. A broken
    // rule is returned as an outcome ('ok' or the rule's name), never raised: raising would
    // abort the whole batch's transaction.
    R"sql(
CREATE FUNCTION rwd_now_us() RETURNS bigint LANGUAGE sql VOLATILE AS
  $$ SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint $$;

-- Serializes the friend operations of one pair across every process writing the database.
CREATE FUNCTION rwd_lock_pair(p_a bigint, p_b bigint) RETURNS void LANGUAGE sql AS
  $$ SELECT pg_advisory_xact_lock(hashtextextended(least(p_a, p_b) || ':' || greatest(p_a, p_b), 0)) $$;

CREATE FUNCTION rwd_put_registration(
    p_email_lower text, p_email text, p_name text, p_name_key text, p_name_skeleton text,
    p_password_hash text, p_key_hash text, p_created_us bigint, p_expires_us bigint,
    p_recipient text, p_subject text, p_body text, p_next_attempt_us bigint)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  -- The same key for another email replaces that registration too.
  DELETE FROM pending_registrations WHERE key_hash = p_key_hash AND email_lower <> p_email_lower;
  INSERT INTO pending_registrations (email_lower, email, name, name_key, name_skeleton,
                                     password_hash, key_hash, created_us, expires_us)
  VALUES (p_email_lower, p_email, p_name, p_name_key, p_name_skeleton, p_password_hash,
          p_key_hash, p_created_us, p_expires_us)
  ON CONFLICT (email_lower) DO UPDATE SET
    email = EXCLUDED.email, name = EXCLUDED.name, name_key = EXCLUDED.name_key,
    name_skeleton = EXCLUDED.name_skeleton, password_hash = EXCLUDED.password_hash,
    key_hash = EXCLUDED.key_hash, created_us = EXCLUDED.created_us,
    expires_us = EXCLUDED.expires_us;
  INSERT INTO outbox (recipient, subject, body, created_us, next_attempt_us)
  VALUES (p_recipient, p_subject, p_body, p_created_us,
          COALESCE(NULLIF(p_next_attempt_us, 0), p_created_us));
  RETURN 'ok';
END $$;

CREATE FUNCTION rwd_verify_registration(
    p_key_hash text, p_now_us bigint, p_user_id bigint,
    OUT outcome text, OUT v_name text, OUT v_email text, OUT v_password_hash text)
LANGUAGE plpgsql AS $$
DECLARE
  r pending_registrations;
BEGIN
  SELECT * INTO r FROM pending_registrations WHERE key_hash = p_key_hash FOR UPDATE;
  IF NOT FOUND OR r.expires_us <= p_now_us THEN
    outcome := 'link_invalid'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM users WHERE email_lower = r.email_lower) THEN
    outcome := 'link_invalid'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM users WHERE name_key = r.name_key OR name_skeleton = r.name_skeleton) THEN
    outcome := 'name_taken'; RETURN;
  END IF;
  BEGIN
    INSERT INTO users (id, name, name_key, name_skeleton, email, email_lower, password_hash,
                       created_us)
    VALUES (p_user_id, r.name, r.name_key, r.name_skeleton, r.email, r.email_lower,
            r.password_hash, p_now_us);
  EXCEPTION WHEN unique_violation THEN
    -- Another process created the same name or email between the check and the insert.
    outcome := CASE WHEN EXISTS (SELECT 1 FROM users WHERE email_lower = r.email_lower)
                    THEN 'link_invalid' ELSE 'name_taken' END;
    RETURN;
  END;
  DELETE FROM pending_registrations WHERE email_lower = r.email_lower;
  outcome := 'ok'; v_name := r.name; v_email := r.email; v_password_hash := r.password_hash;
END $$;

CREATE FUNCTION rwd_revoke_token(p_hash text, p_now_us bigint,
                                 OUT outcome text, OUT v_user_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE tokens SET revoked = true
   WHERE hash = p_hash AND NOT revoked AND expires_us > p_now_us
  RETURNING tokens.user_id INTO v_user_id;
  outcome := CASE WHEN FOUND THEN 'ok' ELSE 'unauthorized' END;
END $$;

-- Makes lo and hi friends (their crossed requests are gone) and returns their chat, created
-- with p_chat_id if the pair never had one.
CREATE FUNCTION rwd_befriend(p_lo bigint, p_hi bigint, p_chat_id bigint, p_now_us bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM friend_requests
   WHERE (from_id = p_lo AND to_id = p_hi) OR (from_id = p_hi AND to_id = p_lo);
  INSERT INTO friendships (user_lo, user_hi, created_us) VALUES (p_lo, p_hi, p_now_us)
  ON CONFLICT DO NOTHING;
  INSERT INTO chats (id, kind, user_lo, user_hi, created_us) VALUES (p_chat_id, 0, p_lo, p_hi, p_now_us)
  ON CONFLICT DO NOTHING;
  RETURN (SELECT id FROM chats WHERE kind = 0 AND user_lo = p_lo AND user_hi = p_hi);
END $$;

CREATE FUNCTION rwd_request_friend(p_from bigint, p_to bigint, p_chat_id bigint, p_now_us bigint,
                                   OUT outcome text, OUT v_befriended boolean, OUT v_chat_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  lo bigint := least(p_from, p_to);
  hi bigint := greatest(p_from, p_to);
BEGIN
  v_befriended := false; v_chat_id := 0;
  IF p_from = p_to THEN
    outcome := 'self_target'; RETURN;
  END IF;
  PERFORM rwd_lock_pair(p_from, p_to);
  IF EXISTS (SELECT 1 FROM friendships WHERE user_lo = lo AND user_hi = hi) THEN
    outcome := 'already_friends'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friend_requests WHERE from_id = p_from AND to_id = p_to) THEN
    outcome := 'already_requested'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friend_requests WHERE from_id = p_to AND to_id = p_from) THEN
    v_chat_id := rwd_befriend(lo, hi, p_chat_id, p_now_us);
    v_befriended := true; outcome := 'ok'; RETURN;
  END IF;
  INSERT INTO friend_requests (from_id, to_id, created_us) VALUES (p_from, p_to, p_now_us);
  outcome := 'ok';
END $$;

CREATE FUNCTION rwd_accept_friend(p_user bigint, p_requester bigint, p_chat_id bigint,
                                  p_now_us bigint, OUT outcome text, OUT v_chat_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rwd_lock_pair(p_user, p_requester);
  IF NOT EXISTS (SELECT 1 FROM friend_requests WHERE from_id = p_requester AND to_id = p_user) THEN
    outcome := 'not_requested'; RETURN;
  END IF;
  v_chat_id := rwd_befriend(least(p_user, p_requester), greatest(p_user, p_requester),
                            p_chat_id, p_now_us);
  outcome := 'ok';
END $$;

CREATE FUNCTION rwd_cancel_friend_request(p_user bigint, p_other bigint,
                                          OUT outcome text, OUT v_from bigint, OUT v_to bigint)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rwd_lock_pair(p_user, p_other);
  DELETE FROM friend_requests WHERE from_id = p_user AND to_id = p_other;
  IF FOUND THEN
    outcome := 'ok'; v_from := p_user; v_to := p_other; RETURN;
  END IF;
  DELETE FROM friend_requests WHERE from_id = p_other AND to_id = p_user;
  IF FOUND THEN
    outcome := 'ok'; v_from := p_other; v_to := p_user; RETURN;
  END IF;
  outcome := 'not_requested';
END $$;

CREATE FUNCTION rwd_unfriend(p_user bigint, p_other bigint) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM friendships WHERE user_lo = least(p_user, p_other) AND user_hi = greatest(p_user, p_other);
  RETURN CASE WHEN FOUND THEN 'ok' ELSE 'not_friends' END;
END $$;

CREATE FUNCTION rwd_edit_message(p_chat_id bigint, p_message_id bigint, p_author_id bigint,
                                 p_content text, p_now_us bigint,
                                 OUT outcome text, OUT v_created_us bigint)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE messages SET content = p_content, deleted = (p_content = ''), edited_us = p_now_us
   WHERE id = p_message_id AND chat_id = p_chat_id AND author_id = p_author_id AND NOT deleted
  RETURNING messages.created_us INTO v_created_us;
  outcome := CASE WHEN FOUND THEN 'ok' ELSE 'message_not_found' END;
END $$;

-- What every guild function returns: the outcome and the guild as it is after the change
-- (members in joining order, ties by id), or as it was for a deletion.
CREATE TYPE rwd_guild_result AS (
  outcome          text,
  guild_id         bigint,
  name             text,
  owner_id         bigint,
  created_us       bigint,
  member_ids       bigint[],
  member_joined_us bigint[],
  new_owner        bigint,   -- leave: the member the guild passed to
  guild_deleted    boolean   -- leave: the last member left
);

CREATE FUNCTION rwd_guild_state(p_outcome text, p_guild_id bigint) RETURNS rwd_guild_result
LANGUAGE sql AS $$
  SELECT p_outcome, g.id, g.name, g.owner_id, g.created_us,
         (SELECT array_agg(m.user_id ORDER BY m.joined_us, m.user_id)
            FROM guild_members m WHERE m.guild_id = g.id),
         (SELECT array_agg(m.joined_us ORDER BY m.joined_us, m.user_id)
            FROM guild_members m WHERE m.guild_id = g.id),
         NULL::bigint, false
    FROM guilds g WHERE g.id = p_guild_id
$$;

CREATE FUNCTION rwd_guild_outcome(p_outcome text) RETURNS rwd_guild_result LANGUAGE sql AS
  $$ SELECT p_outcome, NULL::bigint, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint[],
            NULL::bigint[], NULL::bigint, false $$;

-- Locks the guild for the rest of the transaction and returns its owner when p_user is a
-- member; NULL when the guild does not exist or p_user is not a member.
CREATE FUNCTION rwd_lock_guild_for(p_guild_id bigint, p_user bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint;
BEGIN
  SELECT owner_id INTO v_owner FROM guilds WHERE id = p_guild_id FOR UPDATE;
  IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM guild_members
                               WHERE guild_id = p_guild_id AND user_id = p_user) THEN
    RETURN NULL;
  END IF;
  RETURN v_owner;
END $$;

CREATE FUNCTION rwd_create_guild(p_guild_id bigint, p_name text, p_owner_id bigint,
                                 p_created_us bigint)
RETURNS rwd_guild_result LANGUAGE plpgsql AS $$
BEGIN
  SET CONSTRAINTS guilds_owner_is_member DEFERRED;
  INSERT INTO chats (id, kind, created_us) VALUES (p_guild_id, 1, p_created_us);
  INSERT INTO guilds (id, name, owner_id, created_us)
  VALUES (p_guild_id, p_name, p_owner_id, p_created_us);
  INSERT INTO guild_members (guild_id, user_id, joined_us)
  VALUES (p_guild_id, p_owner_id, p_created_us);
  SET CONSTRAINTS guilds_owner_is_member IMMEDIATE;
  RETURN rwd_guild_state('ok', p_guild_id);
END $$;

CREATE FUNCTION rwd_rename_guild(p_guild_id bigint, p_actor bigint, p_name text)
RETURNS rwd_guild_result LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint := rwd_lock_guild_for(p_guild_id, p_actor);
BEGIN
  IF v_owner IS NULL THEN RETURN rwd_guild_outcome('guild_not_found'); END IF;
  IF v_owner <> p_actor THEN RETURN rwd_guild_outcome('not_guild_owner'); END IF;
  UPDATE guilds SET name = p_name WHERE id = p_guild_id;
  RETURN rwd_guild_state('ok', p_guild_id);
END $$;

CREATE FUNCTION rwd_add_guild_member(p_guild_id bigint, p_actor bigint, p_user bigint,
                                     p_now_us bigint, p_max_members bigint)
RETURNS rwd_guild_result LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint := rwd_lock_guild_for(p_guild_id, p_actor);
  v_count bigint;
  v_last bigint;
BEGIN
  IF v_owner IS NULL THEN RETURN rwd_guild_outcome('guild_not_found'); END IF;
  IF EXISTS (SELECT 1 FROM guild_members WHERE guild_id = p_guild_id AND user_id = p_user) THEN
    RETURN rwd_guild_outcome('already_member');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM friendships
                  WHERE user_lo = least(p_actor, p_user) AND user_hi = greatest(p_actor, p_user)) THEN
    RETURN rwd_guild_outcome('not_friends');
  END IF;
  SELECT count(*), max(joined_us) INTO v_count, v_last
    FROM guild_members WHERE guild_id = p_guild_id;
  IF v_count >= p_max_members THEN RETURN rwd_guild_outcome('guild_full'); END IF;
  INSERT INTO guild_members (guild_id, user_id, joined_us)
  VALUES (p_guild_id, p_user, greatest(p_now_us, v_last));
  RETURN rwd_guild_state('ok', p_guild_id);
END $$;

CREATE FUNCTION rwd_remove_guild_member(p_guild_id bigint, p_actor bigint, p_user bigint)
RETURNS rwd_guild_result LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint := rwd_lock_guild_for(p_guild_id, p_actor);
BEGIN
  IF v_owner IS NULL THEN RETURN rwd_guild_outcome('guild_not_found'); END IF;
  IF v_owner <> p_actor THEN RETURN rwd_guild_outcome('not_guild_owner'); END IF;
  IF p_user = v_owner THEN RETURN rwd_guild_outcome('self_target'); END IF;
  DELETE FROM guild_members WHERE guild_id = p_guild_id AND user_id = p_user;
  IF NOT FOUND THEN RETURN rwd_guild_outcome('user_not_found'); END IF;
  RETURN rwd_guild_state('ok', p_guild_id);
END $$;

CREATE FUNCTION rwd_leave_guild(p_guild_id bigint, p_user bigint)
RETURNS rwd_guild_result LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint := rwd_lock_guild_for(p_guild_id, p_user);
  v_heir bigint;
  v_result rwd_guild_result;
BEGIN
  IF v_owner IS NULL THEN RETURN rwd_guild_outcome('guild_not_found'); END IF;
  SELECT user_id INTO v_heir FROM guild_members
   WHERE guild_id = p_guild_id AND user_id <> p_user
   ORDER BY joined_us, user_id LIMIT 1;
  IF v_heir IS NULL THEN
    DELETE FROM guilds WHERE id = p_guild_id;  -- its members go with it
    v_result := rwd_guild_outcome('ok');
    v_result.guild_deleted := true;
    RETURN v_result;
  END IF;
  IF v_owner = p_user THEN
    UPDATE guilds SET owner_id = v_heir WHERE id = p_guild_id;
  END IF;
  DELETE FROM guild_members WHERE guild_id = p_guild_id AND user_id = p_user;
  v_result := rwd_guild_state('ok', p_guild_id);
  IF v_owner = p_user THEN v_result.new_owner := v_heir; END IF;
  RETURN v_result;
END $$;

CREATE FUNCTION rwd_delete_guild(p_guild_id bigint, p_actor bigint)
RETURNS rwd_guild_result LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint := rwd_lock_guild_for(p_guild_id, p_actor);
  v_before rwd_guild_result;
BEGIN
  IF v_owner IS NULL THEN RETURN rwd_guild_outcome('guild_not_found'); END IF;
  IF v_owner <> p_actor THEN RETURN rwd_guild_outcome('not_guild_owner'); END IF;
  v_before := rwd_guild_state('ok', p_guild_id);
  DELETE FROM guilds WHERE id = p_guild_id;  -- its members go with it; its chat stays
  RETURN v_before;
END $$;

-- Deletes at most p_limit rows of each kind that serve nothing any more (see PostgresOptions).
CREATE FUNCTION rwd_prune(p_now_us bigint, p_sent_before_us bigint, p_batches_before_us bigint,
                          p_limit integer,
                          OUT expired_tokens bigint, OUT revoked_tokens bigint,
                          OUT registrations bigint, OUT sent_mail bigint)
LANGUAGE plpgsql AS $$
BEGIN
  WITH d AS (DELETE FROM tokens WHERE hash IN
               (SELECT hash FROM tokens WHERE expires_us <= p_now_us LIMIT p_limit) RETURNING 1)
  SELECT count(*) INTO expired_tokens FROM d;
  WITH d AS (DELETE FROM tokens WHERE hash IN
               (SELECT hash FROM tokens WHERE revoked LIMIT p_limit) RETURNING 1)
  SELECT count(*) INTO revoked_tokens FROM d;
  WITH d AS (DELETE FROM pending_registrations WHERE email_lower IN
               (SELECT email_lower FROM pending_registrations
                 WHERE expires_us <= p_now_us LIMIT p_limit) RETURNING 1)
  SELECT count(*) INTO registrations FROM d;
  WITH d AS (DELETE FROM outbox WHERE id IN
               (SELECT id FROM outbox WHERE sent_us IS NOT NULL AND sent_us <= p_sent_before_us
                 LIMIT p_limit) RETURNING 1)
  SELECT count(*) INTO sent_mail FROM d;
  DELETE FROM write_batches WHERE id IN
    (SELECT id FROM write_batches WHERE recorded_us <= p_batches_before_us LIMIT p_limit);
END $$;
)sql",

    // 3: worker ids. A process without --worker-id leases a free id in 0..1023 (one
    // snowflake sequence each), renews the lease while it runs and loses it when it stops
    // renewing. Expiry is judged by the database's clock, the one clock all processes share.
    R"sql(
CREATE TABLE worker_leases (
  worker_id  integer PRIMARY KEY CHECK (worker_id BETWEEN 0 AND 1023),
  holder     text    NOT NULL,
  expires_us bigint  NOT NULL
);

CREATE FUNCTION rwd_lease_worker_id(p_holder text, p_ttl_us bigint) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_now bigint := rwd_now_us();
  v_id integer;
BEGIN
  -- One lease decision at a time across processes, so two never take the same free id.
  PERFORM pg_advisory_xact_lock(hashtextextended('rewind worker leases', 0));
  SELECT s INTO v_id FROM generate_series(0, 1023) s
   WHERE NOT EXISTS (SELECT 1 FROM worker_leases l WHERE l.worker_id = s AND l.expires_us > v_now)
   ORDER BY s LIMIT 1;
  IF v_id IS NULL THEN RETURN NULL; END IF;
  INSERT INTO worker_leases (worker_id, holder, expires_us) VALUES (v_id, p_holder, v_now + p_ttl_us)
  ON CONFLICT (worker_id) DO UPDATE SET holder = EXCLUDED.holder, expires_us = EXCLUDED.expires_us;
  RETURN v_id;
END $$;

-- Takes the given id (--worker-id) when no live process holds it. False: it is held.
CREATE FUNCTION rwd_claim_worker_id(p_worker_id integer, p_holder text, p_ttl_us bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  v_now bigint := rwd_now_us();
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('rewind worker leases', 0));
  INSERT INTO worker_leases (worker_id, holder, expires_us) VALUES (p_worker_id, p_holder, v_now + p_ttl_us)
  ON CONFLICT (worker_id) DO UPDATE SET holder = EXCLUDED.holder, expires_us = EXCLUDED.expires_us
    WHERE worker_leases.expires_us <= v_now;
  RETURN FOUND;
END $$;

-- True when the lease is still p_holder's, now extended; false when another process took
-- it (or took and released it) after it expired. An expired lease nobody took is still ours:
-- an outage of the database longer than the ttl must not cost every process its id.
CREATE FUNCTION rwd_renew_worker_id(p_worker_id integer, p_holder text, p_ttl_us bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE worker_leases SET expires_us = rwd_now_us() + p_ttl_us
   WHERE worker_id = p_worker_id AND holder = p_holder;
  RETURN FOUND;
END $$;

CREATE FUNCTION rwd_release_worker_id(p_worker_id integer, p_holder text) RETURNS void
LANGUAGE sql AS $$
  DELETE FROM worker_leases WHERE worker_id = p_worker_id AND holder = p_holder
$$;
)sql",

    // 4: a message is stored by a function that tells a repeat from a collision. The same
    // message sent again (a batch resent because its first outcome was misjudged) is a no-op;
    // another message under a taken id (two processes minting ids with one worker id) raises,
    // so the write fails loudly instead of being acknowledged and silently dropped.
    R"sql(
CREATE FUNCTION rwd_put_message(p_id bigint, p_chat_id bigint, p_author_id bigint,
                                p_content text, p_created_us bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO messages (id, chat_id, author_id, content, created_us)
  VALUES (p_id, p_chat_id, p_author_id, p_content, p_created_us)
  ON CONFLICT (id) DO NOTHING;
  IF NOT FOUND AND NOT EXISTS (
      SELECT 1 FROM messages WHERE id = p_id AND chat_id = p_chat_id
         AND author_id = p_author_id AND created_us = p_created_us
         AND content = p_content) THEN
    RAISE EXCEPTION 'message id % is taken by another message', p_id
      USING ERRCODE = 'unique_violation';
  END IF;
END $$;
)sql",

    // 5: the chat sequence (store.h): every committed change of a chat takes the chat's next
    // seq, gapless, under the chat row's lock, so seq order is commit order.
    //  - chats.last_seq: the seq of the chat's latest change. Taking a seq is an UPDATE of this
    //    row, and the writer locks a batch's chats in id order before its first write
    //    (PostgresStore::run_batch), so two processes' batches queue instead of deadlocking.
    //  - messages.seq: the seq of the send, unique per chat.
    //  - message_changes: one row per edit or deletion, (chat_id, seq) its key. A row keeps
    //    the text the change replaced (content_before), not the one it set, so that every
    //    version of a text is stored once and nothing is copied: the version as of a change
    //    is the content_before of the message's next change, or messages.content after the
    //    last one. A deletion empties content_before on every change of its message, as it
    //    empties messages.content: a deleted text is gone from every version.
    // The message of a change row must be in the row's chat: the foreign key on
    // (message_id, chat_id) says so, and needs messages' (id, chat_id) unique. A unique key
    // can't span the two tables; both take their seqs only from rwd_next_seq, which hands
    // each out once. Messages stored before this version take seqs in id order per chat and
    // last_seq their count; their earlier edits were never recorded.
    R"sql(
ALTER TABLE chats ADD COLUMN last_seq bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0);
ALTER TABLE messages ADD COLUMN seq bigint;
UPDATE messages m SET seq = b.seq
  FROM (SELECT id, row_number() OVER (PARTITION BY chat_id ORDER BY id) AS seq FROM messages) b
 WHERE b.id = m.id;
UPDATE chats c SET last_seq = n.count
  FROM (SELECT chat_id, count(*) AS count FROM messages GROUP BY chat_id) n
 WHERE n.chat_id = c.id;
ALTER TABLE messages ALTER COLUMN seq SET NOT NULL,
  ADD CONSTRAINT messages_seq_positive CHECK (seq > 0),
  ADD CONSTRAINT messages_chat_seq UNIQUE (chat_id, seq),
  ADD CONSTRAINT messages_id_chat UNIQUE (id, chat_id);
CREATE TABLE message_changes (
  chat_id        bigint  NOT NULL,
  seq            bigint  NOT NULL CHECK (seq > 0),
  message_id     bigint  NOT NULL,
  deleted        boolean NOT NULL,  -- false: an edit
  edited_us      bigint  NOT NULL,
  content_before text    NOT NULL,
  PRIMARY KEY (chat_id, seq),
  FOREIGN KEY (message_id, chat_id) REFERENCES messages (id, chat_id)
);
CREATE INDEX message_changes_by_message ON message_changes (message_id, seq);

-- Takes p_chat_id's next seq. The chat is locked already when the writer locked the batch's
-- chats; otherwise (a chat created in the same batch) this UPDATE locks it.
CREATE FUNCTION rwd_next_seq(p_chat_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
BEGIN
  UPDATE chats SET last_seq = last_seq + 1 WHERE id = p_chat_id RETURNING last_seq INTO v_seq;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no chat %', p_chat_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN v_seq;
END $$;

-- As before, and answers the message's seq. A repeat (a batch settled as not committed and
-- sent again, or a message put twice) answers the seq the message has and takes none.
DROP FUNCTION rwd_put_message(bigint, bigint, bigint, text, bigint);
CREATE FUNCTION rwd_put_message(p_id bigint, p_chat_id bigint, p_author_id bigint,
                                p_content text, p_created_us bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  m messages;
  v_seq bigint;
BEGIN
  SELECT * INTO m FROM messages WHERE id = p_id;
  IF FOUND THEN
    IF m.chat_id = p_chat_id AND m.author_id = p_author_id AND m.created_us = p_created_us
       AND m.content = p_content THEN
      RETURN m.seq;
    END IF;
    RAISE EXCEPTION 'message id % is taken by another message', p_id
      USING ERRCODE = 'unique_violation';
  END IF;
  v_seq := rwd_next_seq(p_chat_id);
  INSERT INTO messages (id, chat_id, author_id, content, created_us, seq)
  VALUES (p_id, p_chat_id, p_author_id, p_content, p_created_us, v_seq);
  RETURN v_seq;
END $$;

DROP FUNCTION rwd_edit_message(bigint, bigint, bigint, text, bigint);
CREATE FUNCTION rwd_edit_message(p_chat_id bigint, p_message_id bigint, p_author_id bigint,
                                 p_content text, p_now_us bigint,
                                 OUT outcome text, OUT v_created_us bigint, OUT v_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_before text;
BEGIN
  SELECT created_us, content INTO v_created_us, v_before FROM messages
   WHERE id = p_message_id AND chat_id = p_chat_id AND author_id = p_author_id AND NOT deleted
     FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    outcome := 'message_not_found'; RETURN;
  END IF;
  v_seq := rwd_next_seq(p_chat_id);
  IF p_content = '' THEN
    UPDATE message_changes SET content_before = '' WHERE message_id = p_message_id;
    v_before := '';
  END IF;
  INSERT INTO message_changes (chat_id, seq, message_id, deleted, edited_us, content_before)
  VALUES (p_chat_id, v_seq, p_message_id, p_content = '', p_now_us, v_before);
  UPDATE messages SET content = p_content, deleted = (p_content = ''), edited_us = p_now_us
   WHERE id = p_message_id;
  outcome := 'ok';
END $$;
)sql",

    // 6: the result of each decision (its outcome and what it produced), stored by the write
    // itself in its batch's transaction, as its row's text. A batch whose COMMIT was in doubt
    // and which proves committed is answered from here, so its callers (and the cache they
    // update) see what committed. Goes with its batch's marker. A message's send stores
    // nothing here (a row per message would cost throughput): its seq is read back from
    // messages.
    R"sql(
CREATE TABLE write_results (
  batch_id uuid    NOT NULL REFERENCES write_batches (id) ON DELETE CASCADE,
  position integer NOT NULL,
  result   text    NOT NULL,
  PRIMARY KEY (batch_id, position)
);
)sql",

    // 7: the sends of a batch in one statement. A batch's consecutive message sends go as one
    // call with their fields as arrays (PostgresStore::run_batch), instead of one call each:
    // one statement, one UPDATE of each chat's last_seq and one INSERT for them all. Same
    // rules as rwd_put_message, which stays for sends on their own.
    R"sql(
-- Stores the messages given as arrays (one element per message, in submission order) and
-- answers their seqs, one row per message in the same order. Each chat's new messages take
-- its next seqs in that order. A message stored already (or given twice) is a repeat, as for
-- rwd_put_message: those go one at a time through it, in order, which keeps every rule
-- (a repeat answers the seq the message has; another message under a taken id raises).
-- enable_seqscan is off in it: PL/pgSQL keeps the plans it made at its connection's first call,
-- and on a new database, while messages was empty, `id = ANY(p_ids)` was planned as a scan of
-- the whole table, which every batch then repeated as the table grew (until an ANALYZE).
-- Every table this function reads it reads by a key.
CREATE FUNCTION rwd_put_messages(p_ids bigint[], p_chat_ids bigint[], p_author_ids bigint[],
                                 p_contents text[], p_created_us bigint[])
RETURNS SETOF bigint LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
  v_count bigint;
BEGIN
  IF (SELECT count(DISTINCT id) FROM unnest(p_ids) AS id) <> cardinality(p_ids)
     OR EXISTS (SELECT 1 FROM messages WHERE id = ANY(p_ids)) THEN
    FOR i IN 1 .. cardinality(p_ids) LOOP
      RETURN NEXT rwd_put_message(p_ids[i], p_chat_ids[i], p_author_ids[i], p_contents[i],
                                  p_created_us[i]);
    END LOOP;
    RETURN;
  END IF;
  -- All new: each chat's last_seq goes up by its count once, and its messages take the seqs
  -- after the old value in submission order.
  RETURN QUERY
  WITH sent AS (
    SELECT * FROM unnest(p_ids, p_chat_ids, p_author_ids, p_contents, p_created_us)
                  WITH ORDINALITY AS s(id, chat_id, author_id, content, created_us, n)
  ), counts AS (
    SELECT chat_id, count(*) AS n FROM sent GROUP BY chat_id
  ), taken AS (
    UPDATE chats c SET last_seq = c.last_seq + counts.n FROM counts WHERE c.id = counts.chat_id
    RETURNING c.id, c.last_seq - counts.n AS before
  ), stored AS (
    INSERT INTO messages (id, chat_id, author_id, content, created_us, seq)
    SELECT s.id, s.chat_id, s.author_id, s.content, s.created_us,
           t.before + row_number() OVER (PARTITION BY s.chat_id ORDER BY s.n)
      FROM sent s JOIN taken t ON t.id = s.chat_id
    RETURNING id, seq
  )
  SELECT stored.seq FROM sent JOIN stored ON stored.id = sent.id ORDER BY sent.n;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count <> cardinality(p_ids) THEN
    RAISE EXCEPTION 'a message names no chat' USING ERRCODE = 'foreign_key_violation';
  END IF;
END $$;
)sql",

    // 8: password reset keys, one per user at most (a new request replaces the unused one;
    // using a key deletes it), and the decisions that use them or change a password. Only
    // the key's SHA-256 is stored.
    R"sql(
CREATE TABLE password_resets (
  user_id    bigint PRIMARY KEY REFERENCES users (id),
  key_hash   text   NOT NULL UNIQUE,
  created_us bigint NOT NULL,
  expires_us bigint NOT NULL
);

CREATE FUNCTION rwd_put_password_reset(p_user_id bigint, p_key_hash text, p_created_us bigint,
                                       p_expires_us bigint, p_recipient text, p_subject text,
                                       p_body text, p_next_attempt_us bigint, OUT outcome text)
LANGUAGE plpgsql AS $$
BEGIN
  -- The user's row lock: a reset of the same user waits here.
  PERFORM 1 FROM users WHERE id = p_user_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    outcome := 'user_not_found'; RETURN;
  END IF;
  INSERT INTO password_resets (user_id, key_hash, created_us, expires_us)
  VALUES (p_user_id, p_key_hash, p_created_us, p_expires_us)
  ON CONFLICT (user_id) DO UPDATE
    SET key_hash = EXCLUDED.key_hash, created_us = EXCLUDED.created_us,
        expires_us = EXCLUDED.expires_us;
  INSERT INTO outbox (recipient, subject, body, created_us, next_attempt_us)
  VALUES (p_recipient, p_subject, p_body, p_created_us,
          CASE WHEN p_next_attempt_us = 0 THEN p_created_us ELSE p_next_attempt_us END);
  outcome := 'ok';
END $$;

-- Sets the password hash of p_user_id (when it still is p_old_hash, unless that is NULL) and
-- revokes every live token of the user but p_keep_hash; answers the user and the revoked
-- hashes, comma separated (hex: no comma in them), NULL when none.
CREATE FUNCTION rwd_replace_password(
    p_user_id bigint, p_old_hash text, p_new_hash text, p_keep_hash text, p_now_us bigint,
    OUT outcome text, OUT v_user_id bigint, OUT v_name text, OUT v_email text,
    OUT v_profile text, OUT v_created_us bigint, OUT v_revoked text)
LANGUAGE plpgsql AS $$
DECLARE
  u users;
BEGIN
  SELECT * INTO u FROM users WHERE id = p_user_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    outcome := 'user_not_found'; RETURN;
  END IF;
  IF p_old_hash IS NOT NULL AND u.password_hash <> p_old_hash THEN
    outcome := 'invalid_credentials'; RETURN;
  END IF;
  UPDATE users SET password_hash = p_new_hash WHERE id = p_user_id;
  WITH r AS (UPDATE tokens SET revoked = true
              WHERE user_id = p_user_id AND NOT revoked AND expires_us > p_now_us
                AND hash <> p_keep_hash
             RETURNING hash)
  SELECT string_agg(hash, ',') INTO v_revoked FROM r;
  outcome := 'ok'; v_user_id := u.id; v_name := u.name; v_email := u.email;
  v_profile := u.profile; v_created_us := u.created_us;
END $$;

CREATE FUNCTION rwd_reset_password(
    p_key_hash text, p_new_hash text, p_now_us bigint,
    OUT outcome text, OUT v_user_id bigint, OUT v_name text, OUT v_email text,
    OUT v_profile text, OUT v_created_us bigint, OUT v_revoked text)
LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint;
BEGIN
  -- Deleted as it is used: of two uses of one key, the second finds no row.
  DELETE FROM password_resets WHERE key_hash = p_key_hash AND expires_us > p_now_us
  RETURNING user_id INTO v_owner;
  IF NOT FOUND THEN
    outcome := 'link_invalid'; RETURN;
  END IF;
  SELECT * INTO outcome, v_user_id, v_name, v_email, v_profile, v_created_us, v_revoked
    FROM rwd_replace_password(v_owner, NULL, p_new_hash, '', p_now_us);
END $$;
)sql",
    // 9: accounts an operator disabled (store.h, set_user_disabled). A token is now stored
    // by a function that refuses a disabled user: it holds the user's row FOR SHARE, which a
    // disable (FOR NO KEY UPDATE) waits for and then revokes the new token too, or which
    // waits for the disable and then sees it. Revoked hashes come back comma-separated (they
    // are hex).
    R"sql(
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
CREATE INDEX tokens_by_user ON tokens (user_id, created_us);

-- p_verified_hash (when not '') is the password hash the login verified: a password reset or
-- change that committed since (it holds the row FOR NO KEY UPDATE, which FOR SHARE waits for)
-- refuses the token.
CREATE FUNCTION rwd_put_token(p_hash text, p_user bigint, p_created_us bigint,
                              p_expires_us bigint, p_verified_hash text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_disabled boolean;
  v_password_hash text;
BEGIN
  SELECT disabled, password_hash INTO v_disabled, v_password_hash
    FROM users WHERE id = p_user FOR SHARE;
  IF v_disabled IS DISTINCT FROM false THEN RETURN 'account_disabled'; END IF;
  IF p_verified_hash <> '' AND v_password_hash <> p_verified_hash THEN
    RETURN 'invalid_credentials';
  END IF;
  INSERT INTO tokens (hash, user_id, created_us, expires_us)
  VALUES (p_hash, p_user, p_created_us, p_expires_us);
  RETURN 'ok';
END $$;

CREATE FUNCTION rwd_set_user_disabled(p_user bigint, p_disabled boolean, p_now_us bigint,
                                      OUT outcome text, OUT v_changed boolean,
                                      OUT v_revoked text)
LANGUAGE plpgsql AS $$
DECLARE
  v_was boolean;
BEGIN
  v_changed := false;
  v_revoked := '';
  SELECT disabled INTO v_was FROM users WHERE id = p_user FOR NO KEY UPDATE;
  IF NOT FOUND THEN outcome := 'user_not_found'; RETURN; END IF;
  outcome := 'ok';
  IF v_was = p_disabled THEN RETURN; END IF;
  UPDATE users SET disabled = p_disabled WHERE id = p_user;
  v_changed := true;
  IF p_disabled THEN
    WITH revoked AS (
      UPDATE tokens SET revoked = true
       WHERE user_id = p_user AND NOT revoked AND expires_us > p_now_us
      RETURNING hash
    )
    SELECT coalesce(string_agg(hash, ',' ORDER BY hash), '') INTO v_revoked FROM revoked;
  END IF;
END $$;
)sql",
    // 10: blocks, one-way (store.h, block_user): blocker_id blocks blocked_id. A block and a
    // friend request of the same pair take the pair's lock, so a request racing a block is
    // decided after it (refused) or before it (and removed by it). rwd_request_friend is
    // replaced to refuse a blocked pair: 'user_not_found' to the blocked user (as for a name
    // that does not exist), 'user_blocked' to the blocker.
    R"sql(
CREATE TABLE blocks (
  blocker_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  blocked_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_us bigint NOT NULL,
  PRIMARY KEY (blocker_id, blocked_id),
  CHECK (blocker_id <> blocked_id)
);

CREATE FUNCTION rwd_block_user(p_blocker bigint, p_blocked bigint, p_now_us bigint,
                               OUT outcome text, OUT v_changed boolean,
                               OUT v_unfriended boolean, OUT v_from bigint, OUT v_to bigint)
LANGUAGE plpgsql AS $$
BEGIN
  v_changed := false; v_unfriended := false; v_from := 0; v_to := 0;
  IF p_blocker = p_blocked THEN
    outcome := 'self_target'; RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_blocked)
     OR NOT EXISTS (SELECT 1 FROM users WHERE id = p_blocker) THEN
    outcome := 'user_not_found'; RETURN;
  END IF;
  PERFORM rwd_lock_pair(p_blocker, p_blocked);
  outcome := 'ok';
  INSERT INTO blocks (blocker_id, blocked_id, created_us) VALUES (p_blocker, p_blocked, p_now_us)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN RETURN; END IF;
  v_changed := true;
  DELETE FROM friendships
   WHERE user_lo = least(p_blocker, p_blocked) AND user_hi = greatest(p_blocker, p_blocked);
  v_unfriended := FOUND;
  DELETE FROM friend_requests
   WHERE (from_id = p_blocker AND to_id = p_blocked) OR (from_id = p_blocked AND to_id = p_blocker)
  RETURNING from_id, to_id INTO v_from, v_to;
  IF NOT FOUND THEN v_from := 0; v_to := 0; END IF;
END $$;

CREATE FUNCTION rwd_unblock_user(p_blocker bigint, p_blocked bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rwd_lock_pair(p_blocker, p_blocked);
  DELETE FROM blocks WHERE blocker_id = p_blocker AND blocked_id = p_blocked;
  RETURN FOUND;
END $$;

CREATE OR REPLACE FUNCTION rwd_request_friend(p_from bigint, p_to bigint, p_chat_id bigint,
                                              p_now_us bigint, OUT outcome text,
                                              OUT v_befriended boolean, OUT v_chat_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  lo bigint := least(p_from, p_to);
  hi bigint := greatest(p_from, p_to);
BEGIN
  v_befriended := false; v_chat_id := 0;
  IF p_from = p_to THEN
    outcome := 'self_target'; RETURN;
  END IF;
  PERFORM rwd_lock_pair(p_from, p_to);
  IF EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p_to AND blocked_id = p_from) THEN
    outcome := 'user_not_found'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p_from AND blocked_id = p_to) THEN
    outcome := 'user_blocked'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friendships WHERE user_lo = lo AND user_hi = hi) THEN
    outcome := 'already_friends'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friend_requests WHERE from_id = p_from AND to_id = p_to) THEN
    outcome := 'already_requested'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friend_requests WHERE from_id = p_to AND to_id = p_from) THEN
    v_chat_id := rwd_befriend(lo, hi, p_chat_id, p_now_us);
    v_befriended := true; outcome := 'ok'; RETURN;
  END IF;
  INSERT INTO friend_requests (from_id, to_id, created_us) VALUES (p_from, p_to, p_now_us);
  outcome := 'ok';
END $$;
)sql",
    // 11: accounts deleted by their owner or an operator (store.h, delete_user). The row stays
    // as a tombstone (its id is never reused; messages keep their author) with its name,
    // email and password hash emptied; name_key, name_skeleton and email_lower become
    // '#deleted:<id>', which no name (letters, digits, '_', '.', '-') and no email (it has an
    // '@') can be, so both are free. The user's row is held FOR UPDATE: a token being stored
    // (FOR SHARE) either commits first and is revoked here, or waits and is refused. Guilds
    // are left one by one as rwd_leave_guild leaves them; the results come back as parallel
    // arrays (guild names hex-encoded, comma-separated) in one row.
    R"sql(
ALTER TABLE users ADD COLUMN deleted_us bigint;
CREATE INDEX friend_requests_to ON friend_requests (to_id);
CREATE INDEX friendships_hi ON friendships (user_hi);

CREATE OR REPLACE FUNCTION rwd_put_token(p_hash text, p_user bigint, p_created_us bigint,
                                         p_expires_us bigint, p_verified_hash text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_disabled boolean;
  v_deleted boolean;
  v_password_hash text;
BEGIN
  SELECT disabled, deleted_us IS NOT NULL, password_hash INTO v_disabled, v_deleted,
         v_password_hash
    FROM users WHERE id = p_user FOR SHARE;
  -- A deleted account answers as a wrong password: as an unknown one.
  IF v_deleted THEN RETURN 'invalid_credentials'; END IF;
  IF v_disabled IS DISTINCT FROM false THEN RETURN 'account_disabled'; END IF;
  IF p_verified_hash <> '' AND v_password_hash <> p_verified_hash THEN
    RETURN 'invalid_credentials';
  END IF;
  INSERT INTO tokens (hash, user_id, created_us, expires_us)
  VALUES (p_hash, p_user, p_created_us, p_expires_us);
  RETURN 'ok';
END $$;

CREATE FUNCTION rwd_delete_user(
    p_user bigint, p_verified_hash text, p_now_us bigint,
    OUT outcome text, OUT v_created_us bigint, OUT v_disabled boolean, OUT v_revoked text,
    OUT v_friends bigint[], OUT v_request_from bigint[], OUT v_request_to bigint[],
    OUT v_guild_ids bigint[], OUT v_guild_names text, OUT v_guild_owners bigint[],
    OUT v_guild_created_us bigint[], OUT v_guild_new_owners bigint[],
    OUT v_member_guilds bigint[], OUT v_member_users bigint[], OUT v_member_joined_us bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  v_hash text;
  v_guild bigint;
  v_left rwd_guild_result;
BEGIN
  SELECT password_hash, created_us, disabled INTO v_hash, v_created_us, v_disabled
    FROM users WHERE id = p_user AND deleted_us IS NULL FOR UPDATE;
  IF NOT FOUND THEN outcome := 'user_not_found'; RETURN; END IF;
  IF p_verified_hash <> '' AND v_hash <> p_verified_hash THEN
    outcome := 'invalid_credentials'; RETURN;
  END IF;
  UPDATE users SET name = '', name_key = '#deleted:' || id, name_skeleton = '#deleted:' || id,
                   email = '', email_lower = '#deleted:' || id, password_hash = '',
                   profile = NULL, deleted_us = p_now_us
   WHERE id = p_user;
  WITH revoked AS (
    UPDATE tokens SET revoked = true
     WHERE user_id = p_user AND NOT revoked AND expires_us > p_now_us
    RETURNING hash
  )
  SELECT coalesce(string_agg(hash, ',' ORDER BY hash), '') INTO v_revoked FROM revoked;
  WITH gone AS (
    DELETE FROM friendships WHERE user_lo = p_user OR user_hi = p_user
    RETURNING CASE WHEN user_lo = p_user THEN user_hi ELSE user_lo END AS other
  )
  SELECT coalesce(array_agg(other ORDER BY other), '{}') INTO v_friends FROM gone;
  WITH gone AS (
    DELETE FROM friend_requests WHERE from_id = p_user OR to_id = p_user
    RETURNING from_id, to_id
  )
  SELECT coalesce(array_agg(from_id ORDER BY from_id, to_id), '{}'),
         coalesce(array_agg(to_id ORDER BY from_id, to_id), '{}')
    INTO v_request_from, v_request_to FROM gone;
  DELETE FROM password_resets WHERE user_id = p_user;
  -- Blocks by or of the account serve nothing any more (its name is free for someone else).
  DELETE FROM blocks WHERE blocker_id = p_user OR blocked_id = p_user;
  v_guild_ids := '{}'; v_guild_names := ''; v_guild_owners := '{}';
  v_guild_created_us := '{}'; v_guild_new_owners := '{}';
  v_member_guilds := '{}'; v_member_users := '{}'; v_member_joined_us := '{}';
  FOR v_guild IN SELECT guild_id FROM guild_members WHERE user_id = p_user ORDER BY guild_id LOOP
    v_left := rwd_leave_guild(v_guild, p_user);
    IF v_left.outcome <> 'ok' THEN CONTINUE; END IF;
    v_guild_ids := v_guild_ids || v_guild;
    IF cardinality(v_guild_ids) > 1 THEN v_guild_names := v_guild_names || ','; END IF;
    -- A deleted guild: owner 0, and no name nor members.
    v_guild_names := v_guild_names || coalesce(encode(convert_to(v_left.name, 'UTF8'), 'hex'), '');
    v_guild_owners := v_guild_owners || coalesce(v_left.owner_id, 0);
    v_guild_created_us := v_guild_created_us || coalesce(v_left.created_us, 0);
    v_guild_new_owners := v_guild_new_owners || coalesce(v_left.new_owner, 0);
    v_member_guilds := v_member_guilds ||
                       array_fill(v_guild, ARRAY[coalesce(cardinality(v_left.member_ids), 0)]);
    v_member_users := v_member_users || coalesce(v_left.member_ids, '{}');
    v_member_joined_us := v_member_joined_us || coalesce(v_left.member_joined_us, '{}');
  END LOOP;
  outcome := 'ok';
END $$;
)sql",
    // 12: what a user sees of each of their sessions (store.h, TokenRecord): when its token
    // was last used, and the client that logged in. Tokens from before start at their login.
    // rwd_put_token gains the client as a sixth argument; the five-argument one stays for a
    // node not yet upgraded (its tokens have no client, and readers take created_us as
    // last_seen_us while last_seen_us is 0).
    R"sql(
ALTER TABLE tokens ADD COLUMN last_seen_us bigint NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN client text NOT NULL DEFAULT '';
UPDATE tokens SET last_seen_us = created_us;

CREATE FUNCTION rwd_put_token(p_hash text, p_user bigint, p_created_us bigint,
                              p_expires_us bigint, p_verified_hash text, p_client text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_disabled boolean;
  v_deleted boolean;
  v_password_hash text;
BEGIN
  SELECT disabled, deleted_us IS NOT NULL, password_hash INTO v_disabled, v_deleted,
         v_password_hash
    FROM users WHERE id = p_user FOR SHARE;
  -- A deleted account answers as a wrong password: as an unknown one.
  IF v_deleted THEN RETURN 'invalid_credentials'; END IF;
  IF v_disabled IS DISTINCT FROM false THEN RETURN 'account_disabled'; END IF;
  IF p_verified_hash <> '' AND v_password_hash <> p_verified_hash THEN
    RETURN 'invalid_credentials';
  END IF;
  INSERT INTO tokens (hash, user_id, created_us, expires_us, last_seen_us, client)
  VALUES (p_hash, p_user, p_created_us, p_expires_us, p_created_us, p_client);
  RETURN 'ok';
END $$;
)sql",
    // 13: friend requests and blocks refuse an account deleted since its name was looked up:
    // rwd_live_users holds both users' rows FOR SHARE (in id order), which waits for a
    // deletion's FOR UPDATE and then sees the tombstone. A password reset takes the user's
    // row before the key's, the order a deletion takes them in (it held the key first, and the
    // two could deadlock).
    R"sql(
-- How many of the two users exist and are not deleted, their rows held FOR SHARE.
CREATE FUNCTION rwd_live_users(p_a bigint, p_b bigint) RETURNS integer
LANGUAGE sql AS $$
  SELECT count(*)::integer FROM (SELECT 1 FROM users WHERE id IN (p_a, p_b) AND deleted_us IS NULL
                                  ORDER BY id FOR SHARE) live
$$;

CREATE OR REPLACE FUNCTION rwd_block_user(p_blocker bigint, p_blocked bigint, p_now_us bigint,
                               OUT outcome text, OUT v_changed boolean,
                               OUT v_unfriended boolean, OUT v_from bigint, OUT v_to bigint)
LANGUAGE plpgsql AS $$
BEGIN
  v_changed := false; v_unfriended := false; v_from := 0; v_to := 0;
  IF p_blocker = p_blocked THEN
    outcome := 'self_target'; RETURN;
  END IF;
  IF rwd_live_users(p_blocker, p_blocked) <> 2 THEN
    outcome := 'user_not_found'; RETURN;
  END IF;
  PERFORM rwd_lock_pair(p_blocker, p_blocked);
  outcome := 'ok';
  INSERT INTO blocks (blocker_id, blocked_id, created_us) VALUES (p_blocker, p_blocked, p_now_us)
  ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN RETURN; END IF;
  v_changed := true;
  DELETE FROM friendships
   WHERE user_lo = least(p_blocker, p_blocked) AND user_hi = greatest(p_blocker, p_blocked);
  v_unfriended := FOUND;
  DELETE FROM friend_requests
   WHERE (from_id = p_blocker AND to_id = p_blocked) OR (from_id = p_blocked AND to_id = p_blocker)
  RETURNING from_id, to_id INTO v_from, v_to;
  IF NOT FOUND THEN v_from := 0; v_to := 0; END IF;
END $$;

CREATE OR REPLACE FUNCTION rwd_request_friend(p_from bigint, p_to bigint, p_chat_id bigint,
                                              p_now_us bigint, OUT outcome text,
                                              OUT v_befriended boolean, OUT v_chat_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
  lo bigint := least(p_from, p_to);
  hi bigint := greatest(p_from, p_to);
BEGIN
  v_befriended := false; v_chat_id := 0;
  IF p_from = p_to THEN
    outcome := 'self_target'; RETURN;
  END IF;
  IF rwd_live_users(p_from, p_to) <> 2 THEN
    outcome := 'user_not_found'; RETURN;
  END IF;
  PERFORM rwd_lock_pair(p_from, p_to);
  IF EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p_to AND blocked_id = p_from) THEN
    outcome := 'user_not_found'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM blocks WHERE blocker_id = p_from AND blocked_id = p_to) THEN
    outcome := 'user_blocked'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friendships WHERE user_lo = lo AND user_hi = hi) THEN
    outcome := 'already_friends'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friend_requests WHERE from_id = p_from AND to_id = p_to) THEN
    outcome := 'already_requested'; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM friend_requests WHERE from_id = p_to AND to_id = p_from) THEN
    v_chat_id := rwd_befriend(lo, hi, p_chat_id, p_now_us);
    v_befriended := true; outcome := 'ok'; RETURN;
  END IF;
  INSERT INTO friend_requests (from_id, to_id, created_us) VALUES (p_from, p_to, p_now_us);
  outcome := 'ok';
END $$;

CREATE OR REPLACE FUNCTION rwd_reset_password(
    p_key_hash text, p_new_hash text, p_now_us bigint,
    OUT outcome text, OUT v_user_id bigint, OUT v_name text, OUT v_email text,
    OUT v_profile text, OUT v_created_us bigint, OUT v_revoked text)
LANGUAGE plpgsql AS $$
DECLARE
  v_owner bigint;
BEGIN
  SELECT user_id INTO v_owner FROM password_resets
   WHERE key_hash = p_key_hash AND expires_us > p_now_us;
  IF NOT FOUND THEN
    outcome := 'link_invalid'; RETURN;
  END IF;
  PERFORM 1 FROM users WHERE id = v_owner FOR NO KEY UPDATE;
  -- Deleted as it is used: of two uses of one key, the second finds no row (nor does a use
  -- after the account was deleted, which deletes its key).
  DELETE FROM password_resets WHERE key_hash = p_key_hash AND expires_us > p_now_us
  RETURNING user_id INTO v_owner;
  IF NOT FOUND THEN
    outcome := 'link_invalid'; RETURN;
  END IF;
  SELECT * INTO outcome, v_user_id, v_name, v_email, v_profile, v_created_us, v_revoked
    FROM rwd_replace_password(v_owner, NULL, p_new_hash, '', p_now_us);
END $$;
)sql",
    // 14: a send's nonce (store.h, put_message_once): its client's id for it, so that a retry
    // finds the message it sent instead of storing a second one. NULL for a send without one.
    R"sql(
ALTER TABLE messages ADD COLUMN nonce text CHECK (nonce <> '');
CREATE UNIQUE INDEX messages_by_nonce ON messages (chat_id, author_id, nonce)
  WHERE nonce IS NOT NULL;

-- Stores the message with its nonce, unless the chat has a message of the same author and
-- nonce created at or after p_reuse_before_us: then nothing is stored and that message is
-- answered as it is now, with duplicate true (its seq is its send's). An older one gives its
-- nonce up. The writer locked the chat before this runs, so a retry in another process's
-- batch waits for this one's commit and then finds the message. The message itself again (a
-- batch sent twice) is no duplicate: it answers as when it was stored.
CREATE FUNCTION rwd_put_message_once(
    p_id bigint, p_chat_id bigint, p_author_id bigint, p_content text, p_created_us bigint,
    p_nonce text, p_reuse_before_us bigint,
    OUT duplicate boolean, OUT v_id bigint, OUT v_content text, OUT v_created_us bigint,
    OUT v_edited_us bigint, OUT v_deleted boolean, OUT v_seq bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT id, content, created_us, edited_us, deleted, seq
    INTO v_id, v_content, v_created_us, v_edited_us, v_deleted, v_seq
    FROM messages WHERE chat_id = p_chat_id AND author_id = p_author_id AND nonce = p_nonce;
  IF FOUND AND v_id = p_id THEN
    duplicate := false; RETURN;
  END IF;
  IF FOUND AND v_created_us >= p_reuse_before_us THEN
    duplicate := true; RETURN;
  END IF;
  IF FOUND THEN
    UPDATE messages SET nonce = NULL WHERE id = v_id;
  END IF;
  IF EXISTS (SELECT 1 FROM messages WHERE id = p_id) THEN
    RAISE EXCEPTION 'message id % is taken by another message', p_id
      USING ERRCODE = 'unique_violation';
  END IF;
  v_seq := rwd_next_seq(p_chat_id);
  INSERT INTO messages (id, chat_id, author_id, content, created_us, seq, nonce)
  VALUES (p_id, p_chat_id, p_author_id, p_content, p_created_us, v_seq, p_nonce);
  duplicate := false;
  v_id := p_id;
  v_content := p_content;
  v_created_us := p_created_us;
  v_edited_us := NULL;
  v_deleted := false;
END $$;
)sql",
    // 15: read marks (store.h, mark_read): the newest message each user has read in a chat,
    // with its send's seq, which orders marks and counts what came after (messages_chat_seq).
    R"sql(
CREATE TABLE read_marks (
  user_id    bigint NOT NULL REFERENCES users (id),
  chat_id    bigint NOT NULL REFERENCES chats (id),
  message_id bigint NOT NULL,
  seq        bigint NOT NULL CHECK (seq > 0),
  PRIMARY KEY (user_id, chat_id),
  FOREIGN KEY (message_id, chat_id) REFERENCES messages (id, chat_id)
);

-- Moves p_user_id's mark in p_chat_id to p_message_id unless it is there or past it already
-- (two devices marking at once leave the later one): the row's lock orders them. Answers the
-- mark as it is after, and whether this call moved it.
CREATE FUNCTION rwd_mark_read(
    p_user_id bigint, p_chat_id bigint, p_message_id bigint,
    OUT outcome text, OUT v_message_id bigint, OUT moved boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
BEGIN
  SELECT seq INTO v_seq FROM messages WHERE id = p_message_id AND chat_id = p_chat_id;
  IF NOT FOUND THEN
    outcome := 'message_not_found'; RETURN;
  END IF;
  INSERT INTO read_marks AS r (user_id, chat_id, message_id, seq)
  VALUES (p_user_id, p_chat_id, p_message_id, v_seq)
  ON CONFLICT (user_id, chat_id) DO UPDATE
    SET message_id = EXCLUDED.message_id, seq = EXCLUDED.seq
    WHERE r.seq < EXCLUDED.seq;
  moved := FOUND;
  IF moved THEN
    v_message_id := p_message_id;
  ELSE
    SELECT message_id INTO v_message_id FROM read_marks
     WHERE user_id = p_user_id AND chat_id = p_chat_id;
  END IF;
  outcome := 'ok';
END $$;
)sql",
    // 16: users who show no presence to their friends (store.h, set_presence_hidden).
    R"sql(
CREATE TABLE presence_hidden (
  user_id bigint PRIMARY KEY REFERENCES users (id)
);
)sql",
    // 17: full-text search of messages (store.h, search_messages). One GIN index over the
    // words of each live text ('simple': no language's stemming, so any language is found by
    // the start of its words) and the lexeme '#<chat id>', which no text yields (the parser
    // drops '#'): a search of some chats intersects word lists inside the index. fastupdate
    // off: with GIN's pending list, the insert that found the list full merged it into the
    // index (4 MB at a time), and every acknowledgement behind it waited 100-300 ms.
    R"sql(
CREATE FUNCTION rwd_search_vector(p_content text, p_chat_id bigint) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT to_tsvector('simple', p_content) || array_to_tsvector(ARRAY['#' || p_chat_id::text]) $$;
CREATE INDEX messages_search ON messages USING gin (rwd_search_vector(content, chat_id))
  WITH (fastupdate = off) WHERE NOT deleted;
)sql",
    // 18: a message's time is unique in its chat (store.h, put_message). History pages by
    // time, strictly before the oldest message a client received, and two nodes' clocks could
    // give two messages of a chat the same microsecond: the page that ended between them lost
    // the other. A message is stored at its node's time, or 1 µs after the chat's latest
    // message when that is not earlier. chats.last_created_us is that latest time, taken in
    // the UPDATE that takes the seq, under the chat row's lock (the writer locks a batch's
    // chats before its first write), so two processes agree and it costs no read of messages.
    // The stored time is answered with the seq. New functions, so that a node of the previous
    // version, still running during an upgrade, keeps the ones it calls (its messages do not
    // move last_created_us: only until it is stopped).
    R"sql(
ALTER TABLE chats ADD COLUMN last_created_us bigint NOT NULL DEFAULT 0;
UPDATE chats c SET last_created_us = m.latest
  FROM (SELECT chat_id, max(created_us) AS latest FROM messages GROUP BY chat_id) m
 WHERE m.chat_id = c.id;

-- rwd_put_message, answering the stored time too. A repeat is the same message stored at its
-- time or later.
CREATE FUNCTION rwd_store_message(p_id bigint, p_chat_id bigint, p_author_id bigint,
                                  p_content text, p_created_us bigint,
                                  OUT v_seq bigint, OUT v_created_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
  m messages;
BEGIN
  SELECT * INTO m FROM messages WHERE id = p_id;
  IF FOUND THEN
    IF m.chat_id = p_chat_id AND m.author_id = p_author_id AND m.created_us >= p_created_us
       AND m.content = p_content THEN
      v_seq := m.seq;
      v_created_us := m.created_us;
      RETURN;
    END IF;
    RAISE EXCEPTION 'message id % is taken by another message', p_id
      USING ERRCODE = 'unique_violation';
  END IF;
  SELECT * INTO v_seq, v_created_us FROM rwd_next_message_place(p_chat_id, p_created_us);
  INSERT INTO messages (id, chat_id, author_id, content, created_us, seq)
  VALUES (p_id, p_chat_id, p_author_id, p_content, v_created_us, v_seq);
END $$;

-- Takes p_chat_id's next seq and the time of a message given p_created_us (rwd_next_seq,
-- and last_created_us moved with it).
CREATE FUNCTION rwd_next_message_place(p_chat_id bigint, p_created_us bigint,
                                       OUT v_seq bigint, OUT v_created_us bigint)
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE chats SET last_seq = last_seq + 1,
                   last_created_us = greatest(p_created_us, last_created_us + 1)
   WHERE id = p_chat_id RETURNING last_seq, last_created_us INTO v_seq, v_created_us;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no chat %', p_chat_id USING ERRCODE = 'foreign_key_violation';
  END IF;
END $$;

-- rwd_put_messages, answering each message's seq and stored time. A chat's k-th new message
-- (k from 1, in submission order) is stored at k + the greatest of the chat's latest time
-- and (given time - j) over its messages j <= k: each one at its given time, or 1 µs after
-- the one before. The chat rows read in `latest` are locked by this transaction already, so
-- what the statement's snapshot shows of them is current.
CREATE FUNCTION rwd_store_messages(p_ids bigint[], p_chat_ids bigint[], p_author_ids bigint[],
                                   p_contents text[], p_created_us bigint[])
RETURNS TABLE (v_seq bigint, v_created_us bigint)
LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
  v_count bigint;
BEGIN
  IF (SELECT count(DISTINCT id) FROM unnest(p_ids) AS id) <> cardinality(p_ids)
     OR EXISTS (SELECT 1 FROM messages WHERE id = ANY(p_ids)) THEN
    FOR i IN 1 .. cardinality(p_ids) LOOP
      RETURN QUERY SELECT * FROM rwd_store_message(p_ids[i], p_chat_ids[i], p_author_ids[i],
                                                   p_contents[i], p_created_us[i]);
    END LOOP;
    RETURN;
  END IF;
  RETURN QUERY
  WITH numbered AS (
    SELECT s.*, row_number() OVER (PARTITION BY s.chat_id ORDER BY s.n) AS k
      FROM unnest(p_ids, p_chat_ids, p_author_ids, p_contents, p_created_us)
           WITH ORDINALITY AS s(id, chat_id, author_id, content, created_us, n)
  ), sent AS (
    -- ahead: the greatest (given time - j) over the chat's messages j <= k.
    SELECT numbered.*,
           max(numbered.created_us - numbered.k)
             OVER (PARTITION BY numbered.chat_id ORDER BY numbered.n) AS ahead
      FROM numbered
  ), counts AS (
    SELECT chat_id, count(*) AS n, max(ahead) AS ahead FROM sent GROUP BY chat_id
  ), latest AS (
    SELECT c.id, c.last_created_us FROM chats c JOIN counts ON c.id = counts.chat_id
  ), taken AS (
    UPDATE chats c SET last_seq = c.last_seq + counts.n,
                       last_created_us = counts.n + greatest(c.last_created_us, counts.ahead)
      FROM counts WHERE c.id = counts.chat_id
    RETURNING c.id, c.last_seq - counts.n AS before
  ), stored AS (
    INSERT INTO messages (id, chat_id, author_id, content, created_us, seq)
    SELECT s.id, s.chat_id, s.author_id, s.content,
           s.k + greatest(latest.last_created_us, s.ahead), taken.before + s.k
      FROM sent s JOIN taken ON taken.id = s.chat_id JOIN latest ON latest.id = s.chat_id
    RETURNING id, seq, created_us
  )
  SELECT stored.seq, stored.created_us FROM sent JOIN stored ON stored.id = sent.id
   ORDER BY sent.n;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count <> cardinality(p_ids) THEN
    RAISE EXCEPTION 'a message names no chat' USING ERRCODE = 'foreign_key_violation';
  END IF;
END $$;

-- rwd_put_message_once, a new message stored at the time rwd_store_message would give it.
CREATE FUNCTION rwd_store_message_once(
    p_id bigint, p_chat_id bigint, p_author_id bigint, p_content text, p_created_us bigint,
    p_nonce text, p_reuse_before_us bigint,
    OUT duplicate boolean, OUT v_id bigint, OUT v_content text, OUT v_created_us bigint,
    OUT v_edited_us bigint, OUT v_deleted boolean, OUT v_seq bigint)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT id, content, created_us, edited_us, deleted, seq
    INTO v_id, v_content, v_created_us, v_edited_us, v_deleted, v_seq
    FROM messages WHERE chat_id = p_chat_id AND author_id = p_author_id AND nonce = p_nonce;
  IF FOUND AND v_id = p_id THEN
    duplicate := false; RETURN;
  END IF;
  IF FOUND AND v_created_us >= p_reuse_before_us THEN
    duplicate := true; RETURN;
  END IF;
  IF FOUND THEN
    UPDATE messages SET nonce = NULL WHERE id = v_id;
  END IF;
  IF EXISTS (SELECT 1 FROM messages WHERE id = p_id) THEN
    RAISE EXCEPTION 'message id % is taken by another message', p_id
      USING ERRCODE = 'unique_violation';
  END IF;
  SELECT * INTO v_seq, v_created_us FROM rwd_next_message_place(p_chat_id, p_created_us);
  INSERT INTO messages (id, chat_id, author_id, content, created_us, seq, nonce)
  VALUES (p_id, p_chat_id, p_author_id, p_content, v_created_us, v_seq, p_nonce);
  duplicate := false;
  v_id := p_id;
  v_content := p_content;
  v_edited_us := NULL;
  v_deleted := false;
END $$;
)sql",
};

}  // namespace

int latest_schema_version() { return static_cast<int>(std::size(kMigrations)); }

Status migrate(PGconn* conn, int up_to) {
  if (Status s = exec_command(conn, "BEGIN"); !s.ok()) return s;
  auto fail = [conn](Error e) -> Status {
    (void)exec_command(conn, "ROLLBACK");
    return e;
  };
  // Held until COMMIT: a second process starting now waits here, then sees our versions.
  if (Status s =
          exec_command(conn, "SELECT pg_advisory_xact_lock(hashtextextended('rewind schema', 0))");
      !s.ok())
    return fail(s.error());
  if (Status s = exec_command(conn,
                              "CREATE TABLE IF NOT EXISTS schema_migrations ("
                              "version integer PRIMARY KEY, "
                              "applied_at timestamptz NOT NULL DEFAULT now())");
      !s.ok())
    return fail(s.error());
  auto version = query_int(conn, "SELECT COALESCE(max(version), 0) FROM schema_migrations");
  if (!version.ok()) return fail(version.error());
  if (*version > latest_schema_version())
    return fail(Error{Errc::kInternal, "database schema version " + std::to_string(*version) +
                                           " is newer than this build (" +
                                           std::to_string(latest_schema_version()) + ")"});
  for (int v = static_cast<int>(*version); v < std::min(up_to, latest_schema_version()); ++v) {
    if (Status s = exec_command(conn, kMigrations[v]); !s.ok()) {
      Error e = s.error();
      if (e.code != Errc::kStorageUnavailable)
        e = Error{Errc::kInternal, "migration " + std::to_string(v + 1) + " failed: " + e.detail};
      return fail(e);
    }
    if (Status s = exec_command(
            conn, "INSERT INTO schema_migrations (version) VALUES (" + std::to_string(v + 1) + ")");
        !s.ok())
      return fail(s.error());
  }
  return exec_command(conn, "COMMIT");
}

}  // namespace rwd::store::postgres
