"""End-to-end tests of the account side (SPEC §1 and §4): the real rewind-server binary on
loopback, a real SMTP server process (smtp_sink.py) and a real HTTP client."""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests

from conftest import (FAST_ARGS, SERVER_BIN, SMTP_PASSWORD, SMTP_USER, Client, SmtpSink,
                      create_user, free_port, login, register)

JSON_TYPE = "application/json; charset=utf-8"
REGISTERED = {"type": "info",
              "payload": {"message": "successfully created an account creation request."}}
VERIFIED = {"type": "info", "payload": {"message": "account successfully created."}}
VERIFY_PATH = "/api/v1/auth/email_verify/"
LINK_RE = re.compile(r"https?://\S+/api/v1/auth/email_verify/[A-Za-z0-9_-]+")

# FAST_ARGS without its --rate-limit-exempt pair: CLI11 refuses a repeated option
# ("At Most 1 required but received 2"), so the exempt list cannot be overridden.
NOT_EXEMPT_ARGS = []
for _i in range(0, len(FAST_ARGS), 2):
    if FAST_ARGS[_i] != "--rate-limit-exempt":
        NOT_EXEMPT_ARGS += FAST_ARGS[_i:_i + 2]


# ---------------------------------------------------------------------------------------
# Helpers


def assert_error(r, status, code):
    """The response is the JSON error envelope of SPEC §1 with this status and code."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_TYPE, r.headers
    body = r.json()
    assert set(body) == {"type", "payload"}, body
    assert body["type"] == "error", body
    assert set(body["payload"]) == {"message", "code"}, body
    assert body["payload"]["code"] == code, body
    assert isinstance(body["payload"]["message"], str) and body["payload"]["message"], body
    return body


def assert_success(r, status, expected):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == JSON_TYPE, r.headers
    body = r.json()
    assert body == expected
    assert "error" not in body


def post_json(server, path, obj, **kw):
    return requests.post(server.base + path, data=json.dumps(obj),
                         headers={"Content-Type": "application/json",
                                  "Accept": "application/json"}, timeout=10, **kw)


def verify(link, accept="application/json"):
    return requests.get(link, headers={"Accept": accept}, timeout=10)


def link_in(body):
    m = LINK_RE.search(body)
    assert m, body
    return m.group(0)


def wait_for_log(server, pattern, timeout=10.0):
    """Polls the server's log until `pattern` (bytes regex) matches; returns the match."""
    deadline = time.time() + timeout
    while True:
        m = re.search(pattern, server.read_log())
        if m:
            return m
        if time.time() > deadline:
            raise AssertionError(f"{pattern!r} not in the log:\n" +
                                 server.read_log().decode(errors="replace")[-3000:])
        time.sleep(0.05)


def smtp_args(port, tls="implicit", ca=None):
    a = ["--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-tls", tls,
         "--mail-address", SMTP_USER, "--mail-password", SMTP_PASSWORD]
    if ca:
        a += ["--smtp-ca-file", ca]
    return a


@pytest.fixture
def tls_start(start_server, test_ca):
    """start_server with the test CA set, for servers whose sink speaks TLS."""
    start_server.ca[0] = test_ca["ca"]
    return start_server


@pytest.fixture
def sinks(test_ca, tmp_path):
    """Factory: sinks(tls=..., fail_first=...) -> SmtpSink, stopped at teardown."""
    made = []

    def make(**kw):
        s = SmtpSink(test_ca, tmp_path, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def spawn(tmp_path):
    """Factory: spawn(args, env) runs rewind-server exactly with these flags (no added
    --port) and a clean environment; returns (process, port, log path)."""
    procs = []

    def run(args, env=None, timeout=15):
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("REWIND_") and k not in ("MAIL_ADDRESS", "MAIL_PASSWD")}
        base_env.update(env or {})
        log_path = str(tmp_path / f"spawn{len(procs)}.log")
        log = open(log_path, "wb")
        p = subprocess.Popen([SERVER_BIN] + list(args), stdout=log, stderr=log, env=base_env,
                             cwd=str(tmp_path))
        procs.append((p, log))
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(log_path, "rb") as f:
                text = f.read()
            m = re.search(rb"listening on http://[^:]+:(\d+)", text)
            if m:
                return p, int(m.group(1)), log_path
            if p.poll() is not None:
                raise RuntimeError("server exited: " + text.decode(errors="replace"))
            time.sleep(0.02)
        raise RuntimeError("server did not start")

    yield run
    for p, log in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


