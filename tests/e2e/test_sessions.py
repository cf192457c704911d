"""A person's own sessions (docs/PROTOCOL.md, "Your sessions"): the list with its labels,
times and the caller's own marked, and the revocation of one, with the real binary and real
HTTP and WebSocket clients."""
import re
import time
from datetime import datetime, timezone

import requests

from conftest import FAST_ARGS, Client, create_user, login, raw_session

SESSIONS = "/api/v1/auth/sessions"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
JSON_TYPE = "application/json; charset=utf-8"

# FAST_ARGS without its --rate-limit-exempt pair (CLI11 refuses a repeated option).
NOT_EXEMPT_ARGS = []
for _i in range(0, len(FAST_ARGS), 2):
    if FAST_ARGS[_i] != "--rate-limit-exempt":
        NOT_EXEMPT_ARGS += FAST_ARGS[_i:_i + 2]


def login_as(server, addr, user_agent):
    r = requests.post(server.base + "/api/v1/auth/login",
                      data={"email": addr, "password": "password123"},
                      headers={"Accept": "application/json", "User-Agent": user_agent},
                      timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["payload"]["token"]


def list_sessions(server, token):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.get(server.base + SESSIONS, headers=headers, timeout=10)


def sessions_of(server, token):
    r = list_sessions(server, token)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == JSON_TYPE
    body = r.json()
    assert body["type"] == "sessions", body
    return body["payload"]["sessions"]


def revoke(server, token, session_id):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.delete(f"{server.base}{SESSIONS}/{session_id}", headers=headers, timeout=10)


def assert_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.json()["payload"]["code"] == code, r.text


def when(text):
    assert TIME_RE.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def test_the_list_shows_each_login_with_its_client_and_times_and_marks_mine(server, smtp):
    create_user(server, smtp.mailbox, "selma")  # logged in by python-requests
    started = datetime.now(timezone.utc)
    phone = login_as(server, "selma@example.test", "RewindPhone/2.1\t(Android 14)")
    laptop = login_as(server, "selma@example.test", "Mozilla/5.0 " + "x" * 300)
    other, _ = create_user(server, smtp.mailbox, "tarek")

    listed = sessions_of(server, phone)
    assert len(listed) == 3  # selma's, none of tarek's
    assert [s["current"] for s in listed] == [False, True, False]  # oldest login first
    for s in listed:
        assert set(s) == {"id", "created", "last_seen", "expires", "client", "current"}, s
        assert re.fullmatch(r"[0-9a-f]{16}", s["id"]), s
        assert when(s["created"]) <= when(s["last_seen"]) < when(s["expires"])
    assert listed[0]["client"].startswith("python-requests/")
    assert listed[1]["client"] == "RewindPhone/2.1(Android 14)"  # control characters removed
    assert listed[2]["client"] == ("Mozilla/5.0 " + "x" * 300)[:200]
    assert when(listed[1]["created"]) >= started.replace(microsecond=0)
    # A login's last_seen is the login itself.
    assert listed[1]["last_seen"] == listed[1]["created"]
    # The same sessions from another of them, that one marked.
    from_laptop = sessions_of(server, laptop)
    assert [s["id"] for s in from_laptop] == [s["id"] for s in listed]
    assert [s["current"] for s in from_laptop] == [False, False, True]
    assert len(sessions_of(server, other)) == 1


def test_last_seen_moves_when_a_gateway_connection_authenticates(server, smtp,
                                                                 close_clients_at_teardown):
    token, _ = create_user(server, smtp.mailbox, "ulla")  # also authenticated once
    # create_user's handshake moved it; that write is not waited for either.
    deadline = time.time() + 5
    while (before := sessions_of(server, token)[0])["last_seen"] == before["created"]:
        assert time.time() < deadline, "last_seen did not move at the first authentication"
        time.sleep(0.02)
    assert when(before["last_seen"]) > when(before["created"])
    time.sleep(0.05)
    c = Client(server, version=2)
    c.handshake(token)
    # The write follows the authentication (it is not waited for): it commits moments later.
    deadline = time.time() + 5
    while (after := sessions_of(server, token)[0])["last_seen"] == before["last_seen"]:
        assert time.time() < deadline, "last_seen did not move"
        time.sleep(0.02)
    assert when(after["last_seen"]) > when(before["last_seen"])
    assert after["created"] == before["created"]
    # Messages and a repeated auth on the same connection write nothing.
    c.send("heartbeat", {"count": 1})
    c.recv_type("heartbeat")
    c.send("auth", {"auth": token})
    c.recv_type("auth")
    time.sleep(0.3)
    assert sessions_of(server, token)[0]["last_seen"] == after["last_seen"]


def test_revoking_another_session_closes_its_connections_4108_and_its_token_stops(
        server, smtp, close_clients_at_teardown):
    mine, _ = create_user(server, smtp.mailbox, "vera")
    lost = login_as(server, "vera@example.test", "LostPhone/1.0")
    v1, v2 = Client(server), Client(server, version=2)
    v1.handshake(lost)
    v2.handshake(lost)
    keep = Client(server)
    keep.handshake(mine)
    target = next(s for s in sessions_of(server, mine) if s["client"] == "LostPhone/1.0")

    r = revoke(server, mine, target["id"])
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert v1.wait_close() == 4108
    assert v2.wait_close() == 4108
    assert_error(list_sessions(server, lost), 401, "unauthorized")
    c = Client(server)
    c.send("heartbeat", {"count": 0})
    c.recv_type("heartbeat")
    c.send("auth", {"auth": lost})
    assert c.recv()["payload"]["code"] == "4000"
    # Mine goes on: its connection is open, and the list is down to it.
    keep.send("heartbeat", {"count": 1})
    assert keep.recv_type("heartbeat")["payload"] == {"count": 1}
    assert [s["current"] for s in sessions_of(server, mine)] == [True]
    assert_error(revoke(server, mine, target["id"]), 404, "session_not_found")  # twice


def test_revoking_my_own_session_is_a_logout(server, smtp, close_clients_at_teardown):
    token, _ = create_user(server, smtp.mailbox, "wanda")
    c = Client(server)
    c.handshake(token)
    me = sessions_of(server, token)[0]
    assert me["current"]
    assert revoke(server, token, me["id"]).status_code == 204
    assert c.wait_close() == 4108
    assert_error(list_sessions(server, token), 401, "unauthorized")


def test_a_session_the_server_closes_leaves_with_its_close_frame(start_server, smtp, test_ca):
    # The client has the close frame (4108) but neither answers it nor closes its socket: the
    # server waits for that, bounded, yet the session is gone already, and with one session
    # allowed a new login's connection gets the place at once.
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=["--max-sessions-per-user", "1"], smtp=smtp)
    token, _ = create_user(s, smtp.mailbox, "wilma")
    first = raw_session(s, token)
    me = sessions_of(s, token)[0]
    assert revoke(s, token, me["id"]).status_code == 204
    assert first.close_code() == 4108
    again = login_as(s, "wilma@example.test", "Phone/2.0")
    c = Client(s)
    c.handshake(again)
    c.send("heartbeat", {"count": 1})
    assert c.recv_type("heartbeat")["payload"] == {"count": 1}
    c.close()
    first.close()


