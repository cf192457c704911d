"""End-to-end tests of blocking a user (v2 `block` and `load blocked_users`): the real
rewind-server binary, real accounts created through the mail link, real WebSocket clients.
A block ends the pair's friendship and pending request (both sides told with the usual friend
events); the blocked user's friend request is refused as for a name that does not exist; the
blocker's own request is refused with 4016 until they unblock; guild chats keep working."""
import pytest

from conftest import Client, create_user


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def make_users(server, smtp, *names):
    return {n: create_user(server, smtp.mailbox, n) for n in names}


def connect_all(server, users, version=2):
    conns = {}
    for name, (token, _) in users.items():
        conns[name] = Client(server, version=version)
        conns[name].handshake(token)
    return conns


def ok(client):
    f = client.recv()
    assert f["type"] == "ok", f


def error_code(client):
    f = client.recv()
    assert f["type"] == "error", f
    return f["payload"]["code"]


def friend_event(client):
    f = client.recv_type("mutual_users")
    return f["payload"]["type"], f["payload"]["user"]["name"]


def make_friends(conns, a, b):
    conns[a].send("mutual_users", {"type": "request", "name": b})
    ok(conns[a])
    assert friend_event(conns[b]) == ("request", a)
    conns[b].send("mutual_users", {"type": "response", "name": a})
    ok(conns[b])
    assert friend_event(conns[a]) == ("response", b)


def block(client, name, kind="block"):
    client.send("block", {"type": kind, "name": name})


def blocked_names(client):
    client.send("load", {"type": "blocked_users"})
    f = client.recv()
    assert f["type"] == "load" and f["payload"]["type"] == "blocked_users", f
    return [u["name"] for u in f["payload"]["users"]]


def test_block_ends_the_friendship_both_told_and_refuses_requests_and_messages(server, smtp):
    users = make_users(server, smtp, "alice", "bob")
    conns = connect_all(server, users)
    alice_other = Client(server, version=2)
    alice_other.handshake(users["alice"][0])
    make_friends(conns, "alice", "bob")
    alice_other.recv_type("mutual_users")  # my request, on my other connection
    alice_other.recv_type("mutual_users")  # bob's answer
    dm = str(int(users["alice"][1]) ^ int(users["bob"][1]))

    block(conns["alice"], "bob")
    ok(conns["alice"])
    assert friend_event(conns["bob"]) == ("delete", "alice")
    f = alice_other.recv_type("mutual_users")
    assert f["payload"] == {"type": "delete", "user": {"id": users["bob"][1], "name": "bob",
                                                       "profile": None}, "self": True}
    assert blocked_names(conns["alice"]) == ["bob"]
    assert blocked_names(conns["bob"]) == []

    # bob's request reads as a name that does not exist; his message as not friends.
    conns["bob"].send("mutual_users", {"type": "request", "name": "alice"})
    refused = conns["bob"].recv()
    conns["bob"].send("mutual_users", {"type": "request", "name": "nobody-here"})
    unknown = conns["bob"].recv()
    assert refused == unknown and unknown["payload"]["code"] == "4010", (refused, unknown)
    conns["bob"].send("chat", {"type": "send", "chat_id": dm, "content": "hi?"})
    assert error_code(conns["bob"]) == "4015"
    conns["alice"].expect_silence()

    # alice is told to unblock first; after unblocking, bob can ask again.
    conns["alice"].send("mutual_users", {"type": "request", "name": "bob"})
    assert error_code(conns["alice"]) == "4016"
    block(conns["alice"], "bob", "unblock")
    ok(conns["alice"])
    assert blocked_names(conns["alice"]) == []
    conns["bob"].send("mutual_users", {"type": "request", "name": "alice"})
    ok(conns["bob"])
    assert friend_event(conns["alice"]) == ("request", "bob")


def test_block_removes_pending_requests_either_way_and_both_are_told(server, smtp):
    users = make_users(server, smtp, "alice", "bob", "carol")
    conns = connect_all(server, users)
    conns["bob"].send("mutual_users", {"type": "request", "name": "alice"})
    ok(conns["bob"])
    assert friend_event(conns["alice"]) == ("request", "bob")
    conns["alice"].send("mutual_users", {"type": "request", "name": "carol"})
    ok(conns["alice"])
    assert friend_event(conns["carol"]) == ("request", "alice")

    block(conns["alice"], "bob")
    ok(conns["alice"])
    assert friend_event(conns["bob"]) == ("remove", "alice")
    block(conns["alice"], "carol")
    ok(conns["alice"])
    assert friend_event(conns["carol"]) == ("remove", "alice")

    # Nothing pending is left on either side: a fresh auth lists no request.
    for name in ("alice", "bob", "carol"):
        fresh = Client(server, version=2)
        payload = fresh.handshake(users[name][0])
        assert payload["mutual_requests"] == [] and payload["outgoing_requests"] == [], name
    # Blocking again is a repeat: ok, and nobody is told anything.
    block(conns["alice"], "bob")
    ok(conns["alice"])
    conns["bob"].expect_silence()
    assert blocked_names(conns["alice"]) == ["bob", "carol"]


