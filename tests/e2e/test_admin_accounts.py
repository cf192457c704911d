"""Account administration on the admin listener (docs/OPERATIONS.md, "Account
administration"): the routes exist only with --admin-token-file and ask for its secret;
disabling an account closes its gateway connections (v1 and v2) with 4110 and refuses its
login to whoever knows the password, while its friends see nothing else change; enabling it
lets it log in again; its sessions are listed without revealing their tokens, and revoking
one closes only that token's connections, with 4108, as a logout would."""
import hashlib
import subprocess

import pytest
import requests

from conftest import (SERVER_BIN, Client, befriend, create_user, free_port, login,
                      record_secret)
from test_metrics import scrape, value

SECRET = "s3cret-admin-token-0123456789"


@pytest.fixture
def admin_server(start_server, smtp, test_ca, tmp_path):
    """A server with an admin listener and account administration: (server, admin_base)."""
    record_secret(SECRET)
    token_file = tmp_path / "admin-token"
    token_file.write_text("  " + SECRET + "\n")
    admin = free_port()
    start_server.ca[0] = test_ca["ca"]
    server = start_server(smtp=smtp, args=["--admin-port", str(admin), "--admin-token-file",
                                           str(token_file)])
    return server, f"http://127.0.0.1:{admin}"


def call(method, url, secret=SECRET, **kw):
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    return requests.request(method, url, headers=headers, timeout=10, **kw)


def error_code(r):
    body = r.json()
    assert body["type"] == "error", body
    assert body["payload"]["message"]
    return body["payload"]["code"]


def session_id(token):
    """What the server names a token by: a short digest of its stored hash."""
    stored = hashlib.sha256(token.encode()).hexdigest()
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def test_account_routes_are_off_without_the_token_file(start_server):
    admin = free_port()
    start_server(args=["--admin-port", str(admin)])
    base = f"http://127.0.0.1:{admin}"
    assert call("GET", base + "/admin/users?name=alice").status_code == 404
    assert call("POST", base + "/admin/users/1/disable").status_code == 404
    assert requests.get(base + "/healthz", timeout=5).status_code == 200


