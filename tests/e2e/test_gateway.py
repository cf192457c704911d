"""End-to-end tests of the WebSocket gateway (SPEC §2, issue 3): the real rewind-server
binary, real accounts created through the mail link, real WebSocket clients."""
import base64
import datetime
import json
import re
import struct
import threading
import time

import pytest
import requests
import websocket

from conftest import Client, ConnectionClosed, create_user, login, raw_session
from rawws import OP_CLOSE

KST = datetime.timezone(datetime.timedelta(hours=9))
CREATED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
CREATED_AT_FMT = "%Y-%m-%d %H:%M:%S.%f"
FAST_HASH = ["--password-hash-ops", "1", "--password-hash-mem-kib", "1024"]


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def make_users(server, smtp, *names):
    """Creates the named users; returns {name: (token, user_id)}."""
    return {n: create_user(server, smtp.mailbox, n) for n in names}


def connect(server, token, version=None):
    """A client that has done the heartbeat + auth handshake."""
    c = Client(server, version=version)
    c.handshake(token)
    return c


def user_obj(users, name):
    return {"id": users[name][1], "name": name, "profile": None}


def dm_id(uid_a, uid_b):
    return str(int(uid_a) ^ int(uid_b))


def b64(text):
    return base64.b64encode(text.encode()).decode()


def app_cursor(dt):
    """The application's cursor text: yyyy-M-d HH:mm:ss.S000 in Korean time."""
    dt = dt.astimezone(KST)
    return f"{dt.year}-{dt.month}-{dt.day} {dt:%H:%M:%S}.{dt.microsecond // 100000}000"


def parse_created_at(text):
    return datetime.datetime.strptime(text, CREATED_AT_FMT).replace(tzinfo=KST)


def expect_ok(client):
    f = client.recv()
    assert f == {"type": "ok", "payload": {}}, f


def expect_error(client, code, timeout=5):
    f = client.recv(timeout)
    assert f["type"] == "error", f
    assert f["payload"]["code"] == code, f
    assert isinstance(f["payload"]["reason"], str) and f["payload"]["reason"], f
    return f["payload"]


def friend(client, action, name):
    client.send("mutual_users", {"type": action, "name": name})


def make_friends(users, conns, a, b):
    """a asks b, b accepts. conns: {name: authenticated Client}; drains the events."""
    friend(conns[a], "request", b)
    expect_ok(conns[a])
    assert conns[b].recv_type("mutual_users")["payload"]["type"] == "request"
    friend(conns[b], "response", a)
    expect_ok(conns[b])
    assert conns[a].recv_type("mutual_users")["payload"]["type"] == "response"


def send_chat(client, chat_id, content):
    client.send("chat", {"type": "send", "chat_id": chat_id, "content": content})


def recv_chat(client, timeout=5):
    f = client.recv(timeout)
    assert f["type"] == "chat", f
    return f["payload"]


def send_and_echo(client, chat_id, content):
    """Sends a message and returns its event as echoed to the sender."""
    send_chat(client, chat_id, content)
    p = recv_chat(client)
    assert p["content"] == content, p
    return p


def load_chat(client, chat_id, cursor_text, count):
    client.send("load", {"type": "chat", "load_id": chat_id, "datetime": b64(cursor_text),
                         "count": count})


def recv_chats(client, n, timeout=5):
    return [recv_chat(client, timeout) for _ in range(n)]


def far_future_cursor():
    return "2100-1-5 09:05:01.4000"


def wait_closed(client, timeout=10):
    return client.wait_close(timeout)


def raw_close_code(client, timeout=10):
    """Reads raw frames until the server's close frame and returns its code, without
    answering it (the server may already have cut the socket, and answering would fail)."""
    client.ws.settimeout(timeout)
    while True:
        frame = client.ws.recv_frame()
        if frame.opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big")


# ------------------------------------------------------------------ connection life


def test_app_startup_sequence_runs_held_requests_after_auth_in_order(server, smtp):
    users = make_users(server, smtp, "alice", "bob")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(users, conns, "alice", "bob")

    # The app: heartbeat {"count":0}, then load mutual_users, then auth — all at once.
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    c.send("load", {"type": "mutual_users"})
    c.send("auth", {"auth": users["alice"][0]})
    assert c.recv() == {"type": "heartbeat", "payload": {"count": 0}}
    auth = c.recv()
    assert auth["type"] == "auth", auth
    assert auth["payload"]["self_user"] == user_obj(users, "alice")
    assert json.loads(auth["payload"]["mutual_users"]) == [user_obj(users, "bob")]
    assert c.recv() == {"type": "mutual_users", "payload": [user_obj(users, "bob")]}
    c.expect_silence()


def test_requests_held_before_auth_are_dropped_when_auth_fails(server, smtp):
    users = make_users(server, smtp, "alice")
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    c.send("load", {"type": "mutual_users"})
    c.send("mutual_users", {"type": "request", "name": "nobody"})
    c.send("auth", {"auth": "not-a-token"})
    assert c.recv() == {"type": "heartbeat", "payload": {"count": 0}}
    expect_error(c, "4000")
    c.expect_silence(0.5)
    # The dropped requests do not come back after a later successful auth either.
    c.send("auth", {"auth": users["alice"][0]})
    assert c.recv()["type"] == "auth"
    c.expect_silence()


def test_requests_past_the_pending_queue_are_refused_4005_and_the_rest_run(server, smtp):
    users = make_users(server, smtp, "alice")
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    assert c.recv()["type"] == "heartbeat"
    for _ in range(20):  # the queue holds 16 (--pending-queue)
        c.send("load", {"type": "mutual_users"})
    for _ in range(4):
        expect_error(c, "4005")
    c.send("auth", {"auth": users["alice"][0]})
    assert c.recv()["type"] == "auth"
    for _ in range(16):
        assert c.recv() == {"type": "mutual_users", "payload": []}
    c.expect_silence()


