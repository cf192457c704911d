"""End-to-end tests of v2's request ids (issue 19; docs/PROTOCOL.md, "Request ids"): a v2
client may give a request an id at the frame's top level, and the frames that answer that
request (its answer, its error, and for a chat send or edit or a guild operation the event
on the connection that asked) carry it back; nobody else sees it. v1 never reads the field: its frames are answered
byte for byte as before."""
import base64
import json

import pytest
import websocket

from conftest import Client, befriend, create_user


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


@pytest.fixture
def pair(server, smtp):
    """alice and bob, friends: tokens, ids and their DM's chat id."""
    alice = create_user(server, smtp.mailbox, "alice")
    bob = create_user(server, smtp.mailbox, "bob")
    befriend(server, alice[0], bob[0], "bob")
    return {"alice": alice, "bob": bob, "dm": str(int(alice[1]) ^ int(bob[1]))}


def connect(server, token, version=2):
    c = Client(server, version=version)
    c.handshake(token)
    return c


def send(client, type_, payload, request_id):
    client.send_raw(json.dumps({"type": type_, "payload": payload, "request_id": request_id}))


def raw_recv(client, timeout=5):
    client.ws.settimeout(timeout)
    return client.ws.recv()


def test_a_send_is_answered_by_its_event_with_the_id_on_the_connection_that_asked(server, pair):
    mine = connect(server, pair["alice"][0])
    my_other = connect(server, pair["alice"][0])
    my_app = connect(server, pair["alice"][0], version=1)
    bob = connect(server, pair["bob"][0])
    send(mine, "chat", {"type": "send", "chat_id": pair["dm"], "content": "hello"}, "m-1")
    echo = mine.recv()
    assert echo["type"] == "chat" and echo["payload"]["content"] == "hello", echo
    assert echo["request_id"] == "m-1", echo
    # Everyone else gets the event as ever, without the id.
    for other in (my_other, my_app, bob):
        f = other.recv()
        assert f["type"] == "chat" and f["payload"] == {
            k: v for k, v in echo["payload"].items()
            if other is not my_app or k not in ("edited_at", "seq")}  # v1 has neither
        assert "request_id" not in f, f
    # An edit is answered the same way.
    send(mine, "chat", {"type": "edit", "chat_id": pair["dm"], "id": echo["payload"]["id"],
                        "content": "hello again"}, "m-2")
    f = mine.recv()
    assert f["payload"]["type"] == "edit" and f["request_id"] == "m-2", f
    assert "request_id" not in bob.recv()
    # Without an id, the event is the same for everyone.
    mine.send("chat", {"type": "send", "chat_id": pair["dm"], "content": "plain"})
    assert "request_id" not in mine.recv()


def test_a_refused_send_names_its_request(server, pair):
    mine = connect(server, pair["alice"][0])
    bob = connect(server, pair["bob"][0])
    send(mine, "chat", {"type": "send", "chat_id": pair["dm"], "content": "bell \x07"}, "bad-1")
    f = mine.recv()
    assert f == {"type": "error", "payload": f["payload"], "request_id": "bad-1"}, f
    assert f["payload"]["code"] == "4023", f
    send(mine, "chat", {"type": "send", "chat_id": pair["dm"]}, "bad-2")
    f = mine.recv()
    assert f["payload"]["code"] == "4003" and f["request_id"] == "bad-2", f
    send(mine, "dance", {}, "bad-3")
    f = mine.recv()
    assert f["payload"]["code"] == "4002" and f["request_id"] == "bad-3", f
    # bob unfriends; alice's send that follows is refused with its id.
    bob.send("mutual_users", {"type": "delete", "name": "alice"})
    assert bob.recv_type("ok")
    mine.recv_type("mutual_users")
    send(mine, "chat", {"type": "send", "chat_id": pair["dm"], "content": "still there?"}, "gone")
    f = mine.recv()
    assert f["payload"]["code"] == "4015" and f["request_id"] == "gone", f
    bob.expect_silence()


