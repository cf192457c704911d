"""Deleting an account (docs/PROTOCOL.md, "Deleting an account"): by its owner with the
password (POST /api/v1/auth/delete_account) or by an operator on the admin listener
(DELETE /admin/users/{id}). Every gateway connection of the account closes with 4111; its
friends and the other sides of its friend requests are told; it leaves its guilds (an owned
guild passes to the member who joined first); its messages stay under its id; its name and
email are free again, and its old password logs nobody in."""
import pytest
import requests

from conftest import Client, create_user, login, record_secret, register
from test_admin_accounts import SECRET, admin_server, call, error_code  # noqa: F401
from test_guilds import (add, connect, create_guild, cursor_now, make_friends, recv_chat,
                         send_chat)
from test_metrics import scrape, value

DELETED_NAME = "Deleted user"


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def delete_own(server, token, body=None, json_body=True):
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if not json_body:
        headers["Content-Type"] = "application/json"
    kw = {"json": body} if json_body else {"data": body}
    return requests.post(server.base + "/api/v1/auth/delete_account", headers=headers,
                         timeout=10, **kw)


def world(server, smtp):
    """alice, friends with bob and carol, owns a guild bob then carol joined and wrote in it;
    dave asked alice to be friends. Returns (users, conns, guild id, alice's message)."""
    users = {n: create_user(server, smtp.mailbox, n) for n in ("alice", "bob", "carol", "dave")}
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(conns, "alice", "bob")
    make_friends(conns, "alice", "carol")
    gid = create_guild(conns["alice"])["id"]
    add(conns, "alice", gid, "bob", ["alice", "bob"])
    add(conns, "alice", gid, "carol", ["alice", "bob", "carol"])
    send_chat(conns["alice"], gid, "hello from alice")
    message = recv_chat(conns["alice"])
    for n in ("bob", "carol"):
        recv_chat(conns[n])
    conns["dave"].send("mutual_users", {"type": "request", "name": "alice"})
    assert conns["dave"].recv_type("ok")["type"] == "ok"
    assert conns["alice"].recv_type("mutual_users")["payload"]["type"] == "request"
    return users, conns, gid, message


def expect_effects(server, smtp, users, conns, gid, message, closing):
    """What everyone sees once alice's account was deleted; `closing` are her connections."""
    alice_id = users["alice"][1]
    gone = {"id": alice_id, "name": DELETED_NAME, "profile": None}
    for c in closing:
        assert c.wait_close() == 4111
    for n in ("bob", "carol"):  # told as of an unfriending, then as of a leave
        ev = conns[n].recv_type("mutual_users")["payload"]
        assert ev["type"] == "delete" and ev["user"] == gone, ev
        ev = conns[n].recv_type("guild")["payload"]
        assert ev["type"] == "left" and ev["user"] == gone, ev
        assert ev["guild"]["owner_id"] == users["bob"][1]  # bob joined first
        assert ev["guild"]["member_count"] == 2
        assert ev["new_owner"]["id"] == users["bob"][1]
    ev = conns["dave"].recv_type("mutual_users")["payload"]
    assert ev["type"] == "remove" and ev["user"] == gone, ev
    # The history keeps alice's message under her id.
    conns["bob"].send("load", {"type": "chat", "load_id": gid, "datetime": cursor_now(),
                               "count": 10})
    h = recv_chat(conns["bob"])
    assert h["id"] == message["id"] and h["user_id"] == alice_id
    assert h["content"] == "hello from alice"
    conns["bob"].recv_type("load")
    # Friends lists no longer hold her; the guild is bob's.
    bob = Client(server, version=2)
    auth = bob.handshake(users["bob"][0])
    assert all(u["id"] != alice_id for u in auth["mutual_users"])
    dave = Client(server, version=2)
    dave_auth = dave.handshake(users["dave"][0])
    assert dave_auth["outgoing_requests"] == []
    # Her old password logs nobody in, her old token nothing, and her name and email are free.
    r = login(server, "alice@example.test")
    assert r.status_code == 401 and error_code(r) == "invalid_credentials"
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    c.recv()
    c.send("auth", {"auth": users["alice"][0]})
    assert c.recv()["type"] == "error"
    r = register(server, "alice", "alice@example.test")
    assert r.status_code == 201, r.text
    link = smtp.mailbox.link_for("alice@example.test", index=1)  # the second sign-up's mail
    assert requests.get(link, timeout=10).status_code == 200
    r = login(server, "alice@example.test")
    assert r.status_code == 201, r.text
    again = Client(server).handshake(r.json()["payload"]["token"])["self_user"]
    assert again["name"] == "alice" and again["id"] != alice_id


