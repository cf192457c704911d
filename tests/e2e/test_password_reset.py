"""Password reset by mail and password change while logged in (docs/PROTOCOL.md, Accounts),
with the real binary, a real SMTP server (smtp_sink.py) and real HTTP and WebSocket clients."""
import json
import re
import time

import pytest
import requests

from conftest import (FAST_ARGS, VERIFY_KEYS, Client, create_user, login, record_secret,
                      register)

JSON_TYPE = "application/json; charset=utf-8"
RESET_PATH = "/api/v1/auth/password_reset"
CONFIRM_PATH = "/api/v1/auth/password_reset/confirm"
CHANGE_PATH = "/api/v1/auth/password_change"
REQUESTED = {"type": "info", "payload": {
    "message": "if an account has this email, a link to choose a new password was mailed to it."}}
CHANGED = {"type": "info", "payload": {"message": "password changed."}}
RESET_LINK_RE = re.compile(r"(https?://\S+)/#reset=([A-Za-z0-9_-]+)")

# FAST_ARGS without its --rate-limit-exempt pair (CLI11 refuses a repeated option).
NOT_EXEMPT_ARGS = []
for _i in range(0, len(FAST_ARGS), 2):
    if FAST_ARGS[_i] not in ("--rate-limit-exempt", "--login-account-rate-count"):
        NOT_EXEMPT_ARGS += FAST_ARGS[_i:_i + 2]


@pytest.fixture
def tls_start(start_server, test_ca):
    start_server.ca[0] = test_ca["ca"]
    return start_server


def assert_error(r, status, code):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_TYPE, r.headers
    body = r.json()
    assert body["type"] == "error" and set(body["payload"]) == {"message", "code"}, body
    assert body["payload"]["code"] == code, body
    return body


def post(server, path, fields=None, token=None, raw=None):
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return requests.post(server.base + path, data=raw, headers=headers, timeout=10)
    return requests.post(server.base + path, data=fields or {}, headers=headers, timeout=10)


def request_reset(server, addr):
    return post(server, RESET_PATH, {"email": addr})


def confirm(server, key, new_password):
    record_secret(new_password)
    return post(server, CONFIRM_PATH, {"key": key, "new_password": new_password})


def change(server, token, current, new):
    record_secret(new)
    return post(server, CHANGE_PATH, {"current_password": current, "new_password": new},
                token=token)


def reset_key(server, mailbox, addr, count=1):
    """The key of the count-th mail to addr, whose link opens the server's web client."""
    mail = mailbox.wait_for(addr, count=count)[count - 1]
    m = RESET_LINK_RE.search(mail.get_content())
    assert m, mail.get_content()
    assert m.group(1) == server.base
    record_secret(m.group(2), VERIFY_KEYS)
    return m.group(2)


def test_reset_by_mail_link_replaces_the_password_and_ends_every_session_4108(
        server, smtp, close_clients_at_teardown):
    token, _ = create_user(server, smtp.mailbox, "rosa")
    v1, v2 = Client(server), Client(server, version=2)
    v1.handshake(token)
    v2.handshake(token)
    r = request_reset(server, "Rosa@Example.test")  # any case, as login
    assert r.status_code == 202, r.text
    assert r.json() == REQUESTED
    mail = smtp.mailbox.wait_for("rosa@example.test", count=2)[1]
    assert "password" in mail["Subject"].lower()
    key = reset_key(server, smtp.mailbox, "rosa@example.test", count=2)

    r = confirm(server, key, "brand-new-secret")
    assert r.status_code == 200 and r.json() == CHANGED, r.text
    assert v1.wait_close() == 4108
    assert v2.wait_close() == 4108
    assert_error(post(server, "/api/v1/auth/logout", token=token), 401, "unauthorized")
    assert_error(login(server, "rosa@example.test"), 401, "invalid_credentials")
    r = login(server, "rosa@example.test", "brand-new-secret")
    assert r.status_code == 201, r.text
    Client(server).handshake(r.json()["payload"]["token"])


