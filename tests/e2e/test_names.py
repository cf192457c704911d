"""Names in any script (NFC, unique under Unicode case folding) and no lookalikes (TS #39
skeletons, mixed scripts), through the real registration flow and friend requests on /ws and
/ws?v=2."""
import sqlite3
import time
import unicodedata

import pytest
import requests

from conftest import ON_POSTGRES, Client, login, register

NFD_MINSU = unicodedata.normalize("NFD", "민수")  # Hangul jamo: another byte string
NFD_EMILIE = unicodedata.normalize("NFD", "Émilie")


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def sign_up(server, mailbox, name, addr):
    """Registers through the mail link and logs in; returns (token, self_user)."""
    r = register(server, name, addr)
    assert r.status_code == 201, r.text
    r = requests.get(mailbox.link_for(addr), timeout=10)
    assert r.status_code == 200, r.text
    r = login(server, addr)
    assert r.status_code == 201, r.text
    token = r.json()["payload"]["token"]
    c = Client(server, version=2)
    me = c.handshake(token)["self_user"]
    c.close()
    time.sleep(0.1)
    return token, me


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == "error" and body["payload"]["code"] == code, body
    return body["payload"]["message"]


def connect(server, token, version=None):
    c = Client(server, version=version)
    c.handshake(token)
    return c


def test_hangul_and_accented_names_register_and_are_stored_composed(server, smtp):
    _, minsu = sign_up(server, smtp.mailbox, NFD_MINSU, "minsu@example.test")
    assert minsu["name"] == "민수"  # stored and shown in NFC
    _, emilie = sign_up(server, smtp.mailbox, NFD_EMILIE, "emilie@example.test")
    assert emilie["name"] == "Émilie"
    _, ireum = sign_up(server, smtp.mailbox, "이름", "ireum@example.test")
    assert ireum["name"] == "이름"


@pytest.mark.parametrize("version", [None, 2])
def test_friend_request_by_the_name_as_typed_finds_the_person(server, smtp, version):
    suffix = "" if version is None else "2"
    t_minsu, minsu = sign_up(server, smtp.mailbox, "민수" + suffix, f"minsu{suffix}@example.test")
    t_emilie, emilie = sign_up(server, smtp.mailbox, "Émilie" + suffix,
                               f"emilie{suffix}@example.test")
    a = connect(server, t_minsu, version)
    b = connect(server, t_emilie, version)
    # Typed decomposed and in capitals: the same person.
    a.send("mutual_users", {"type": "request",
                            "name": unicodedata.normalize("NFD", "ÉMILIE" + suffix)})
    assert a.recv() == {"type": "ok", "payload": {}}
    ev = b.recv_type("mutual_users")
    assert ev["payload"]["type"] == "request" and ev["payload"]["user"]["name"] == "민수" + suffix
    b.send("mutual_users", {"type": "response",
                            "name": unicodedata.normalize("NFD", "민수" + suffix)})
    assert b.recv_type("ok")["type"] == "ok"
    ev = a.recv_type("mutual_users")
    assert ev["payload"]["type"] == "response"
    assert ev["payload"]["user"]["name"] == "Émilie" + suffix


def test_names_are_unique_under_case_folding_and_normalization(server, smtp):
    sign_up(server, smtp.mailbox, "Straße", "strasse@example.test")
    assert_error(register(server, "STRASSE", "s2@example.test"), 409, "name_taken")
    assert_error(register(server, "straße", "s3@example.test"), 409, "name_taken")
    sign_up(server, smtp.mailbox, "Émilie", "emilie@example.test")
    assert_error(register(server, NFD_EMILIE, "e2@example.test"), 409, "name_taken")
    assert_error(register(server, "éMILIE", "e3@example.test"), 409, "name_taken")


def test_a_lookalike_of_a_taken_name_is_refused(server, smtp):
    sign_up(server, smtp.mailbox, "mary", "mary@example.test")
    sign_up(server, smtp.mailbox, "larry", "larry@example.test")
    for lookalike in ["rnary", "Iarry"]:  # rn/m, capital I/l
        msg = assert_error(register(server, lookalike, f"{lookalike}@example.test"), 409,
                           "name_taken")
        assert "looks" in msg, msg
    # Not alike: accepted.
    assert register(server, "marty", "marty@example.test").status_code == 201