@pytest.mark.parametrize("payload", [
    {"count": 0},
    {"nested": {"a": [1, 2.5, None, True, False, "x"]}, "k": "\u00e9\u4e2d\U0001F600"},
    "a string with \"quotes\" and \\ and \n newline",
    0, 42, -7, 3.25, 1e-7, 123456789012345678,
    None,
    [],
    [1, "two", {"three": 3}, [4]],
    {},
    True,
])
def test_heartbeat_payload_is_echoed_unchanged(server, payload):
    c = Client(server)
    c.send("heartbeat", payload)
    f = c.recv()
    assert f["type"] == "heartbeat"
    assert f["payload"] == payload
    assert type(f["payload"]) is type(payload)


def test_heartbeat_echo_keeps_big_integers(server):
    c = Client(server)
    c.send_raw('{"type":"heartbeat","payload":{"n":123456789012345678901234567890}}')
    assert c.recv()["payload"] == {"n": 123456789012345678901234567890}


def test_auth_before_any_heartbeat_closes_4101(server, smtp):
    users = make_users(server, smtp, "alice")
    c = Client(server)
    c.send("auth", {"auth": users["alice"][0]})
    assert wait_closed(c) == 4101


def test_auth_with_bad_token_is_4000_and_connection_stays_open(server, smtp):
    users = make_users(server, smtp, "alice")
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    c.recv()
    c.send("auth", {"auth": "bogus-token"})
    expect_error(c, "4000")
    c.send("auth", {"auth": ""})
    expect_error(c, "4000")
    c.send("heartbeat", {"count": 1})
    assert c.recv() == {"type": "heartbeat", "payload": {"count": 1}}
    # Still usable: a good token now authenticates.
    c.send("auth", {"auth": users["alice"][0]})
    assert c.recv()["payload"]["self_user"] == user_obj(users, "alice")