def test_a_person_deletes_their_account(server, smtp):
    users, conns, gid, message = world(server, smtp)
    second = Client(server)  # a v1 connection too
    second.handshake(users["alice"][0])
    r = delete_own(server, users["alice"][0], {"password": "password123"})
    assert r.status_code == 200, r.text
    assert r.json()["type"] == "info"
    expect_effects(server, smtp, users, conns, gid, message, [conns["alice"], second])
    # Deleting again with the old token: the token is gone.
    r = delete_own(server, users["alice"][0], {"password": "password123"})
    assert r.status_code == 401 and error_code(r) == "unauthorized"


def test_refusals_change_nothing(server, smtp):
    token, _ = create_user(server, smtp.mailbox, "alice")
    record_secret("wrong-password")
    cases = [
        (token, {"password": "wrong-password"}, 401, "invalid_credentials"),
        (token, {}, 401, "invalid_credentials"),  # missing: as password_change's
        (token, {"password": None}, 401, "invalid_credentials"),
        (token, {"password": ""}, 401, "invalid_credentials"),
        (token, {"password": 123}, 400, "bad_request"),
        (token, {"password": ["password123"]}, 400, "bad_request"),
        (None, {"password": "password123"}, 401, "unauthorized"),
        ("not-a-live-token", {"password": "password123"}, 401, "unauthorized"),
    ]
    for t, body, status, code in cases:
        r = delete_own(server, t, body)
        assert r.status_code == status and error_code(r) == code, (body, r.text)
    r = delete_own(server, token, "{not json", json_body=False)
    assert r.status_code == 400 and error_code(r) == "bad_request"
    r = requests.get(server.base + "/api/v1/auth/delete_account", timeout=10)
    assert r.status_code == 405
    # Still there: the token works and the password logs in.
    Client(server).handshake(token)
    assert login(server, "alice@example.test").status_code == 201


def test_the_admin_routes_are_off_without_the_token_file(start_server):
    from conftest import free_port
    admin = free_port()
    start_server(args=["--admin-port", str(admin)])
    assert call("DELETE", f"http://127.0.0.1:{admin}/admin/users/1").status_code == 404


def test_an_operator_deletes_an_account(admin_server, smtp):  # noqa: F811
    server, base = admin_server
    admin_port = int(base.rsplit(":", 1)[1])
    users, conns, gid, message = world(server, smtp)
    alice_id = users["alice"][1]
    _, before = scrape(admin_port)

    r = call("DELETE", base + f"/admin/users/{alice_id}", secret=SECRET + "x")
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    r = call("DELETE", base + f"/admin/users/{alice_id}", secret=None)
    assert r.status_code == 401
    r = call("DELETE", base + "/admin/users/not-an-id")
    assert r.status_code == 400 and error_code(r) == "bad_request"
    r = call("DELETE", base + "/admin/users/12345")
    assert r.status_code == 404 and error_code(r) == "user_not_found"

    r = call("DELETE", base + f"/admin/users/{alice_id}")
    assert r.status_code == 200, r.text
    shown = r.json()["payload"]
    assert shown["id"] == alice_id and shown["deleted"] is True
    assert shown["name"] == "" and shown["email"] == ""
    assert call("GET", base + f"/admin/users/{alice_id}").json()["payload"] == shown
    r = call("GET", base + "/admin/users?name=alice")
    assert r.status_code == 404
    expect_effects(server, smtp, users, conns, gid, message, [conns["alice"]])
    r = call("DELETE", base + f"/admin/users/{alice_id}")  # already deleted
    assert r.status_code == 404 and error_code(r) == "user_not_found"

    _, after = scrape(admin_port)
    assert value(after, "rewind_admin_actions_total", action="delete") - value(
        before, "rewind_admin_actions_total", action="delete") == 1
    assert value(after, "rewind_closes_total", code="4111") - value(
        before, "rewind_closes_total", code="4111") == 1
    assert b"deleted on the admin listener" in server.read_log()