# ---------------------------------------------------------------------------------------
# The happy path


def test_register_mail_over_implicit_tls_verify_and_login(server, smtp, test_ca):
    addr = "alice@example.test"
    r = register(server, "alice", addr)
    assert_success(r, 201, REGISTERED)

    # The sink speaks implicit TLS (as smtp.icmp.kr:465): a TLS handshake comes before
    # the SMTP greeting, so the mail below can only have arrived over TLS.
    ctx = ssl.create_default_context(cafile=test_ca["ca"])
    with socket.create_connection(("127.0.0.1", smtp.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.recv(512).startswith(b"220")

    [mail] = smtp.mailbox.wait_for(addr)
    assert mail["To"].addresses[0].addr_spec == addr
    assert mail["From"].addresses[0].addr_spec == SMTP_USER
    assert "verify" in mail["Subject"].lower()
    assert mail.get_content_type() == "text/plain"
    assert mail["X-Envelope-To"] == addr
    body = mail.get_content()
    link = link_in(body)
    assert link.startswith(server.base + VERIFY_PATH), (link, server.base)
    key = link[len(server.base + VERIFY_PATH):]
    assert len(key) >= 22  # at least 128 bits of base64url

    assert_success(verify(link), 200, VERIFIED)

    r = login(server, addr)
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"] == JSON_TYPE
    body = r.json()
    assert set(body) == {"type", "payload"} and body["type"] == "auth", body
    assert set(body["payload"]) == {"token"}
    token = body["payload"]["token"]
    assert isinstance(token, str) and len(token) >= 43, token
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), token
    # Every login issues a fresh token.
    assert login(server, addr).json()["payload"]["token"] != token


def test_token_from_login_authenticates_on_the_gateway(server, smtp):
    token, uid = create_user(server, smtp.mailbox, "gateuser")
    c = Client(server)
    try:
        payload = c.handshake(token)
        assert payload["self_user"]["name"] == "gateuser"
        assert payload["self_user"]["id"] == uid
    finally:
        c.close()


def test_keep_alive_connection_serves_several_requests(server, smtp):
    with requests.Session() as s:
        for _ in range(3):
            r = s.post(server.base + "/api/v1/auth/login",
                       data={"email": "nobody@example.test", "password": "password123"},
                       headers={"Accept": "application/json"}, timeout=10)
            assert_error(r, 401, "invalid_credentials")
            assert r.headers.get("Connection", "").lower() != "close"
        r = s.get(server.base + "/login", timeout=10)
        assert r.status_code == 200


# ---------------------------------------------------------------------------------------
# The verification link


def test_second_click_on_link_is_410_link_invalid(server, smtp):
    register(server, "bob", "bob@example.test")
    link = smtp.mailbox.link_for("bob@example.test")
    assert_success(verify(link), 200, VERIFIED)
    assert_error(verify(link), 410, "link_invalid")
    assert login(server, "bob@example.test").status_code == 201


def test_head_request_does_not_use_up_the_link(server, smtp):
    register(server, "hank", "hank@example.test")
    link = smtp.mailbox.link_for("hank@example.test")
    assert requests.head(link, timeout=10).status_code == 405
    assert_success(verify(link), 200, VERIFIED)


def test_unknown_verification_key_is_410_link_invalid(server, smtp):
    assert_error(verify(server.base + VERIFY_PATH + "A" * 43), 410, "link_invalid")
    assert_error(verify(server.base + VERIFY_PATH + "short"), 410, "link_invalid")
    assert_error(verify(server.base + VERIFY_PATH + "x" * 300), 410, "link_invalid")


def test_verification_link_answers_html_to_browsers(server, smtp):
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    register(server, "carol", "carol@example.test")
    link = smtp.mailbox.link_for("carol@example.test")
    r = verify(link, accept=browser)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert "account successfully created" in r.text
    assert "<html" in r.text.lower()

    r = verify(link, accept=browser)  # used: the failure page is HTML too
    assert r.status_code == 410, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<html" in r.text.lower()

    r = verify(server.base + VERIFY_PATH + "B" * 43, accept="text/html")
    assert r.status_code == 410
    assert r.headers["Content-Type"].startswith("text/html")

    # No Accept at all, or one preferring JSON: JSON.
    assert_error(requests.get(link, timeout=10), 410, "link_invalid")
    assert_error(verify(link, accept="application/json, text/html"), 410, "link_invalid")


def test_reregistering_pending_email_replaces_the_key(server, smtp):
    addr = "dave@example.test"
    assert_success(register(server, "dave", addr), 201, REGISTERED)
    first = smtp.mailbox.link_for(addr)
    assert_success(register(server, "dave", addr, password="another-password"), 201, REGISTERED)
    msgs = smtp.mailbox.wait_for(addr, count=2)
    second = link_in(msgs[1].get_content())
    assert second != first
    assert_error(verify(first), 410, "link_invalid")
    assert_success(verify(second), 200, VERIFIED)
    # The second registration's password is the one that counts.
    assert_error(login(server, addr), 401, "invalid_credentials")
    assert login(server, addr, "another-password").status_code == 201


# ---------------------------------------------------------------------------------------
# Validation and conflicts


@pytest.mark.parametrize("name,email_addr,password,code", [
    ("a", "ok1@example.test", "password123", "invalid_name"),            # too short
    ("n" * 33, "ok2@example.test", "password123", "invalid_name"),       # too long
    ("bad name", "ok3@example.test", "password123", "invalid_name"),     # space
    ("bad!name", "ok4@example.test", "password123", "invalid_name"),     # punctuation
    ("", "ok5@example.test", "password123", "invalid_name"),             # missing
    ("erin", "not-an-email", "password123", "invalid_email"),
    ("erin", "erin@", "password123", "invalid_email"),
    ("erin", "@example.test", "password123", "invalid_email"),
    ("erin", "erin@localhost", "password123", "invalid_email"),
    ("erin", "er in@example.test", "password123", "invalid_email"),
    ("erin", "", "password123", "invalid_email"),
    ("erin", "erin@example.test", "short", "invalid_password"),
    ("erin", "erin@example.test", "", "invalid_password"),
    ("erin", "erin@example.test", "p" * 129, "invalid_password"),
])
def test_invalid_register_fields_are_400_naming_the_field(server, smtp, name, email_addr,
                                                          password, code):
    r = register(server, name, email_addr, password)
    body = assert_error(r, 400, code)
    field = code.split("_", 1)[1]
    assert field in body["payload"]["message"].lower(), body


def test_invalid_fields_create_no_pending_registration_or_mail(server, smtp):
    assert_error(register(server, "x", "frank@example.test"), 400, "invalid_name")
    # A valid registration afterwards is the first mail to that address.
    assert register(server, "frank", "frank@example.test").status_code == 201
    msgs = smtp.mailbox.wait_for("frank@example.test")
    time.sleep(0.3)
    assert len([m for m in smtp.mailbox.messages() if "frank@" in m["To"]]) == 1, msgs


def test_name_taken_case_insensitively_is_409(server, smtp):
    create_user(server, smtp.mailbox, "Grace")
    assert_error(register(server, "grace", "other@example.test"), 409, "name_taken")
    assert_error(register(server, "GRACE", "other2@example.test"), 409, "name_taken")
    # Case of the name is kept as registered.
    assert register(server, "grace2", "other3@example.test").status_code == 201


def test_verifying_a_name_taken_meanwhile_is_409_not_500(server, smtp):
    # Two pending registrations may ask for the same name; the first link opened wins.
    assert register(server, "heidi", "heidi1@example.test").status_code == 201
    assert register(server, "HEIDI", "heidi2@example.test").status_code == 201
    first = smtp.mailbox.link_for("heidi1@example.test")
    second = smtp.mailbox.link_for("heidi2@example.test")
    assert_success(verify(second), 200, VERIFIED)
    assert_error(verify(first), 409, "name_taken")
    assert_error(login(server, "heidi1@example.test"), 403, "email_not_verified")
    assert login(server, "heidi2@example.test").status_code == 201


def test_registering_an_existing_email_answers_alike_and_mails_the_owner(server, smtp):
    addr = "ivan@example.test"
    create_user(server, smtp.mailbox, "ivan")
    fresh = register(server, "judy", "judy@example.test")
    again = register(server, "ivan_two", addr, password="attacker-password")
    assert again.status_code == fresh.status_code == 201
    assert again.text == fresh.text
    assert again.headers["Content-Type"] == fresh.headers["Content-Type"]
    assert_success(again, 201, REGISTERED)

    msgs = smtp.mailbox.wait_for(addr, count=2)
    notice = msgs[1]
    assert notice["Subject"] != msgs[0]["Subject"]
    assert VERIFY_PATH not in notice.get_content()
    assert not LINK_RE.search(notice.get_content())

    # Nothing changed: the owner's password still works, the attacker's gives no token
    # (only the answer a new address would give), and the name asked for was not reserved.
    assert login(server, addr).status_code == 201
    assert_error(login(server, addr, "attacker-password"), 403, "email_not_verified")
    assert register(server, "ivan_two", "ivan2@example.test").status_code == 201


def test_register_then_login_does_not_reveal_an_existing_account(server, smtp):
    # An attacker registers an address that has an account and one that has not, with a
    # password of their own, then logs in with it: both answers must be alike, or the
    # pair of requests tells which address has an account.
    create_user(server, smtp.mailbox, "wendy")
    assert register(server, "probe1", "wendy@example.test", "attacker-pass").status_code == 201
    assert register(server, "probe2", "fresh@example.test", "attacker-pass").status_code == 201
    existing = login(server, "wendy@example.test", "attacker-pass")
    fresh = login(server, "fresh@example.test", "attacker-pass")
    assert (existing.status_code, existing.text) == (fresh.status_code, fresh.text)
    assert_error(existing, 403, "email_not_verified")
    wrong_existing = login(server, "wendy@example.test", "wrong-password")
    wrong_fresh = login(server, "fresh@example.test", "wrong-password")
    assert_error(wrong_existing, 401, "invalid_credentials")
    assert wrong_existing.text == wrong_fresh.text
    # The owner is not locked out, and the probe's request cannot become an account.
    assert login(server, "wendy@example.test").status_code == 201
    assert not LINK_RE.search(smtp.mailbox.wait_for("wendy@example.test", count=2)[1]
                              .get_content())
    assert_error(register(server, "Wendy", "w2@example.test"), 409, "name_taken")


# ---------------------------------------------------------------------------------------
# Login


def test_wrong_password_and_unknown_email_get_the_same_401(server, smtp):
    create_user(server, smtp.mailbox, "kate")
    wrong = login(server, "kate@example.test", "wrong-password")
    unknown = login(server, "nobody@example.test", "wrong-password")
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.text == unknown.text
    # Empty fields get the same generic answer.
    assert login(server, "", "").text == wrong.text


def test_login_is_case_insensitive_in_the_email(server, smtp):
    create_user(server, smtp.mailbox, "leo")
    assert login(server, "LEO@Example.Test").status_code == 201


def test_login_before_verification(server, smtp):
    addr = "mallory@example.test"
    assert register(server, "mallory", addr).status_code == 201
    assert_error(login(server, addr), 403, "email_not_verified")
    wrong = login(server, addr, "wrong-password")
    assert_error(wrong, 401, "invalid_credentials")
    assert wrong.text == login(server, "nobody@example.test", "wrong-password").text


# ---------------------------------------------------------------------------------------
# Bodies, routes, methods and pages


def test_json_bodies_are_accepted_for_register_and_login(server, smtp):
    addr = "niaj@example.test"
    r = post_json(server, "/api/v1/auth/register",
                  {"name": "niaj", "email": addr, "password": "password123"})
    assert_success(r, 201, REGISTERED)
    assert_success(verify(smtp.mailbox.link_for(addr)), 200, VERIFIED)
    r = post_json(server, "/api/v1/auth/login", {"email": addr, "password": "password123"})
    assert r.status_code == 201, r.text
    assert len(r.json()["payload"]["token"]) >= 43
    # Also with a charset parameter, and unicode in the password.
    r = requests.post(server.base + "/api/v1/auth/register",
                      data=json.dumps({"name": "olivia", "email": "olivia@example.test",
                                       "password": "비밀번호비밀번호"}).encode(),
                      headers={"Content-Type": "application/json; charset=utf-8"}, timeout=10)
    assert_success(r, 201, REGISTERED)
    assert_success(verify(smtp.mailbox.link_for("olivia@example.test")), 200, VERIFIED)
    assert login(server, "olivia@example.test", "비밀번호비밀번호").status_code == 201


def test_form_bodies_with_utf8_password_work(server, smtp):
    # The app posts application/x-www-form-urlencoded (UTF-8).
    create_user(server, smtp.mailbox, "peggy", password="암호암호암호암호")
    assert_error(login(server, "peggy@example.test"), 401, "invalid_credentials")


def test_malformed_json_is_400_bad_request(server, smtp):
    for path in ("/api/v1/auth/register", "/api/v1/auth/login"):
        r = requests.post(server.base + path, data=b'{"name": "x", "email": ',
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert_error(r, 400, "bad_request")
        r = requests.post(server.base + path, data=b'["not", "an", "object"]',
                          headers={"Content-Type": "application/json"}, timeout=10)
        assert_error(r, 400, "bad_request")


def test_unsupported_content_type_is_400(server, smtp):
    for path in ("/api/v1/auth/register", "/api/v1/auth/login"):
        r = requests.post(server.base + path, data=b"name=x&email=y&password=z",
                          headers={"Content-Type": "text/plain"}, timeout=10)
        body = assert_error(r, 400, "bad_request")
        assert "json" in body["payload"]["message"]


def test_unknown_path_is_404_json(server, smtp):
    for path in ("/nope", "/api/v1/auth", "/api/v1/auth/registerx", "/api/v2/auth/login"):
        assert_error(requests.get(server.base + path, timeout=10), 404, "not_found")
    assert_error(requests.post(server.base + "/nope", timeout=10), 404, "not_found")


def test_wrong_method_is_405_json(server, smtp):
    r = requests.get(server.base + "/api/v1/auth/login", timeout=10)
    assert_error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"
    assert_error(requests.get(server.base + "/api/v1/auth/register", timeout=10), 405,
                 "method_not_allowed")
    assert_error(requests.post(server.base + VERIFY_PATH + "abc", timeout=10), 405,
                 "method_not_allowed")
    assert_error(requests.post(server.base + "/register", timeout=10), 405, "method_not_allowed")


def test_register_and_login_pages_are_html_forms_posting_to_the_api(server, smtp):
    for path, action, fields in (("/register", "/api/v1/auth/register",
                                  ("name", "email", "password")),
                                 ("/login", "/api/v1/auth/login", ("email", "password"))):
        r = requests.get(server.base + path, timeout=10)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/html")
        form = re.search(r"<form[^>]*>", r.text).group(0)
        assert re.search(r'method="post"', form, re.I), form
        assert f'action="{action}"' in form, form
        for f in fields:
            assert re.search(rf'<input[^>]*name="{f}"', r.text), (f, r.text)


# ---------------------------------------------------------------------------------------
# Limits


def test_body_over_the_limit_is_413(tls_start, smtp):
    srv = tls_start(args=["--max-body-bytes", "1024"], smtp=smtp)
    big = {"name": "quentin", "email": "q@example.test", "password": "p" * 2000}
    r = requests.post(srv.base + "/api/v1/auth/register", data=big, timeout=10)
    assert_error(r, 413, "payload_too_large")
    # A body just under the limit is read (and answered on its own merits).
    ok = {"name": "quentin", "email": "q@example.test", "password": "p" * 100}
    assert requests.post(srv.base + "/api/v1/auth/register", data=ok,
                         timeout=10).status_code == 201
    # A chunked body that grows past the limit is refused too, and the client, still
    # sending when the server refuses, gets the answer rather than a reset.
    def slow_body():
        yield b"name=quentin&password="
        for _ in range(4):
            time.sleep(0.05)
            yield b"p" * 800

    r = requests.post(srv.base + "/api/v1/auth/register", data=slow_body(), timeout=10)
    assert_error(r, 413, "payload_too_large")


def test_headers_over_8_kib_are_431(server, smtp):
    r = requests.get(server.base + "/login", headers={"X-Padding": "a" * 9000}, timeout=10)
    assert_error(r, 431, "headers_too_large")
    r = requests.get(server.base + "/login", headers={"X-Padding": "a" * 6000}, timeout=10)
    assert r.status_code == 200


def test_register_is_rate_limited_per_address(tls_start, smtp):
    srv = tls_start(args=NOT_EXEMPT_ARGS + ["--register-rate-count", "3"], smtp=smtp, fast=False)
    for i in range(3):
        assert register(srv, f"rate{i}", f"rate{i}@example.test").status_code == 201
    r = register(srv, "rate3", "rate3@example.test")
    assert_error(r, 429, "rate_limited")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60
    # Login has its own budget.
    assert_error(login(srv, "rate0@example.test"), 403, "email_not_verified")


def test_login_is_rate_limited_per_address(tls_start, smtp):
    srv = tls_start(args=NOT_EXEMPT_ARGS + ["--login-rate-count", "2"], smtp=smtp, fast=False)
    for _ in range(2):
        assert_error(login(srv, "x@example.test"), 401, "invalid_credentials")
    r = login(srv, "x@example.test")
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) >= 1


def test_rate_limit_exempt_address_is_not_limited(tls_start, smtp):
    srv = tls_start(args=["--register-rate-count", "3"], smtp=smtp)  # FAST_ARGS exempt 127.0.0.1
    for i in range(6):
        assert register(srv, f"burst{i}", f"burst{i}@example.test").status_code == 201


def test_rate_limit_exempt_accepts_cidr_ranges(tls_start, smtp):
    srv = tls_start(args=NOT_EXEMPT_ARGS + ["--register-rate-count", "1",
                                            "--rate-limit-exempt", "10.0.0.0/8, 127.0.0.0/8"],
                    smtp=smtp, fast=False)
    for i in range(3):
        assert register(srv, f"cidr{i}", f"cidr{i}@example.test").status_code == 201


# ---------------------------------------------------------------------------------------
# Logout


def test_logout_revokes_the_token_for_the_gateway(server, smtp):
    token, _ = create_user(server, smtp.mailbox, "rupert")
    r = requests.post(server.base + "/api/v1/auth/logout",
                      headers={"Authorization": f"Bearer {token}",
                               "Accept": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == JSON_TYPE
    assert r.json()["type"] == "info"

    c = Client(server)
    try:
        c.send("heartbeat", {"count": 0})
        assert c.recv()["payload"] == {"count": 0}
        c.send("auth", {"auth": token})
        f = c.recv()
        assert f["type"] == "error", f
        assert f["payload"]["code"] == "4000", f
    finally:
        c.close()
    # The token is gone: logging out again is refused; a new login gives a working token.
    r = requests.post(server.base + "/api/v1/auth/logout",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert_error(r, 401, "unauthorized")
    fresh = login(server, "rupert@example.test").json()["payload"]["token"]
    c = Client(server)
    try:
        assert c.handshake(fresh)["self_user"]["name"] == "rupert"
    finally:
        c.close()


def test_logout_without_a_valid_bearer_token_is_401(server, smtp):
    url = server.base + "/api/v1/auth/logout"
    assert_error(requests.post(url, timeout=10), 401, "unauthorized")
    assert_error(requests.post(url, headers={"Authorization": "Bearer nope"}, timeout=10), 401,
                 "unauthorized")
    assert_error(requests.post(url, headers={"Authorization": "Basic abc"}, timeout=10), 401,
                 "unauthorized")


# ---------------------------------------------------------------------------------------
# Mail delivery and durability


def test_mail_queued_while_smtp_is_down_is_sent_after_a_restart(tls_start, sinks, test_ca,
                                                                tmp_path):
    port = free_port()
    data_dir = tmp_path / "durable"
    dead = free_port()  # nothing listens here
    srv = tls_start(args=["--port", str(port)] + smtp_args(dead, ca=test_ca["ca"]),
                    data_dir=data_dir)
    addr = "sybil@example.test"
    assert_success(register(srv, "sybil", addr), 201, REGISTERED)
    wait_for_log(srv, rb"mail to <sybil@example.test> failed \(attempt 1\)")
    assert srv.stop() == 0
    assert b"stopped cleanly" in srv.read_log()

    sink = sinks()
    srv2 = tls_start(args=["--port", str(port)], smtp=sink, data_dir=data_dir)
    link = sink.mailbox.link_for(addr)
    assert link.startswith(srv2.base + VERIFY_PATH)
    assert_success(verify(link), 200, VERIFIED)
    assert login(srv2, addr).status_code == 201


def test_pending_registration_and_its_mail_survive_kill_9(tls_start, sinks, test_ca, tmp_path):
    port = free_port()
    data_dir = tmp_path / "crash"
    srv = tls_start(args=["--port", str(port)] + smtp_args(free_port(), ca=test_ca["ca"]),
                    data_dir=data_dir)
    addr = "trent@example.test"
    assert_success(register(srv, "trent", addr), 201, REGISTERED)
    srv.kill9()

    sink = sinks()
    srv2 = tls_start(args=["--port", str(port)], smtp=sink, data_dir=data_dir)
    assert_error(login(srv2, addr), 403, "email_not_verified")  # the request survived
    link = sink.mailbox.link_for(addr)
    assert_success(verify(link), 200, VERIFIED)
    assert login(srv2, addr).status_code == 201


def test_verified_account_survives_kill_9(tls_start, smtp, tmp_path):
    port = free_port()
    data_dir = tmp_path / "crash2"
    srv = tls_start(args=["--port", str(port)], smtp=smtp, data_dir=data_dir)
    token, uid = create_user(srv, smtp.mailbox, "uma")
    srv.kill9()
    srv2 = tls_start(args=["--port", str(port)], smtp=smtp, data_dir=data_dir)
    assert_error(register(srv2, "UMA", "uma2@example.test"), 409, "name_taken")
    assert login(srv2, "uma@example.test").status_code == 201
    c = Client(srv2)
    try:
        assert c.handshake(token)["self_user"]["id"] == uid  # the token survived too
    finally:
        c.close()


def test_failed_delivery_is_retried(tls_start, sinks):
    sink = sinks(fail_first=1)
    srv = tls_start(smtp=sink)
    addr = "victor@example.test"
    t0 = time.time()
    assert register(srv, "victor", addr).status_code == 201
    wait_for_log(srv, rb"mail to <victor@example.test> failed \(attempt 1\)")
    link = sink.mailbox.link_for(addr)
    assert time.time() - t0 >= 3  # after the backoff, not in a tight loop
    assert_success(verify(link), 200, VERIFIED)
    time.sleep(0.5)
    assert len(sink.mailbox.messages()) == 1  # delivered once


def test_starttls_delivers_the_mail(tls_start, sinks):
    sink = sinks(tls="starttls")
    srv = tls_start(smtp=sink)
    assert "--smtp-tls" in srv.args and srv.args[srv.args.index("--smtp-tls") + 1] == "starttls"
    token, _ = create_user(srv, sink.mailbox, "walter")
    assert len(token) >= 43


def test_without_smtp_host_mail_goes_to_the_log(start_server):
    srv = start_server()
    addr = "xavier@example.test"
    assert_success(register(srv, "xavier", addr), 201, REGISTERED)
    m = wait_for_log(srv, rb"(https?://\S+/api/v1/auth/email_verify/[A-Za-z0-9_-]+)")
    link = m.group(1).decode()
    assert link.startswith(srv.base + VERIFY_PATH)
    assert addr.encode() in srv.read_log()
    assert_success(verify(link), 200, VERIFIED)
    assert login(srv, addr).status_code == 201


# ---------------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize("args,env,names", [
    (["--port", "abc"], {}, ["--port"]),
    (["--port", "70000"], {}, ["--port"]),
    (["--utc-offset", "nonsense"], {}, ["--utc-offset"]),
    (["--rate-limit-exempt", "300.1.1.1"], {}, ["--rate-limit-exempt"]),
    (["--smtp-tls", "bogus"], {}, ["--smtp-tls"]),
    (["--worker-id", "5000"], {}, ["--worker-id"]),
    (["--public-base-url", "ftp://x"], {}, ["--public-base-url"]),
    (["--smtp-host", "127.0.0.1"], {}, ["--mail-address", "MAIL_ADDRESS"]),
    (["--listen", "bogus"], {}, ["--listen"]),
    ([], {"REWIND_LISTEN": "localhost:80"}, ["--listen", "REWIND_LISTEN"]),
    ([], {"REWIND_SMTP_TLS": "bogus"}, ["--smtp-tls", "REWIND_SMTP_TLS"]),
    ([], {"REWIND_HTTP_PORT": "http"}, ["--port", "REWIND_HTTP_PORT"]),
    ([], {"REWIND_UTC_OFFSET": "+99:99"}, ["--utc-offset", "REWIND_UTC_OFFSET"]),
    ([], {"REWIND_RATE_LIMIT_EXEMPT": "1.2.3.4/40"},
     ["--rate-limit-exempt", "REWIND_RATE_LIMIT_EXEMPT"]),
    (["--database-url", "mysql://u:secret@h/db"], {}, ["--database-url"]),
    ([], {"REWIND_DATABASE_URL": "u:secret@h/db"}, ["REWIND_DATABASE_URL"]),
    (["--redis-url", "redis://127.0.0.1:99999"], {}, ["--redis-url"]),
    ([], {"REWIND_REDIS_URL": "127.0.0.1:6379"}, ["REWIND_REDIS_URL"]),
])
def test_bad_config_value_stops_startup_naming_the_setting(tmp_path, args, env, names):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REWIND_")}
    full_env.update(env)
    t0 = time.time()
    p = subprocess.run([SERVER_BIN, "--data-dir", str(tmp_path / "d")] + args,
                       capture_output=True, text=True, env=full_env, timeout=10)
    assert time.time() - t0 < 5
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert any(n in lines[0] for n in names), (names, lines[0])
    assert not (tmp_path / "d").exists() or not os.listdir(tmp_path / "d")


def test_help_lists_settings_with_their_environment_variables():
    p = subprocess.run([SERVER_BIN, "--help"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0
    for flag, env in [("--listen", "REWIND_LISTEN"), ("--port", "REWIND_HTTP_PORT"),
                      ("--data-dir", "REWIND_DATA_DIR"),
                      ("--public-base-url", "REWIND_PUBLIC_BASE_URL"),
                      ("--worker-id", "REWIND_WORKER_ID"), ("--smtp-host", "REWIND_SMTP_HOST"),
                      ("--smtp-port", "REWIND_SMTP_PORT"), ("--smtp-tls", "REWIND_SMTP_TLS"),
                      ("--smtp-ca-file", "REWIND_SMTP_CAFILE"),
                      ("--mail-address", "MAIL_ADDRESS"), ("--mail-password", "MAIL_PASSWD"),
                      ("--heartbeat-timeout", "REWIND_HEARTBEAT_TIMEOUT_S"),
                      ("--utc-offset", "REWIND_UTC_OFFSET"), ("--log-level", "REWIND_LOG_LEVEL"),
                      ("--rate-limit-exempt", "REWIND_RATE_LIMIT_EXEMPT"),
                      ("--database-url", "REWIND_DATABASE_URL"),
                      ("--redis-url", "REWIND_REDIS_URL")]:
        assert re.search(re.escape(flag) + r"\b[^\n]*" + re.escape(env), p.stdout), (flag, env)


def test_environment_variable_sets_the_port_and_the_flag_wins(spawn, tmp_path):
    p1, p2 = free_port(), free_port()
    fast_env = {"REWIND_PASSWORD_HASH_OPS": "1", "REWIND_PASSWORD_HASH_MEM_KIB": "1024"}
    _, port, _ = spawn(["--data-dir", str(tmp_path / "e1")],
                       env=dict(fast_env, REWIND_HTTP_PORT=str(p1)))
    assert port == p1
    assert requests.get(f"http://127.0.0.1:{p1}/login", timeout=10).status_code == 200
    _, port, _ = spawn(["--data-dir", str(tmp_path / "e2"), "--port", str(p2)],
                       env=dict(fast_env, REWIND_HTTP_PORT=str(free_port())))
    assert port == p2
    assert requests.get(f"http://127.0.0.1:{p2}/login", timeout=10).status_code == 200


def test_spec_environment_variables_configure_mail_and_links(spawn, smtp, test_ca, tmp_path):
    port = free_port()
    data_dir = tmp_path / "envdata"
    env = {
        "REWIND_LISTEN": "127.0.0.1", "REWIND_HTTP_PORT": str(port),
        "REWIND_DATA_DIR": str(data_dir),
        "REWIND_PUBLIC_BASE_URL": "https://chat.example.test/",
        "REWIND_SMTP_HOST": "127.0.0.1", "REWIND_SMTP_PORT": str(smtp.port),
        "REWIND_SMTP_TLS": "implicit", "REWIND_SMTP_CAFILE": test_ca["ca"],
        "MAIL_ADDRESS": SMTP_USER, "MAIL_PASSWD": SMTP_PASSWORD,
        "REWIND_RATE_LIMIT_EXEMPT": "127.0.0.1", "REWIND_LOG_LEVEL": "debug",
        "REWIND_PASSWORD_HASH_OPS": "1", "REWIND_PASSWORD_HASH_MEM_KIB": "1024",
    }
    _, got_port, _ = spawn([], env=env)
    assert got_port == port
    assert (data_dir / "rewind.db").exists()

    class At:
        base = f"http://127.0.0.1:{port}"

    addr = "yvonne@example.test"
    assert register(At, "yvonne", addr).status_code == 201
    link = smtp.mailbox.link_for(addr)
    # The link uses the public base URL (its trailing slash dropped), not the bound address.
    assert link.startswith("https://chat.example.test" + VERIFY_PATH), link
    local = At.base + link[len("https://chat.example.test"):]
    assert_success(verify(local), 200, VERIFIED)
    assert login(At, addr).status_code == 201