def test_someone_elses_or_an_unknown_id_is_not_found_and_nothing_changes(
        server, smtp, close_clients_at_teardown):
    mine, _ = create_user(server, smtp.mailbox, "xenia")
    theirs, _ = create_user(server, smtp.mailbox, "yusuf")
    their_id = sessions_of(server, theirs)[0]["id"]
    c = Client(server)
    c.handshake(theirs)
    unknown = revoke(server, mine, "0123456789abcdef")
    assert_error(unknown, 404, "session_not_found")
    other = revoke(server, mine, their_id)
    assert_error(other, 404, "session_not_found")
    assert other.json() == unknown.json()  # the same answer: no enumeration of others' ids
    c.send("heartbeat", {"count": 1})
    assert c.recv_type("heartbeat")["payload"] == {"count": 1}
    assert len(sessions_of(server, theirs)) == 1


def test_bad_ids_missing_tokens_and_wrong_methods_have_documented_errors(server, smtp):
    token, _ = create_user(server, smtp.mailbox, "zora")
    for bad in ("0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0", "xyz",
                "0123456789abcdeg", "0123456789abcde/"):
        assert_error(revoke(server, token, bad), 400, "bad_request")
    r = list_sessions(server, None)
    assert_error(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert_error(list_sessions(server, "A" * 43), 401, "unauthorized")
    assert_error(revoke(server, None, "0123456789abcdef"), 401, "unauthorized")
    assert_error(revoke(server, "A" * 43, "0123456789abcdef"), 401, "unauthorized")
    r = requests.post(server.base + SESSIONS, headers={"Authorization": f"Bearer {token}"},
                      timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET"
    r = requests.get(f"{server.base}{SESSIONS}/0123456789abcdef",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "DELETE"


def test_listing_and_revoking_are_limited_per_address(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(args=NOT_EXEMPT_ARGS, smtp=smtp, fast=False)
    token, _ = create_user(server, smtp.mailbox, "amos")
    # 60 at once, refilled at one a second: the first refusal comes after at least 60.
    answers = []
    while len(answers) < 120 and (not answers or answers[-1].status_code == 200):
        answers.append(list_sessions(server, token))
    assert len(answers) > 60, len(answers)
    assert_error(answers[-1], 429, "rate_limited")
    assert int(answers[-1].headers["Retry-After"]) >= 1