def test_a_guild_request_is_answered_by_its_event_with_the_id_on_the_connection_that_asked(
        server, pair):
    mine = connect(server, pair["alice"][0])
    my_other = connect(server, pair["alice"][0])
    bob = connect(server, pair["bob"][0])
    send(mine, "guild", {"type": "create", "name": "crew"}, "g-1")
    created = mine.recv()
    assert created["type"] == "guild" and created["request_id"] == "g-1", created
    assert "request_id" not in my_other.recv()
    guild_id = created["payload"]["guild"]["id"]
    send(mine, "guild", {"type": "add", "guild_id": guild_id, "name": "bob"}, "g-2")
    joined = mine.recv()
    assert joined["payload"]["type"] == "joined" and joined["request_id"] == "g-2", joined
    assert "request_id" not in my_other.recv() and "request_id" not in bob.recv()
    send(mine, "guild", {"type": "add", "guild_id": guild_id, "name": "bob"}, "g-3")
    f = mine.recv()
    assert f["payload"]["code"] == "4053" and f["request_id"] == "g-3", f
    # bob's own request: his connection gets his id, alice's get none.
    send(bob, "guild", {"type": "leave", "guild_id": guild_id}, "b-1")
    left = bob.recv()
    assert left["payload"]["type"] == "left" and left["request_id"] == "b-1", left
    assert "request_id" not in mine.recv() and "request_id" not in my_other.recv()


def test_every_other_answer_carries_the_id(server, pair):
    c = Client(server, version=2)
    send(c, "heartbeat", {"count": 0}, "hb")
    assert c.recv() == {"type": "heartbeat", "payload": {"count": 0}, "request_id": "hb"}
    # Held before auth, answered after it: the ids stay with their requests.
    send(c, "load", {"type": "guilds"}, "early")
    send(c, "auth", {"auth": pair["alice"][0]}, "auth-1")
    f = c.recv()
    assert f["type"] == "auth" and f["request_id"] == "auth-1", f
    f = c.recv()
    assert f["type"] == "load" and f["request_id"] == "early", f
    send(c, "load", {"type": "mutual_users"}, "friends")
    f = c.recv()
    assert f["type"] == "mutual_users" and f["request_id"] == "friends", f
    send(c, "mutual_users", {"type": "request", "name": "nobody"}, "who")
    f = c.recv()
    assert f["payload"]["code"] == "4010" and f["request_id"] == "who", f
    c.send("chat", {"type": "send", "chat_id": pair["dm"], "content": "one"})
    c.recv_type("chat")
    cursor = base64.b64encode(b"2100-01-01 00:00:00").decode()
    send(c, "load", {"type": "chat", "load_id": pair["dm"], "datetime": cursor, "count": 10},
         "page")
    history = c.recv()
    assert history["type"] == "chat" and history["request_id"] == "page", history
    done = c.recv()
    assert done["type"] == "load" and done["payload"]["complete"] and done["request_id"] == "page"
    # The id is any printable ASCII, quotes and backslashes included, up to 64 characters.
    odd = '"\\ {}~' + "x" * 58
    send(c, "heartbeat", None, odd)
    assert c.recv() == {"type": "heartbeat", "payload": None, "request_id": odd}


def test_v1_frames_with_a_request_id_are_answered_byte_for_byte_as_before(server, pair):
    """The published app speaks v1: a request_id, whatever its value, changes nothing."""
    app = connect(server, pair["alice"][0], version=1)
    bob = connect(server, pair["bob"][0], version=1)
    frames = [
        ('{"type":"heartbeat","payload":{"count":1}}', '"r1"'),
        ('{"type":"load","payload":{"type":"mutual_users"}}', '"r2"'),
        ('{"type":"load","payload":{"type":"guilds"}}', "null"),
        ('{"type":"mutual_users","payload":{"type":"request","name":"nobody"}}', "7"),
        ('{"type":"chat","payload":{"type":"send","chat_id":"%s"}}' % pair["dm"], '""'),
        ('{"type":"guild","payload":{"type":"create","name":"x"}}', '"r3"'),
        ('{"type":"dance","payload":{}}', '"r4"'),
    ]
    for plain, value in frames:
        with_id = plain[:-1] + ',"request_id":' + value + "}"
        app.send_raw(plain)
        first = raw_recv(app)
        app.send_raw(with_id)
        assert raw_recv(app) == first, with_id
    app.send_raw('{"type":"chat","payload":{"type":"send","chat_id":"%s","content":"hi"},'
                 '"request_id":"r5"}' % pair["dm"])
    mine, theirs = raw_recv(app), raw_recv(bob)
    assert mine == theirs and "request_id" not in mine
    app.expect_silence()
