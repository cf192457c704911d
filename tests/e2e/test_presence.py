"""End-to-end tests of presence (docs/PROTOCOL.md, "presence"): my friends' v2 connections
are told when I come online (my first connection) and go offline (my last one closed), the
v2 auth answer lists the friends online now, nobody else is told, and a user who turns
presence off shows as offline to everyone until they turn it on again."""
import pytest

from conftest import Client


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def connect(server, token, version=2):
    c = Client(server, version=version, presence=True)
    c.handshake(token)
    return c


def presence(user, online):
    return {"type": "presence", "payload": {"user_id": user[1], "online": online}}


def test_friends_are_told_of_my_first_connection_and_my_last(server, trio):
    alice, bob, carol = trio["alice"], trio["bob"], trio["carol"]
    b = connect(server, bob[0])
    assert b.auth_payload["online"] == [] and b.auth_payload["show_presence"] is True
    app = connect(server, bob[0], version=1)
    c = connect(server, carol[0])
    a1 = connect(server, alice[0])
    assert a1.auth_payload["online"] == [bob[1]]
    assert b.recv() == presence(alice, True)
    a2 = connect(server, alice[0])  # already online: nothing new
    a1.close()
    b.expect_silence()
    a2.close()
    assert b.recv() == presence(alice, False)
    # Not to the app (v1 knows no presence), not to carol (not a friend).
    app.expect_silence()
    c.expect_silence()
    assert connect(server, bob[0]).auth_payload["online"] == []


def test_turning_presence_off_shows_me_offline_until_i_turn_it_on(server, trio):
    alice, bob = trio["alice"], trio["bob"]
    a = connect(server, alice[0])
    b = connect(server, bob[0])
    assert a.recv() == presence(bob, True)
    a.send_raw('{"type":"presence","payload":{"visible":false},"request_id":"p-1"}')
    assert a.recv() == {"type": "ok", "payload": {}, "request_id": "p-1"}
    assert b.recv() == presence(alice, False)
    assert connect(server, bob[0]).auth_payload["online"] == []
    again = connect(server, alice[0])
    assert again.auth_payload["show_presence"] is False
    # Hidden, my connections come and go unseen; and the setting is stored.
    again.close()
    a.close()
    b.expect_silence()
    b.close()
    server.restart()
    a = connect(server, alice[0])
    assert a.auth_payload["show_presence"] is False
    b = connect(server, bob[0])
    assert b.auth_payload["online"] == []
    a.recv_type("presence")  # bob came online, and alice still sees him
    a.send("presence", {"visible": True})
    assert a.recv()["type"] == "ok"
    assert b.recv() == presence(alice, True)


def test_new_friends_see_each_others_presence_at_once(server, trio):
    alice, carol = trio["alice"], trio["carol"]
    a = connect(server, alice[0])
    c = connect(server, carol[0])
    a.send("mutual_users", {"type": "request", "name": "carol"})
    assert a.recv()["type"] == "ok"
    c.recv_type("mutual_users")
    c.send("mutual_users", {"type": "response", "name": "alice"})
    # carol's answer and alice's presence, in either order.
    got = [c.recv(), c.recv()]
    assert {"type": "ok", "payload": {}} in got and presence(alice, True) in got, got
    assert a.recv_type("mutual_users")["payload"]["type"] == "response"
    assert a.recv() == presence(carol, True)


def test_a_presence_request_needs_a_boolean_and_v2(server, trio):
    a = connect(server, trio["alice"][0])
    b = connect(server, trio["bob"][0])
    a.recv_type("presence")
    for payload in ({}, {"visible": None}, {"visible": 1}, {"visible": "false"}, {"visible": ""}):
        a.send("presence", payload)
        f = a.recv()
        assert f["type"] == "error" and f["payload"]["code"] == "4003", (payload, f)
        assert "'visible'" in f["payload"]["reason"]
    b.expect_silence()
    app = connect(server, trio["alice"][0], version=1)
    assert "online" not in app.auth_payload and "show_presence" not in app.auth_payload
    app.send("presence", {"visible": False})
    assert app.recv()["payload"]["code"] == "4002"
    b.expect_silence()