def test_guild_add_is_refused_but_a_shared_guild_still_works(server, smtp):
    users = make_users(server, smtp, "alice", "bob", "carol")
    conns = connect_all(server, users)
    make_friends(conns, "alice", "bob")
    make_friends(conns, "carol", "alice")
    make_friends(conns, "carol", "bob")
    conns["carol"].send("guild", {"type": "create", "name": "crew"})
    guild = conns["carol"].recv_type("guild")["payload"]["guild"]
    conns["carol"].send("guild", {"type": "add", "guild_id": guild["id"], "name": "alice"})
    conns["carol"].recv_type("guild")
    conns["alice"].recv_type("guild")
    own = conns["bob"]
    own.send("guild", {"type": "create", "name": "bobs"})
    bobs = own.recv_type("guild")["payload"]["guild"]

    block(conns["alice"], "bob")
    ok(conns["alice"])
    assert friend_event(conns["bob"]) == ("delete", "alice")
    conns["bob"].send("guild", {"type": "add", "guild_id": bobs["id"], "name": "alice"})
    assert error_code(conns["bob"]) == "4015"

    # carol's guild: bob joins, and alice and bob still read each other there.
    conns["carol"].send("guild", {"type": "add", "guild_id": guild["id"], "name": "bob"})
    for c in ("carol", "alice", "bob"):
        assert conns[c].recv_type("guild")["payload"]["type"] == "joined"
    conns["bob"].send("chat", {"type": "send", "chat_id": guild["id"], "content": "hello crew"})
    for c in ("carol", "alice", "bob"):
        f = conns[c].recv_type("chat")
        assert f["payload"]["content"] == "hello crew", c


BAD_BLOCKS = [
    ({"type": "block"}, "4003"),                      # name missing
    ({"type": "block", "name": None}, "4003"),        # null
    ({"type": "block", "name": 7}, "4003"),           # wrong type
    ({"type": "block", "name": ""}, "4010"),          # empty: no such user
    ({"type": "block", "name": "nobody-here"}, "4010"),
    ({"type": "block", "name": "alice"}, "4011"),     # myself
    ({"type": "unblock"}, "4003"),
    ({"type": "unblock", "name": None}, "4003"),
    ({"type": "unblock", "name": ["bob"]}, "4003"),
    ({"type": "unblock", "name": ""}, "4010"),
    ({"type": "unblock", "name": "nobody-here"}, "4010"),
    ({"type": "unblock", "name": "alice"}, "4011"),
    ({"type": "mute", "name": "bob"}, "4003"),        # unknown kind
    ({}, "4003"),                                     # kind missing
    ({"type": None}, "4003"),
    ("bob", "4003"),                                  # payload not an object
    (None, "4003"),
]


def test_bad_block_requests_are_refused_and_change_nothing(server, smtp):
    users = make_users(server, smtp, "alice", "bob")
    c = Client(server, version=2)
    c.handshake(users["alice"][0])
    for payload, code in BAD_BLOCKS:
        c.send("block", payload)
        assert error_code(c) == code, payload
    assert blocked_names(c) == []
    c.send("load", {"type": "blocked_users", "extra": None})  # other keys are ignored
    assert c.recv()["payload"] == {"type": "blocked_users", "users": []}


def test_v1_knows_no_block_and_still_refuses_a_blocked_sender(server, smtp):
    users = make_users(server, smtp, "alice", "bob")
    v2 = connect_all(server, {"alice": users["alice"]})
    block(v2["alice"], "bob")
    ok(v2["alice"])
    v1 = Client(server)
    v1.handshake(users["bob"][0])
    block(v1, "alice")
    assert error_code(v1) == "4002"
    v1.send("load", {"type": "blocked_users"})
    assert error_code(v1) == "4003"
    v1.send("mutual_users", {"type": "request", "name": "alice"})
    assert error_code(v1) == "4010"