def test_an_unknown_or_unverified_email_gets_the_same_answer_and_no_mail(server, smtp):
    create_user(server, smtp.mailbox, "sami")
    assert register(server, "pending", "pending@example.test").status_code == 201
    known = request_reset(server, "sami@example.test")
    unknown = request_reset(server, "nobody@example.test")
    pending = request_reset(server, "pending@example.test")
    for r in (known, unknown, pending):
        assert (r.status_code, r.headers["Content-Type"], r.text) == \
               (known.status_code, JSON_TYPE, known.text)
    reset_key(server, smtp.mailbox, "sami@example.test", count=2)
    time.sleep(0.5)  # the known one was mailed; the others had as long
    assert not [m for m in smtp.mailbox.messages() if "nobody@" in m["To"]]
    assert len([m for m in smtp.mailbox.messages() if "pending@" in m["To"]]) == 1  # sign-up


def test_a_key_works_once(server, smtp):
    create_user(server, smtp.mailbox, "tomas")
    assert request_reset(server, "tomas@example.test").status_code == 202
    key = reset_key(server, smtp.mailbox, "tomas@example.test", count=2)
    assert confirm(server, key, "first-new-pass").status_code == 200
    assert_error(confirm(server, key, "second-new-pass"), 410, "link_invalid")
    assert login(server, "tomas@example.test", "first-new-pass").status_code == 201
    assert_error(confirm(server, "A" * 43, "third-new-pass"), 410, "link_invalid")  # unknown


def test_a_new_request_replaces_the_unused_key(server, smtp):
    create_user(server, smtp.mailbox, "ursula")
    assert request_reset(server, "ursula@example.test").status_code == 202
    first = reset_key(server, smtp.mailbox, "ursula@example.test", count=2)
    assert request_reset(server, "ursula@example.test").status_code == 202
    second = reset_key(server, smtp.mailbox, "ursula@example.test", count=3)
    assert first != second
    assert_error(confirm(server, first, "replaced-pass"), 410, "link_invalid")
    assert confirm(server, second, "latest-pass1").status_code == 200


def test_an_expired_key_is_refused(tls_start, smtp):
    srv = tls_start(args=["--reset-key-ttl", str(1.5 / 3600)], smtp=smtp)
    create_user(srv, smtp.mailbox, "vera")
    assert request_reset(srv, "vera@example.test").status_code == 202
    mail = smtp.mailbox.wait_for("vera@example.test", count=2)[1]
    assert "expires in 1 minute" in mail.get_content()
    key = reset_key(srv, smtp.mailbox, "vera@example.test", count=2)
    time.sleep(1.6)
    assert_error(confirm(srv, key, "too-late-pass"), 410, "link_invalid")
    assert login(srv, "vera@example.test").status_code == 201  # unchanged


def test_reset_requests_are_limited_per_email_whether_or_not_it_has_an_account(server, smtp):
    create_user(server, smtp.mailbox, "walt")
    for addr in ("walt@example.test", "ghost@example.test"):
        for _ in range(3):
            assert request_reset(server, addr).status_code == 202
        r = request_reset(server, addr.upper())
        assert_error(r, 429, "rate_limited")
        assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert len(smtp.mailbox.wait_for("walt@example.test", count=4)) == 4
    time.sleep(0.3)
    assert len([m for m in smtp.mailbox.messages() if "walt@" in m["To"]]) == 4


def test_reset_requests_and_uses_are_limited_per_address(tls_start, smtp):
    srv = tls_start(args=NOT_EXEMPT_ARGS + ["--reset-rate-count", "3"], smtp=smtp, fast=False)
    assert request_reset(srv, "a@example.test").status_code == 202
    assert request_reset(srv, "b@example.test").status_code == 202
    assert_error(confirm(srv, "B" * 43, "whatever-pass"), 410, "link_invalid")
    r = request_reset(srv, "c@example.test")
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert_error(confirm(srv, "B" * 43, "whatever-pass"), 429, "rate_limited")
    # Login has its own budget.
    assert_error(login(srv, "a@example.test"), 401, "invalid_credentials")


MISSING = object()


def json_body(**fields):
    return json.dumps({k: v for k, v in fields.items() if v is not MISSING})


# (field, value, status, code) for each field of each endpoint: missing, null, empty, and each
# other JSON type.
WRONG_TYPES = [7, True, False, [], ["x"], {}, 1.5]


def cases(field, empty_status, empty_code):
    out = [(field, MISSING, empty_status, empty_code), (field, None, empty_status, empty_code),
           (field, "", empty_status, empty_code)]
    out += [(field, v, 400, "bad_request") for v in WRONG_TYPES]
    return out