def test_revoked_token_is_4000(server, smtp):
    users = make_users(server, smtp, "alice")
    token = users["alice"][0]
    r = requests.post(server.base + "/api/v1/auth/logout", timeout=10,
                      headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    c.recv()
    c.send("auth", {"auth": token})
    expect_error(c, "4000")
    c.send("heartbeat", {"count": 1})
    assert c.recv()["payload"] == {"count": 1}


def test_logout_closes_the_open_sessions_of_that_token_with_4108(server, smtp):
    users = make_users(server, smtp, "alice")
    token = users["alice"][0]
    other = login(server, "alice@example.test").json()["payload"]["token"]
    phone, laptop, elsewhere = connect(server, token), connect(server, token), connect(server, other)
    r = requests.post(server.base + "/api/v1/auth/logout", timeout=10,
                      headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert phone.wait_close() == 4108
    assert laptop.wait_close() == 4108
    # A session of another token of the same user goes on.
    elsewhere.send("heartbeat", {"count": 9})
    assert elsewhere.recv()["payload"] == {"count": 9}


def test_history_of_a_pair_that_never_were_friends_is_4020(server, smtp):
    users = make_users(server, smtp, "alice", "dave")
    a = connect(server, users["alice"][0])
    load_chat(a, dm_id(users["alice"][1], users["dave"][1]), "2099-1-1 00:00:00.0000", 10)
    expect_error(a, "4020")


def test_auth_again_on_an_authenticated_connection_answers_full_auth_again(server, smtp):
    users = make_users(server, smtp, "alice", "bob")
    a = connect(server, users["alice"][0])
    b = connect(server, users["bob"][0])
    first = a.auth_payload
    assert json.loads(first["mutual_requests"]) == []
    friend(b, "request", "alice")
    expect_ok(b)
    a.recv_type("mutual_users")
    a.send("auth", {"auth": users["alice"][0]})
    again = a.recv()
    assert again["type"] == "auth"
    assert again["payload"]["self_user"] == user_obj(users, "alice")
    assert json.loads(again["payload"]["mutual_requests"]) == [user_obj(users, "bob")]
    assert json.loads(again["payload"]["mutual_users"]) == []
    a.expect_silence()
    # Another user's token cannot take over the connection: refused, still alice.
    a.send("auth", {"auth": users["bob"][0]})
    expect_error(a, "4006")
    a.send("auth", {"auth": users["alice"][0]})
    assert a.recv()["payload"]["self_user"] == user_obj(users, "alice")


def test_v1_auth_response_has_lists_as_json_strings(server, smtp):
    users = make_users(server, smtp, "alice", "bob", "carol")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(users, conns, "alice", "bob")
    friend(conns["carol"], "request", "alice")
    expect_ok(conns["carol"])
    p = connect(server, users["alice"][0]).auth_payload
    assert set(p) == {"self_user", "mutual_requests", "mutual_users"}
    assert isinstance(p["mutual_requests"], str) and isinstance(p["mutual_users"], str)
    assert json.loads(p["mutual_requests"]) == [user_obj(users, "carol")]
    assert json.loads(p["mutual_users"]) == [user_obj(users, "bob")]


def test_v2_auth_response_has_real_arrays_and_outgoing_requests(server, smtp):
    users = make_users(server, smtp, "alice", "bob", "carol")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(users, conns, "alice", "bob")
    friend(conns["carol"], "request", "alice")
    expect_ok(conns["carol"])
    p = connect(server, users["alice"][0], version=2).auth_payload
    assert p["self_user"] == user_obj(users, "alice")
    assert p["mutual_requests"] == [user_obj(users, "carol")]
    assert p["mutual_users"] == [user_obj(users, "bob")]
    assert p["outgoing_requests"] == []
    pc = connect(server, users["carol"][0], version=2).auth_payload
    assert pc["outgoing_requests"] == [user_obj(users, "alice")]
    assert pc["mutual_requests"] == [] and pc["mutual_users"] == []


# ---------------------------------------------------------------------------- friends


@pytest.fixture
def trio_connected(server, smtp):
    """alice, bob and carol, each with one authenticated connection."""
    users = make_users(server, smtp, "alice", "bob", "carol")
    conns = {n: connect(server, users[n][0]) for n in users}
    return users, conns


def load_friends(client):
    client.send("load", {"type": "mutual_users"})
    f = client.recv()
    assert f["type"] == "mutual_users" and isinstance(f["payload"], list), f
    return f["payload"]


def test_friend_request_notifies_every_target_connection_and_oks_sender(server, trio_connected):
    users, conns = trio_connected
    bob2 = connect(server, users["bob"][0])
    friend(conns["alice"], "request", "bob")
    expect_ok(conns["alice"])
    event = {"type": "mutual_users",
             "payload": {"type": "request", "user": user_obj(users, "alice")}}
    assert conns["bob"].recv() == event
    assert bob2.recv() == event
    conns["carol"].expect_silence(0.2)
    conns["alice"].expect_silence(0.1)


def test_friend_response_accepts_the_request(server, trio_connected):
    users, conns = trio_connected
    friend(conns["alice"], "request", "bob")
    expect_ok(conns["alice"])
    conns["bob"].recv_type("mutual_users")
    friend(conns["bob"], "response", "alice")
    expect_ok(conns["bob"])
    assert conns["alice"].recv() == {
        "type": "mutual_users", "payload": {"type": "response", "user": user_obj(users, "bob")}}
    assert load_friends(conns["alice"]) == [user_obj(users, "bob")]
    assert load_friends(conns["bob"]) == [user_obj(users, "alice")]
    assert load_friends(conns["carol"]) == []


def test_crossed_requests_make_friends(server, trio_connected):
    users, conns = trio_connected
    friend(conns["alice"], "request", "carol")
    expect_ok(conns["alice"])
    conns["carol"].recv_type("mutual_users")
    friend(conns["carol"], "request", "ALICE")  # names compare case-insensitively
    expect_ok(conns["carol"])
    ev = conns["alice"].recv()
    assert ev["type"] == "mutual_users" and ev["payload"]["user"] == user_obj(users, "carol")
    assert load_friends(conns["alice"]) == [user_obj(users, "carol")]
    assert load_friends(conns["carol"]) == [user_obj(users, "alice")]
    p = connect(server, users["carol"][0], version=2).auth_payload
    assert p["mutual_requests"] == [] and p["outgoing_requests"] == []


def test_remove_withdraws_and_declines_requests(server, trio_connected):
    users, conns = trio_connected
    # alice withdraws her request to bob.
    friend(conns["alice"], "request", "bob")
    expect_ok(conns["alice"])
    conns["bob"].recv_type("mutual_users")
    friend(conns["alice"], "remove", "bob")
    expect_ok(conns["alice"])
    assert conns["bob"].recv() == {
        "type": "mutual_users", "payload": {"type": "remove", "user": user_obj(users, "alice")}}
    assert connect(server, users["bob"][0], version=2).auth_payload["mutual_requests"] == []
    friend(conns["bob"], "response", "alice")
    assert expect_error(conns["bob"], "4014")["reason"] == "targeted name was not requested."

    # carol declines alice's request.
    friend(conns["alice"], "request", "carol")
    expect_ok(conns["alice"])
    conns["carol"].recv_type("mutual_users")
    friend(conns["carol"], "remove", "alice")
    expect_ok(conns["carol"])
    assert conns["alice"].recv() == {
        "type": "mutual_users", "payload": {"type": "remove", "user": user_obj(users, "carol")}}
    assert connect(server, users["alice"][0], version=2).auth_payload["outgoing_requests"] == []
    # Nothing left to remove, and alice may ask again.
    friend(conns["carol"], "remove", "alice")
    expect_error(conns["carol"], "4014")
    friend(conns["alice"], "request", "carol")
    expect_ok(conns["alice"])


def test_delete_ends_the_friendship_for_both(server, trio_connected):
    users, conns = trio_connected
    make_friends(users, conns, "alice", "bob")
    friend(conns["bob"], "delete", "alice")
    expect_ok(conns["bob"])
    assert conns["alice"].recv() == {
        "type": "mutual_users", "payload": {"type": "delete", "user": user_obj(users, "bob")}}
    assert load_friends(conns["alice"]) == []
    assert load_friends(conns["bob"]) == []
    # Neither can message the other any more.
    send_chat(conns["alice"], dm_id(users["alice"][1], users["bob"][1]), "still there?")
    expect_error(conns["alice"], "4015")
    friend(conns["alice"], "delete", "bob")
    expect_error(conns["alice"], "4015")


def test_my_friend_changes_reach_my_other_v2_connections_and_never_v1(server, trio_connected):
    users, conns = trio_connected  # v1 connections; bob's stands for the other side
    s1 = connect(server, users["alice"][0], version=2)
    s2 = connect(server, users["alice"][0], version=2)
    old_app = conns["alice"]  # alice's v1 connection: the published app

    def mine(action, name):
        return {"type": "mutual_users",
                "payload": {"type": action, "user": user_obj(users, name), "self": True}}

    def theirs(action, name):
        return {"type": "mutual_users", "payload": {"type": action, "user": user_obj(users, name)}}

    def act(action, name, told):
        """alice does `action` on session 1: it gets ok, session 2 the event at once, the
        v1 connection nothing; `name` is told `told` as before."""
        friend(s1, action, name)
        expect_ok(s1)
        assert s2.recv() == mine(told, name)
        assert conns[name].recv() == theirs(told, "alice")
        s1.expect_silence(0.1)
        old_app.expect_silence(0.1)

    act("request", "bob", "request")
    act("remove", "bob", "remove")  # withdrawn
    friend(conns["bob"], "request", "alice")
    expect_ok(conns["bob"])
    for c in (s1, s2, old_app):  # bob's action reaches every connection of alice, as before
        assert c.recv() == theirs("request", "bob")
    act("response", "bob", "response")
    act("delete", "bob", "delete")
    friend(conns["bob"], "request", "alice")
    expect_ok(conns["bob"])
    for c in (s1, s2, old_app):
        c.recv_type("mutual_users")
    act("remove", "bob", "remove")  # declined
    friend(conns["carol"], "request", "alice")
    expect_ok(conns["carol"])
    for c in (s1, s2, old_app):
        c.recv_type("mutual_users")
    act("request", "carol", "response")  # crossed requests: we are friends now
    s2.send("auth", {"auth": users["alice"][0]})  # what session 2 now shows is the truth
    p = s2.recv()["payload"]
    assert p["mutual_users"] == [user_obj(users, "carol")]
    assert p["mutual_requests"] == [] and p["outgoing_requests"] == []
    # A failed operation tells nobody.
    friend(s1, "response", "bob")
    expect_error(s1, "4014")
    s2.expect_silence(0.2)
    old_app.expect_silence(0.1)


def test_friend_errors_have_their_own_codes(server, trio_connected):
    users, conns = trio_connected
    a = conns["alice"]
    friend(a, "request", "nobody-by-that-name")
    expect_error(a, "4010")
    friend(a, "request", "alice")
    expect_error(a, "4011")
    friend(a, "request", "ALICE")  # names compare case-insensitively
    expect_error(a, "4011")
    make_friends(users, conns, "alice", "bob")
    friend(a, "request", "bob")
    expect_error(a, "4012")
    friend(a, "request", "carol")
    expect_ok(a)
    friend(a, "request", "carol")
    expect_error(a, "4013")
    friend(conns["bob"], "response", "carol")
    assert expect_error(conns["bob"], "4014")["reason"] == "targeted name was not requested."
    friend(a, "delete", "carol")
    expect_error(a, "4015")
    friend(conns["bob"], "response", "alice")  # already friends: nothing was requested
    assert expect_error(conns["bob"], "4014")["reason"] == "targeted name was not requested."

    friend(conns["bob"], "remove", "alice")  # nothing pending between friends
    expect_error(conns["bob"], "4014")
    friend(a, "response", "nobody-by-that-name")
    expect_error(a, "4010")
    # None of these errors ended the session.
    a.send("heartbeat", {"count": 9})
    assert a.recv_type("heartbeat")["payload"] == {"count": 9}


def test_auth_response_and_load_mutual_users_reflect_friend_state(server, trio_connected):
    users, conns = trio_connected
    make_friends(users, conns, "alice", "bob")
    friend(conns["carol"], "request", "alice")
    expect_ok(conns["carol"])
    make_friends(users, conns, "bob", "carol")
    conns["alice"].recv_type("mutual_users")
    bob_list = load_friends(conns["bob"])
    assert bob_list == sorted([user_obj(users, "alice"), user_obj(users, "carol")],
                              key=lambda u: int(u["id"]))
    p = connect(server, users["alice"][0]).auth_payload
    assert json.loads(p["mutual_users"]) == [user_obj(users, "bob")]
    assert json.loads(p["mutual_requests"]) == [user_obj(users, "carol")]
    assert load_friends(conns["carol"]) == [user_obj(users, "bob")]


# ------------------------------------------------------------------------------- DMs


@pytest.fixture
def pair(server, smtp):
    """alice and bob, friends; carol, a stranger. Returns (users, conns, chat_id)."""
    users = make_users(server, smtp, "alice", "bob", "carol")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(users, conns, "alice", "bob")
    return users, conns, dm_id(users["alice"][1], users["bob"][1])


def test_dm_reaches_both_users_and_every_connection_of_the_sender(server, pair):
    users, conns, cid = pair
    alice2 = connect(server, users["alice"][0], version=2)
    before = datetime.datetime.now(datetime.timezone.utc)
    send_chat(conns["alice"], cid, "hello bob \U0001F600")
    got = [recv_chat(conns["alice"]), recv_chat(conns["bob"]), recv_chat(alice2)]
    after = datetime.datetime.now(datetime.timezone.utc)
    assert got[0] == got[1]
    p = got[0]
    assert list(p) == ["type", "id", "user_id", "chat_id", "content", "created_at"]
    # v2 adds edited_at (null: never edited) and the change's seq in its chat.
    assert got[2] == dict(p, edited_at=None, seq=1)
    assert p["type"] == "send"
    assert p["user_id"] == users["alice"][1]
    assert p["chat_id"] == cid == str(int(users["alice"][1]) ^ int(users["bob"][1]))
    assert p["content"] == "hello bob \U0001F600"
    assert re.fullmatch(r"[1-9]\d*", p["id"]) and 0 < int(p["id"]) < 2**63
    assert CREATED_AT_RE.match(p["created_at"]), p
    created = parse_created_at(p["created_at"])  # written in UTC+9
    assert before - datetime.timedelta(seconds=2) <= created <= after + datetime.timedelta(seconds=2)
    conns["carol"].expect_silence(0.2)

    # bob answers on the same chat id.
    reply = send_and_echo(conns["bob"], cid, "hi alice")
    assert reply["user_id"] == users["bob"][1] and reply["chat_id"] == cid
    assert recv_chat(conns["alice"]) == reply
    assert recv_chat(alice2) == dict(reply, edited_at=None, seq=2)
    assert int(reply["id"]) > int(p["id"])


def test_non_friends_cannot_send(server, pair):
    users, conns, _ = pair
    cid = dm_id(users["alice"][1], users["carol"][1])
    send_chat(conns["alice"], cid, "hi carol")
    expect_error(conns["alice"], "4015")
    conns["carol"].expect_silence(0.2)
    # A chat id that names no user at all.
    send_chat(conns["alice"], str(int(users["alice"][1]) ^ 12345), "hi?")
    expect_error(conns["alice"], "4020")


def test_edit_by_the_author_replaces_the_text(server, pair):
    users, conns, cid = pair
    m = send_and_echo(conns["alice"], cid, "helo")
    recv_chat(conns["bob"])
    conns["alice"].send("chat", {"type": "edit", "chat_id": cid, "id": m["id"],
                                 "content": "hello"})
    e = recv_chat(conns["alice"])
    assert recv_chat(conns["bob"]) == e
    assert e["type"] == "edit" and e["id"] == m["id"] and e["content"] == "hello"
    assert e["user_id"] == users["alice"][1] and e["chat_id"] == cid
    assert e["created_at"] == m["created_at"]
    load_chat(conns["bob"], cid, far_future_cursor(), 10)
    h = recv_chat(conns["bob"])
    assert (h["id"], h["content"], h["type"]) == (m["id"], "hello", "send")
    conns["bob"].expect_silence()


def test_edited_at_is_in_v2_events_and_history_and_never_in_v1(server, pair):
    users, conns, cid = pair  # alice and bob on v1
    a2 = connect(server, users["alice"][0], version=2)
    b2 = connect(server, users["bob"][0], version=2)
    plain = send_and_echo(conns["alice"], cid, "never edited")
    edited = send_and_echo(conns["alice"], cid, "helo")
    for c in (conns["bob"], a2, b2):
        recv_chats(c, 2)
    time.sleep(0.05)  # an edit time visibly later than the creation time
    before = datetime.datetime.now(datetime.timezone.utc)
    conns["alice"].send("chat", {"type": "edit", "chat_id": cid, "id": edited["id"],
                                 "content": "hello"})
    v1_event = recv_chat(conns["alice"])
    assert recv_chat(conns["bob"]) == v1_event
    assert "edited_at" not in v1_event  # the published app's frame is unchanged
    v2_event = recv_chat(a2)
    assert recv_chat(b2) == v2_event
    assert v2_event == dict(v1_event, edited_at=v2_event["edited_at"], seq=3)
    assert CREATED_AT_RE.match(v2_event["edited_at"]), v2_event
    edited_at = parse_created_at(v2_event["edited_at"])  # the same format and zone
    assert edited_at > parse_created_at(edited["created_at"])
    assert before - datetime.timedelta(seconds=2) <= edited_at
    assert edited_at <= datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)

    # History keeps it: v2 says when, null for the other; v1 history is as before.
    load_chat(b2, cid, far_future_cursor(), 10)
    h = recv_chats(b2, 2)
    assert h[0] == dict(plain, edited_at=None)
    assert h[1] == dict(edited, content="hello", edited_at=v2_event["edited_at"])
    assert b2.recv()["type"] == "load"
    load_chat(conns["bob"], cid, far_future_cursor(), 10)
    assert recv_chats(conns["bob"], 2) == [plain, dict(edited, content="hello")]
    conns["bob"].expect_silence()

    # ... and so does a restart.
    for c in (a2, b2, *conns.values()):
        c.close()
        c.ws.shutdown()
    server.restart()
    b2 = connect(server, users["bob"][0], version=2)
    load_chat(b2, cid, far_future_cursor(), 10)
    assert recv_chats(b2, 2)[1]["edited_at"] == v2_event["edited_at"]


def test_edit_with_empty_content_deletes_the_message(server, pair):
    users, conns, cid = pair
    keep = send_and_echo(conns["alice"], cid, "keep me")
    gone = send_and_echo(conns["alice"], cid, "delete me")
    recv_chats(conns["bob"], 2)
    conns["alice"].send("chat", {"type": "edit", "chat_id": cid, "id": gone["id"], "content": ""})
    e = recv_chat(conns["alice"])
    assert recv_chat(conns["bob"]) == e
    assert e["type"] == "edit" and e["id"] == gone["id"] and e["content"] == ""
    load_chat(conns["alice"], cid, far_future_cursor(), 10)
    assert [m["id"] for m in recv_chats(conns["alice"], 1)] == [keep["id"]]
    conns["alice"].expect_silence()


def test_editing_someone_elses_message_is_4021(server, pair):
    users, conns, cid = pair
    m = send_and_echo(conns["alice"], cid, "mine")
    recv_chat(conns["bob"])
    conns["bob"].send("chat", {"type": "edit", "chat_id": cid, "id": m["id"], "content": "his"})
    expect_error(conns["bob"], "4021")
    conns["bob"].send("chat", {"type": "edit", "chat_id": cid, "id": m["id"], "content": ""})
    expect_error(conns["bob"], "4021")
    conns["alice"].expect_silence(0.2)
    # A message id that does not exist.
    conns["alice"].send("chat", {"type": "edit", "chat_id": cid, "id": "12345", "content": "x"})
    expect_error(conns["alice"], "4021")
    load_chat(conns["alice"], cid, far_future_cursor(), 5)
    assert recv_chat(conns["alice"])["content"] == "mine"


def test_empty_send_is_ignored(server, pair):
    users, conns, cid = pair
    send_chat(conns["alice"], cid, "")
    send_chat(conns["alice"], cid, "  \n\t ")
    conns["alice"].expect_silence(0.4)
    conns["bob"].expect_silence(0.1)
    # A send without content is not an empty one: it is refused (issue 11), still unsent.
    conns["alice"].send("chat", {"type": "send", "chat_id": cid})
    assert "'content'" in expect_error(conns["alice"], "4003")["reason"]
    conns["bob"].expect_silence(0.1)
    # The next real message is the first frame either of them sees.
    m = send_and_echo(conns["alice"], cid, "real")
    assert recv_chat(conns["bob"]) == m


def test_content_limits_are_in_characters_with_clear_errors(server, pair):
    users, conns, cid = pair
    a = conns["alice"]
    longest = "\uac00" * 2000  # 2000 characters, 6000 bytes: allowed (--max-content-chars)
    assert send_and_echo(a, cid, longest)["content"] == longest
    assert recv_chat(conns["bob"])["content"] == longest
    send_chat(a, cid, "x" * 2001)
    expect_error(a, "4022")
    send_chat(a, cid, "bell \u0007")
    expect_error(a, "4023")
    m = send_and_echo(a, cid, "fine")
    a.send("chat", {"type": "edit", "chat_id": cid, "id": m["id"], "content": "y" * 2001})
    expect_error(a, "4022")
    conns["bob"].recv_type("chat")
    conns["bob"].expect_silence(0.2)


# --------------------------------------------------------------------------- history


def test_history_returns_newest_before_cursor_oldest_first_in_both_formats(server, pair):
    users, conns, cid = pair
    a, b = conns["alice"], conns["bob"]
    first = [send_and_echo(a, cid, f"m{i}") for i in range(3)]
    time.sleep(0.35)  # a gap wider than the app cursor's 100 ms precision
    second = [send_and_echo(a, cid, f"m{i}") for i in range(3, 6)]
    recv_chats(b, 6)
    msgs = first + second

    # The app's format, far in the future, month and day not zero-padded.
    load_chat(b, cid, far_future_cursor(), 4)
    got = recv_chats(b, 4)
    assert [m["content"] for m in got] == ["m2", "m3", "m4", "m5"]
    assert got == msgs[2:]
    b.expect_silence()

    # The app's format (UTC+9, 100 ms) between the two batches.
    last_of_first = parse_created_at(first[-1]["created_at"])
    cursor = last_of_first.replace(microsecond=last_of_first.microsecond // 100000 * 100000)
    cursor += datetime.timedelta(milliseconds=200)
    assert cursor < parse_created_at(second[0]["created_at"])
    load_chat(b, cid, app_cursor(cursor), 10)
    assert [m["content"] for m in recv_chats(b, 3)] == ["m0", "m1", "m2"]
    b.expect_silence()

    # The seed's format: strictly before the given message.
    load_chat(b, cid, msgs[4]["created_at"], 2)
    assert [m["content"] for m in recv_chats(b, 2)] == ["m2", "m3"]
    b.expect_silence()

    # A cursor before everything: nothing.
    load_chat(b, cid, "2020-1-2 03:04:05.6000", 10)
    b.expect_silence()


def test_history_pages_backwards_with_the_oldest_created_at(server, pair):
    users, conns, cid = pair
    a = conns["alice"]
    sent = [send_and_echo(a, cid, f"page {i}") for i in range(7)]
    pages = []
    cursor = far_future_cursor()
    while True:
        load_chat(a, cid, cursor, 3)
        page = []
        for _ in range(3):
            try:
                page.append(recv_chat(a, timeout=0.5))
            except websocket.WebSocketTimeoutException:
                break
        if not page:
            break
        pages.append([m["content"] for m in page])
        cursor = page[0]["created_at"]
    assert pages == [["page 4", "page 5", "page 6"], ["page 1", "page 2", "page 3"], ["page 0"]]
    assert sum(len(p) for p in pages) == len(sent)


def test_history_leaves_out_deleted_messages(server, pair):
    users, conns, cid = pair
    a = conns["alice"]
    sent = [send_and_echo(a, cid, f"d{i}") for i in range(5)]
    for m in (sent[1], sent[3]):
        a.send("chat", {"type": "edit", "chat_id": cid, "id": m["id"], "content": ""})
        assert recv_chat(a)["content"] == ""
    load_chat(a, cid, far_future_cursor(), 10)
    assert [m["content"] for m in recv_chats(a, 3)] == ["d0", "d2", "d4"]
    a.expect_silence()
    load_chat(a, cid, far_future_cursor(), 2)
    assert [m["content"] for m in recv_chats(a, 2)] == ["d2", "d4"]


def test_history_count_is_capped(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=["--history-max-count", "3"], smtp=smtp)
    users = make_users(s, smtp, "alice", "bob")
    conns = {n: connect(s, users[n][0]) for n in users}
    make_friends(users, conns, "alice", "bob")
    cid = dm_id(users["alice"][1], users["bob"][1])
    for i in range(5):
        send_and_echo(conns["alice"], cid, f"c{i}")
    load_chat(conns["alice"], cid, far_future_cursor(), 1000)
    assert [m["content"] for m in recv_chats(conns["alice"], 3)] == ["c2", "c3", "c4"]
    conns["alice"].expect_silence()


def test_third_user_is_refused_the_pairs_history(server, pair):
    users, conns, cid = pair
    send_and_echo(conns["alice"], cid, "private")
    c = conns["carol"]
    load_chat(c, cid, far_future_cursor(), 10)
    expect_error(c, "4020")
    c.expect_silence()
    c2 = connect(server, users["carol"][0], version=2)
    load_chat(c2, cid, far_future_cursor(), 10)
    expect_error(c2, "4020")
    c2.expect_silence()


@pytest.mark.parametrize("datetime_b64", [
    "!!!not base64!!!",
    base64.b64encode(b"not a date").decode(),
    base64.b64encode(b"2026-13-40 25:61:00.0").decode(),
    "",
])
def test_bad_load_cursor_is_4024(server, pair, datetime_b64):
    users, conns, cid = pair
    a = conns["alice"]
    a.send("load", {"type": "chat", "load_id": cid, "datetime": datetime_b64, "count": 5})
    expect_error(a, "4024")
    a.expect_silence(0.2)


def test_v2_history_load_ends_with_a_complete_frame(server, pair):
    users, conns, cid = pair
    send_and_echo(conns["alice"], cid, "one")
    send_and_echo(conns["alice"], cid, "two")
    c = connect(server, users["bob"][0], version=2)
    load_chat(c, cid, far_future_cursor(), 10)
    assert [m["content"] for m in recv_chats(c, 2)] == ["one", "two"]
    done = c.recv()
    assert done["type"] == "load", done
    assert done["payload"]["type"] == "chat" and done["payload"]["complete"] is True
    assert done["payload"]["load_id"] == cid and done["payload"]["count"] == 2
    # An empty page still ends with the frame.
    load_chat(c, cid, "2020-1-2 03:04:05.6000", 10)
    done = c.recv()
    assert done["type"] == "load" and done["payload"]["complete"] is True
    assert done["payload"]["count"] == 0


# ------------------------------------------------------------------------- bad input


BAD_TEXT_FRAMES = [
    ("not json", "this is not json", "4001"),
    ("truncated json", '{"type": "heartbeat", "payload": ', "4001"),
    ("array", '[{"type": "heartbeat", "payload": 1}]', "4001"),
    ("string", '"heartbeat"', "4001"),
    ("missing type", '{"payload": {"count": 1}}', "4001"),
    ("type not a string", '{"type": 5, "payload": {}}', "4001"),
    ("unknown type", '{"type": "teleport", "payload": {}}', "4002"),
    ("chat_id wrong type", '{"type": "chat", "payload": {"type": "send", "chat_id": [1],'
                           ' "content": "x"}}', "4003"),
    ("content wrong type", '{"type": "chat", "payload": {"type": "send", "chat_id": "5",'
                           ' "content": 5}}', "4003"),
    ("load count wrong type", '{"type": "load", "payload": {"type": "chat", "load_id": "5",'
                              ' "datetime": "", "count": {}}}', "4003"),
    ("load count zero", '{"type": "load", "payload": {"type": "chat", "load_id": "5",'
                        ' "datetime": "", "count": 0}}', "4003"),
    ("chat type unknown", '{"type": "chat", "payload": {"type": "delete", "chat_id": "5",'
                          ' "content": "x"}}', "4003"),
    ("edit without id", '{"type": "chat", "payload": {"type": "edit", "chat_id": "5",'
                        ' "content": "x"}}', "4003"),
    ("friend name missing", '{"type": "mutual_users", "payload": {"type": "request"}}', "4003"),
    ("payload not an object", '{"type": "mutual_users", "payload": "request bob"}', "4003"),
    ("auth token wrong type", '{"type": "auth", "payload": {"auth": 123}}', "4003"),
]


@pytest.mark.parametrize("frame,code", [(f, c) for _, f, c in BAD_TEXT_FRAMES],
                         ids=[n for n, _, _ in BAD_TEXT_FRAMES])
def test_bad_input_is_answered_with_an_error_and_the_session_goes_on(server, smtp, frame, code):
    users = make_users(server, smtp, "alice")
    c = connect(server, users["alice"][0])
    c.send_raw(frame)
    expect_error(c, code)
    c.send("heartbeat", {"after": "bad"})
    assert c.recv() == {"type": "heartbeat", "payload": {"after": "bad"}}
    assert load_friends(c) == []


def test_binary_frame_is_answered_4004_and_the_session_goes_on(server, smtp):
    users = make_users(server, smtp, "alice")
    c = connect(server, users["alice"][0])
    c.ws.send_binary(b'{"type":"heartbeat","payload":1}')
    expect_error(c, "4004")
    c.send("heartbeat", 2)
    assert c.recv() == {"type": "heartbeat", "payload": 2}
    assert load_friends(c) == []


def test_oversized_frame_closes_1009(server, smtp):
    users = make_users(server, smtp, "alice")
    c = connect(server, users["alice"][0])
    c.send("heartbeat", "x" * (64 * 1024 + 100))
    assert raw_close_code(c) == 1009


def test_a_frame_just_under_the_limit_is_fine(server):
    c = Client(server)
    payload = "y" * (64 * 1024 - 64)
    c.send("heartbeat", payload)
    assert c.recv()["payload"] == payload


def test_flood_of_invalid_frames_closes_4103(server, smtp):
    users = make_users(server, smtp, "alice")
    c = connect(server, users["alice"][0])
    for _ in range(30):
        try:
            c.send_raw("garbage")
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError,
                ConnectionResetError):
            break
    assert wait_closed(c) == 4103


# ---------------------------------------------------------------------------- timeouts


def test_silent_connection_is_closed_4100_after_heartbeat_timeout(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=["--heartbeat-timeout", "2"], smtp=smtp)
    users = make_users(s, smtp, "alice")
    c = connect(s, users["alice"][0])
    t0 = time.time()
    assert wait_closed(c, timeout=6) == 4100
    assert time.time() - t0 < 3.5


def test_heartbeating_connection_stays_open_past_heartbeat_timeout(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    # The auth timeout does not apply once authenticated either.
    s = start_server(args=["--heartbeat-timeout", "2", "--auth-timeout", "2"], smtp=smtp)
    users = make_users(s, smtp, "alice")
    c = connect(s, users["alice"][0])
    end = time.time() + 4.5
    n = 0
    while time.time() < end:
        n += 1
        c.send("heartbeat", {"count": n})
        assert c.recv() == {"type": "heartbeat", "payload": {"count": n}}
        time.sleep(0.5)
    assert load_friends(c) == []


def test_never_authenticating_connection_is_closed_4102(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=["--auth-timeout", "2"], smtp=smtp)
    c = Client(s)
    t0 = time.time()
    n = 0
    code = None
    while time.time() - t0 < 6:
        n += 1
        try:
            c.send("heartbeat", {"count": n})
            c.recv(0.5)
        except ConnectionClosed as closed:
            code = closed.code
            break
        time.sleep(0.3)
    assert code == 4102
    assert time.time() - t0 < 3.5


# ------------------------------------------------------------------------- durability


def test_friendships_requests_and_history_survive_a_clean_restart(server, pair):
    users, conns, cid = pair
    sent = [send_and_echo(conns["alice"], cid, f"before restart {i}") for i in range(3)]
    friend(conns["carol"], "request", "alice")
    expect_ok(conns["carol"])
    for c in conns.values():
        c.close()
    # A connection open during a clean shutdown is closed with 1001 (going away).
    watcher = connect(server, users["bob"][0])
    codes = []

    def watch():
        codes.append(watcher.wait_close(15))
        watcher.ws.shutdown()

    t = threading.Thread(target=watch)
    t.start()
    server.restart()
    t.join()
    assert codes == [1001]
    a = connect(server, users["alice"][0], version=2)
    assert a.auth_payload["mutual_users"] == [user_obj(users, "bob")]
    assert a.auth_payload["mutual_requests"] == [user_obj(users, "carol")]
    load_chat(a, cid, far_future_cursor(), 10)
    assert recv_chats(a, 3) == [dict(m, edited_at=None) for m in sent]
    assert a.recv()["type"] == "load"
    # The friendship still works for new messages.
    b = connect(server, users["bob"][0])
    m = send_and_echo(b, cid, "after restart")
    assert recv_chat(a) == dict(m, edited_at=None, seq=4)  # the chat's numbering goes on


def test_kill9_right_after_the_echo_loses_no_message(server, pair):
    users, conns, cid = pair
    a = conns["alice"]
    for i in range(50):
        send_chat(a, cid, f"durable {i}")
    echoed = recv_chats(a, 50, timeout=10)
    server.kill9()
    assert sorted(m["content"] for m in echoed) == sorted(f"durable {i}" for i in range(50))
    server.start()
    b = connect(server, users["bob"][0])
    load_chat(b, cid, far_future_cursor(), 50)
    got = recv_chats(b, 50)
    assert [m["id"] for m in got] == [m["id"] for m in echoed]
    assert [m["content"] for m in got] == [m["content"] for m in echoed]
    b.expect_silence()


# -------------------------------------------------------------------- many connections


def test_every_connection_of_a_user_receives_events(server, pair):
    users, conns, cid = pair
    versions = [None, None, 2, None, 2]
    bobs = [conns["bob"]] + [connect(server, users["bob"][0], version=v) for v in versions[1:]]
    alices = [conns["alice"], connect(server, users["alice"][0])]
    m = send_and_echo(alices[0], cid, "to all of you")
    v2_frame = dict(m, edited_at=None, seq=1)  # the same event, with v2's edited_at and seq
    for c, v in zip(bobs + alices[1:], versions + [None]):
        assert recv_chat(c) == (v2_frame if v == 2 else m)
    friend(conns["carol"], "request", "bob")
    expect_ok(conns["carol"])
    for c in bobs:
        assert c.recv() == {"type": "mutual_users",
                            "payload": {"type": "request", "user": user_obj(users, "carol")}}
    # A closed connection does not disturb delivery to the rest.
    bobs.pop(1).close()
    versions.pop(1)
    m2 = send_and_echo(alices[0], cid, "still here")
    for c, v in zip(bobs, versions):
        assert recv_chat(c) == (dict(m2, edited_at=None, seq=2) if v == 2 else m2)


def test_third_session_over_the_per_user_limit_is_closed_4106(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=["--max-sessions-per-user", "2"], smtp=smtp)
    users = make_users(s, smtp, "alice")
    c1 = connect(s, users["alice"][0])
    c2 = connect(s, users["alice"][0])
    c3 = Client(s)
    c3.send("heartbeat", {"count": 0})
    c3.recv()
    c3.send("auth", {"auth": users["alice"][0]})
    assert wait_closed(c3) == 4106
    for c in (c1, c2):
        c.send("heartbeat", 1)
        assert c.recv()["payload"] == 1
    # A slot frees up when one closes.
    c1.close()
    deadline = time.time() + 5
    while True:
        c4 = Client(s)
        c4.send("heartbeat", 0)
        c4.recv()
        c4.send("auth", {"auth": users["alice"][0]})
        try:
            assert c4.recv()["type"] == "auth"
            break
        except ConnectionClosed:
            assert time.time() < deadline, "the closed session never left the hub"
            time.sleep(0.05)


def test_a_session_leaves_at_the_close_handshake_its_client_started_not_at_the_tcp_end(
        start_server, smtp, test_ca):
    # With one session allowed, a client whose close handshake completed but that keeps its
    # socket open (the server's lingering close waits seconds for it) holds no place: the next
    # connection, at once, gets one.
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=["--max-sessions-per-user", "1"], smtp=smtp)
    users = make_users(s, smtp, "alice")
    first = raw_session(s, users["alice"][0])
    first.frame(OP_CLOSE, struct.pack("!H", 1000))
    assert first.close_code() == 1000
    c = connect(s, users["alice"][0])
    c.send("heartbeat", 1)
    assert c.recv()["payload"] == 1
    c.close()
    first.close()


def test_per_connection_rate_limit_answers_4029_with_retry_after(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    # FAST_ARGS already sets --ws-rate-count and CLI11 refuses a repeated flag.
    s = start_server(args=FAST_HASH + ["--ws-rate-count", "5", "--ws-rate-window", "60"],
                     smtp=smtp, fast=False)
    users = make_users(s, smtp, "alice")
    c = connect(s, users["alice"][0])  # auth is request 1
    for _ in range(4):  # requests 2..5
        assert load_friends(c) == []
    c.send("load", {"type": "mutual_users"})  # request 6
    err = expect_error(c, "4029")
    assert isinstance(err["retry_after"], (int, float)) and 0 < err["retry_after"] <= 60
    # Heartbeats are never limited, and the session stays open.
    c.send("heartbeat", {"count": 1})
    assert c.recv() == {"type": "heartbeat", "payload": {"count": 1}}
    # Each connection has its own budget.
    c2 = connect(s, users["alice"][0])
    assert load_friends(c2) == []


def test_peer_that_keeps_going_over_the_rate_limit_is_closed_4104(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=FAST_HASH + ["--ws-rate-count", "5", "--ws-rate-window", "60"],
                     smtp=smtp, fast=False)
    users = make_users(s, smtp, "alice")
    c = connect(s, users["alice"][0])
    for _ in range(40):
        try:
            c.send("load", {"type": "mutual_users"})
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError,
                ConnectionResetError):
            break
    assert wait_closed(c) == 4104