@pytest.mark.parametrize("content", ["", "short-secret\n"])
def test_a_missing_or_short_token_file_stops_start_up(tmp_path, content):
    token_file = tmp_path / "admin-token"
    if content:
        token_file.write_text(content)
    r = subprocess.run([SERVER_BIN, "--data-dir", str(tmp_path / "data"), "--port", "0",
                        "--admin-port", str(free_port()), "--admin-token-file", str(token_file)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "--admin-token-file" in r.stderr + r.stdout
    assert "short-secret" not in r.stderr + r.stdout


def test_the_secret_is_required_and_bad_requests_get_documented_errors(admin_server, smtp):
    server, base = admin_server
    _, alice_id = create_user(server, smtp.mailbox, "alice")
    url = base + "/admin/users?name=alice"
    r = call("GET", url, secret=None)
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    r = call("GET", url, secret=SECRET + "x")
    assert r.status_code == 401 and error_code(r) == "unauthorized"
    assert call("GET", url, secret=SECRET[:-1]).status_code == 401

    r = call("GET", url)
    assert r.status_code == 200, r.text
    user = r.json()["payload"]
    assert user["id"] == alice_id and user["name"] == "alice"
    assert user["email"] == "alice@example.test"
    assert user["verified"] is True and user["disabled"] is False
    assert user["created"].endswith("Z")
    assert "password" not in r.text
    assert call("GET", base + "/admin/users?email=ALICE@example.test").json()["payload"] == user
    assert call("GET", base + f"/admin/users/{alice_id}").json()["payload"] == user

    for path in ["/admin/users/abc", "/admin/users/-1", "/admin/users/0",
                 "/admin/users/99999999999999999999", "/admin/users/1x/disable",
                 "/admin/users", "/admin/users?name=a&email=b@example.test"]:
        method = "POST" if path.endswith("disable") else "GET"
        r = call(method, base + path)
        assert r.status_code == 400 and error_code(r) == "bad_request", path
    r = call("GET", base + "/admin/users/12345")
    assert r.status_code == 404 and error_code(r) == "user_not_found"
    r = call("POST", base + "/admin/users/12345/disable")
    assert r.status_code == 404 and error_code(r) == "user_not_found"
    r = call("GET", base + "/admin/users?name=nobody")
    assert r.status_code == 404 and error_code(r) == "user_not_found"
    r = requests.post(base + f"/admin/users/{alice_id}/disable", data="{not json", timeout=10,
                      headers={"Authorization": f"Bearer {SECRET}",
                               "Content-Type": "application/json"})
    assert r.status_code == 400 and error_code(r) == "bad_request"
    r = call("POST", base + f"/admin/users/{alice_id}/disable", json={"reason": "two\nlines"})
    assert r.status_code == 400 and error_code(r) == "bad_request"
    r = call("GET", base + f"/admin/users/{alice_id}/disable")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = call("DELETE", base + f"/admin/users/{alice_id}/sessions/not-a-session")
    assert r.status_code == 400 and error_code(r) == "bad_request"
    r = call("DELETE", base + f"/admin/users/{alice_id}/sessions/0123456789abcdef")
    assert r.status_code == 404 and error_code(r) == "session_not_found"
    r = call("GET", base + "/admin/nothing")
    assert r.status_code == 404 and error_code(r) == "not_found"
    assert call("GET", base + f"/admin/users/{alice_id}").json()["payload"]["disabled"] is False


def test_disable_closes_every_connection_with_4110_and_enable_lets_login_again(
        admin_server, smtp, close_clients_at_teardown):
    server, base = admin_server
    admin_port = int(base.rsplit(":", 1)[1])
    alice_token, alice_id = create_user(server, smtp.mailbox, "alice")
    bob_token, bob_id = create_user(server, smtp.mailbox, "bob")
    befriend(server, alice_token, bob_token, "bob")
    _, before = scrape(admin_port)

    alice_v1, alice_v2 = Client(server), Client(server, version=2)
    bob = Client(server, version=2)
    alice_v1.handshake(alice_token)
    alice_v2.handshake(alice_token)
    bob_view = bob.handshake(bob_token)

    r = call("POST", base + f"/admin/users/{alice_id}/disable", json={"reason": "abuse report"})
    assert r.status_code == 200, r.text
    assert r.json()["payload"]["disabled"] is True
    assert alice_v1.wait_close() == 4110
    assert alice_v2.wait_close() == 4110
    bob.expect_silence()
    # Idempotent.
    r = call("POST", base + f"/admin/users/{alice_id}/disable")
    assert r.status_code == 200 and r.json()["payload"]["disabled"] is True

    # Login: only the right password learns the account is disabled.
    r = login(server, "alice@example.test")
    assert r.status_code == 403 and error_code(r) == "account_disabled"
    r = login(server, "alice@example.test", "wrong-password")
    assert r.status_code == 401 and error_code(r) == "invalid_credentials"
    # The old token is gone.
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    c.recv()
    c.send("auth", {"auth": alice_token})
    assert c.recv()["type"] == "error"
    # Friends see the same friendship as before.
    again = Client(server, version=2)
    assert again.handshake(bob_token)["mutual_users"] == bob_view["mutual_users"]
    assert any(u["id"] == alice_id for u in bob_view["mutual_users"])

    r = call("POST", base + f"/admin/users/{alice_id}/enable")
    assert r.status_code == 200 and r.json()["payload"]["disabled"] is False
    r = login(server, "alice@example.test")
    assert r.status_code == 201, r.text
    Client(server).handshake(r.json()["payload"]["token"])

    _, after = scrape(admin_port)
    assert value(after, "rewind_admin_actions_total", action="disable") - value(
        before, "rewind_admin_actions_total", action="disable") == 2
    assert value(after, "rewind_admin_actions_total", action="enable") - value(
        before, "rewind_admin_actions_total", action="enable") == 1
    assert value(after, "rewind_closes_total", code="4110") - value(
        before, "rewind_closes_total", code="4110") == 2


def test_sessions_are_listed_and_revoking_one_closes_only_its_connections(
        admin_server, smtp, close_clients_at_teardown):
    server, base = admin_server
    first, alice_id = create_user(server, smtp.mailbox, "alice")
    r = login(server, "alice@example.test")
    assert r.status_code == 201
    second = r.json()["payload"]["token"]

    r = call("GET", base + f"/admin/users/{alice_id}/sessions")
    assert r.status_code == 200, r.text
    sessions = r.json()["payload"]["sessions"]
    assert [s["id"] for s in sessions] == [session_id(first), session_id(second)]
    for s in sessions:
        assert s["created"] < s["expires"]
    for token in (first, second):
        assert token not in r.text and hashlib.sha256(token.encode()).hexdigest() not in r.text

    a, b = Client(server), Client(server, version=2)
    a.handshake(first)
    b.handshake(second)
    r = call("DELETE", base + f"/admin/users/{alice_id}/sessions/{session_id(second)}")
    assert r.status_code == 200, r.text
    assert b.wait_close() == 4108
    a.expect_silence()
    r = call("GET", base + f"/admin/users/{alice_id}/sessions")
    assert [s["id"] for s in r.json()["payload"]["sessions"]] == [session_id(first)]
    r = call("DELETE", base + f"/admin/users/{alice_id}/sessions/{session_id(second)}")
    assert r.status_code == 404 and error_code(r) == "session_not_found"
    r = call("GET", base + "/admin/users/12345/sessions")
    assert r.status_code == 404 and error_code(r) == "user_not_found"