def test_every_malformed_request_gets_its_documented_error(server, smtp):
    token, _ = create_user(server, smtp.mailbox, "xena")
    good = {"email": "xena@example.test"}
    for field, value, status, code in cases("email", 400, "invalid_email"):
        r = post(server, RESET_PATH, raw=json_body(**{**good, field: value}))
        assert_error(r, status, code)
    assert_error(post(server, RESET_PATH, {"email": "not-an-email"}), 400, "invalid_email")

    good = {"key": "K" * 43, "new_password": "valid-new-pass"}
    for field, value, status, code in (cases("key", 410, "link_invalid") +
                                       cases("new_password", 400, "invalid_password")):
        r = post(server, CONFIRM_PATH, raw=json_body(**{**good, field: value}))
        assert_error(r, status, code)
    # A key that cannot be one (not 43 URL-safe base64 characters) is refused alike.
    for key in ("K" * 42, "K" * 44, "K" * 42 + "!", "K" * 42 + "="):
        assert_error(confirm(server, key, "valid-new-pass"), 410, "link_invalid")
    # The password is checked before the key: a bad one leaves a good key unused.
    assert_error(confirm(server, "K" * 43, "short"), 400, "invalid_password")

    good = {"current_password": "password123", "new_password": "valid-new-pass"}
    for field, value, status, code in (cases("current_password", 401, "invalid_credentials") +
                                       cases("new_password", 400, "invalid_password")):
        r = post(server, CHANGE_PATH, raw=json_body(**{**good, field: value}), token=token)
        assert_error(r, status, code)
    assert_error(change(server, token, "password123", "x" * 129), 400, "invalid_password")

    for path in (RESET_PATH, CONFIRM_PATH, CHANGE_PATH):
        assert_error(post(server, path, raw="{not json", token=token), 400, "bad_request")
        r = requests.get(server.base + path, timeout=10)
        assert_error(r, 405, "method_not_allowed")
        assert r.headers["Allow"] == "POST"
    assert_error(post(server, CHANGE_PATH, good), 401, "unauthorized")  # no token
    assert_error(post(server, CHANGE_PATH, good, token="A" * 43), 401, "unauthorized")
    # Nothing above changed the password.
    assert login(server, "xena@example.test").status_code == 201


def test_change_password_keeps_the_callers_token_and_ends_the_other_sessions_4108(
        server, smtp, close_clients_at_teardown):
    mine, _ = create_user(server, smtp.mailbox, "yusuf")
    other = login(server, "yusuf@example.test").json()["payload"]["token"]
    own_ws = Client(server)
    own_ws.handshake(mine)
    v1, v2 = Client(server), Client(server, version=2)
    v1.handshake(other)
    v2.handshake(other)

    assert_error(change(server, mine, "wrong-password", "changed-pass1"), 401,
                 "invalid_credentials")
    v1.send("heartbeat", {"count": 1})
    assert v1.recv()["payload"] == {"count": 1}  # a refused change revokes nothing

    r = change(server, mine, "password123", "changed-pass1")
    assert r.status_code == 200 and r.json() == CHANGED, r.text
    assert v1.wait_close() == 4108
    assert v2.wait_close() == 4108
    own_ws.send("heartbeat", {"count": 2})
    assert own_ws.recv()["payload"] == {"count": 2}
    own_ws.expect_silence(0.3)
    Client(server).handshake(mine)  # the caller's token still opens sessions
    assert_error(post(server, "/api/v1/auth/logout", token=other), 401, "unauthorized")
    assert_error(login(server, "yusuf@example.test"), 401, "invalid_credentials")
    assert login(server, "yusuf@example.test", "changed-pass1").status_code == 201
    # The old password no longer passes as the current one.
    assert_error(change(server, mine, "password123", "another-pass"), 401, "invalid_credentials")


def test_wrong_current_passwords_count_toward_the_login_limit(tls_start, smtp):
    srv = tls_start(args=FAST_ARGS[:FAST_ARGS.index("--login-account-rate-count")] +
                    ["--login-account-rate-count", "3"], smtp=smtp, fast=False)
    token, _ = create_user(srv, smtp.mailbox, "zoe")  # its login is the first attempt
    for _ in range(2):
        assert_error(change(srv, token, "wrong-password", "changed-pass"), 401,
                     "invalid_credentials")
    r = change(srv, token, "password123", "changed-pass")
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1
    assert_error(login(srv, "zoe@example.test"), 429, "rate_limited")
