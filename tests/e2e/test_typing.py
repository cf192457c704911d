"""End-to-end tests of typing indicators (docs/PROTOCOL.md, "typing"): a v2 `typing` request
tells the chat's other members' v2 connections that I am typing, for a few seconds; it is
never stored, never sent to v1 (the app) nor to my own connections, past three at once and
then one per two seconds it is dropped, and it needs what a send needs."""
import time

import pytest

from conftest import Client, dm


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def connect(server, token, version=2):
    c = Client(server, version=version)
    c.handshake(token)
    return c


def test_typing_reaches_the_other_members_v2_connections_only_and_is_not_repeated_at_once(
        server, trio):
    alice = connect(server, trio["alice"][0])
    alice_other = connect(server, trio["alice"][0])
    bob = connect(server, trio["bob"][0])
    bob_app = connect(server, trio["bob"][0], version=1)
    chat = dm(trio, "alice", "bob")
    alice.send("typing", {"chat_id": chat})
    assert bob.recv() == {"type": "typing", "payload": {
        "chat_id": chat, "user_id": trio["alice"][1], "expires_in": 8}}
    # Answered only when refused; not to the app, not to my own connections.
    for c in (alice, alice_other, bob_app):
        c.expect_silence()
    # Three at once go out (the first above), a fourth is dropped; two seconds later one more
    # goes.
    for _ in range(3):
        alice.send("typing", {"chat_id": chat})
    for _ in range(2):
        assert bob.recv()["type"] == "typing"
    bob.expect_silence(0.5)
    time.sleep(2.1)
    alice.send("typing", {"chat_id": chat})
    assert bob.recv()["type"] == "typing"
    # Never stored: the history has nothing.
    alice.send("load", {"type": "chat", "load_id": chat, "datetime": "MjEwMC0xLTEgMDA6MDA6MDA=",
                        "count": 10})
    done = alice.recv()
    assert done["type"] == "load" and done["payload"]["count"] == 0, done


def test_typing_in_a_guild_reaches_its_other_members(server, trio):
    alice = connect(server, trio["alice"][0])
    bob = connect(server, trio["bob"][0])
    alice.send("guild", {"type": "create", "name": "crew"})
    guild = alice.recv_type("guild")["payload"]["guild"]["id"]
    alice.send("guild", {"type": "add", "guild_id": guild, "name": "bob"})
    alice.recv_type("guild")
    bob.recv_type("guild")
    bob.send("typing", {"chat_id": guild})
    assert alice.recv() == {"type": "typing", "payload": {
        "chat_id": guild, "user_id": trio["bob"][1], "expires_in": 8}}
    bob.expect_silence()


def test_typing_needs_what_a_send_needs(server, trio):
    carol = connect(server, trio["carol"][0])
    alice = connect(server, trio["alice"][0])
    bob = connect(server, trio["bob"][0])
    carol.send("typing", {"chat_id": dm(trio, "carol", "alice")})
    f = carol.recv()
    assert f["type"] == "error" and f["payload"]["code"] == "4015", f  # not friends
    carol.send_raw('{"type":"typing","payload":{"chat_id":"12345"},"request_id":"t-1"}')
    f = carol.recv()
    assert f["type"] == "error" and f["payload"]["code"] == "4020", f  # no such chat
    assert f["request_id"] == "t-1"
    for payload in ({"chat_id": None}, {}, {"chat_id": "abc"}, {"chat_id": 0}):
        carol.send("typing", payload)
        assert carol.recv()["payload"]["code"] == "4003", payload
    for c in (alice, bob):
        c.expect_silence()
    # v1 knows no typing: the app's frame is an unknown type, as before it existed.
    app = connect(server, trio["alice"][0], version=1)
    app.send("typing", {"chat_id": dm(trio, "alice", "bob")})
    assert app.recv()["payload"]["code"] == "4002"
    bob.expect_silence()