def test_a_name_mixing_scripts_to_imitate_another_is_refused(server, smtp):
    # "paypal" with a Cyrillic 'а', "bob" with a Greek omicron.
    for name in ["p\u0430ypal", "b\u03bfb"]:
        msg = assert_error(register(server, name, "x@example.test"), 400, "invalid_name")
        assert "scripts" in msg, msg
    # Hangul with Latin is an ordinary mix.
    assert register(server, "민수kim", "mk@example.test").status_code == 201


def test_the_32_character_limit_counts_characters(server, smtp):
    assert register(server, "가" * 32, "g32@example.test").status_code == 201  # 96 bytes
    assert_error(register(server, "가" * 33, "g33@example.test"), 400, "invalid_name")
    assert_error(register(server, "가", "g1@example.test"), 400, "invalid_name")


def test_the_verification_link_refuses_a_lookalike_registered_meanwhile(server, smtp):
    # Two pending sign-ups whose names look alike: the first link opened wins.
    assert register(server, "mary", "m1@example.test").status_code == 201
    assert register(server, "rnary", "m2@example.test").status_code == 201
    assert requests.get(smtp.mailbox.link_for("m1@example.test"), timeout=10).status_code == 200
    r = requests.get(smtp.mailbox.link_for("m2@example.test"), timeout=10,
                     headers={"Accept": "application/json"})
    assert_error(r, 409, "name_taken")


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: it rewinds the SQLite schema to before "
                    "names in any script; PostgreSQL's schema starts with skeletons")
def test_names_stored_before_the_rule_keep_working_and_get_skeletons(start_server, smtp, tmp_path,
                                                                     test_ca):
    start_server.ca[0] = test_ca["ca"]
    data = tmp_path / "legacy"
    s = start_server(smtp=smtp, data_dir=data)
    token, _ = sign_up(s, smtp.mailbox, "mary", "mary@example.test")
    sign_up(s, smtp.mailbox, "bob", "bob@example.test")
    s.stop()
    # Back to the schema before names in any script: no skeletons, ASCII lower-case keys, and
    # none of the later versions (the chat sequence numbers of version 5, the password reset
    # keys of 6, the disabled accounts of 7, the blocks of 8, the deleted accounts of 9, the
    # sessions' last use and client of 10, the send nonces of 11, the read marks of 12, the
    # presence settings of 13, the search index of 14).
    db = sqlite3.connect(str(data / "rewind.db"))
    db.executescript("DROP TRIGGER message_search_insert; DROP TRIGGER message_search_update; "
                     "DROP TRIGGER message_search_delete; "
                     "DROP TABLE message_search; DROP TABLE search_progress; "
                     "DROP TABLE presence_hidden; DROP TABLE read_marks; "
                     "DROP INDEX messages_by_nonce; ALTER TABLE messages DROP COLUMN nonce; "
                     "ALTER TABLE tokens DROP COLUMN last_seen_us; "
                     "ALTER TABLE tokens DROP COLUMN client; "
                     "DROP INDEX friend_requests_to; DROP INDEX friendships_hi; "
                     "ALTER TABLE users DROP COLUMN deleted_us; DROP TABLE blocks; "
                     "DROP INDEX tokens_by_user; ALTER TABLE users DROP COLUMN disabled; "
                     "DROP TABLE password_resets; "
                     "DROP TABLE message_changes; DROP INDEX messages_by_chat_seq; "
                     "ALTER TABLE messages DROP COLUMN seq; ALTER TABLE chats DROP COLUMN last_seq; "
                     "DROP INDEX users_by_name_skeleton; ALTER TABLE users DROP COLUMN "
                     "name_skeleton; UPDATE users SET name_lower = lower(name); "
                     "PRAGMA user_version = 3;")
    db.close()
    s.start()
    c = connect(s, token, 2)
    c.send("mutual_users", {"type": "request", "name": "BOB"})
    assert c.recv() == {"type": "ok", "payload": {}}
    assert_error(register(s, "rnary", "rnary@example.test"), 409, "name_taken")
    assert_error(register(s, "MARY", "mary2@example.test"), 409, "name_taken")
    # The migration gave every stored name its skeleton, so the store refuses a lookalike
    # too (its check at verification, not only the one in memory at sign-up).
    db = sqlite3.connect(str(data / "rewind.db"))
    rows = dict(db.execute("SELECT name, name_skeleton FROM users").fetchall())
    db.close()
    assert rows == {"mary": "rnary", "bob": "bob"}, rows
