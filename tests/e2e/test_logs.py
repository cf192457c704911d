"""End-to-end tests of the log (docs/OPERATIONS.md, "Logs"): --log-format text or json (one
object per line), an access record per HTTP request and per closed WebSocket, and no secret
(password, verification key, token) in any line, whatever the format."""
import json
import re
import secrets

import pytest
import requests

from conftest import Client, ConnectionClosed, secrets_in_logs


def account_flow(server, mailbox):
    """Register, verify, log in, use the gateway, fail a login and an auth, log out. Returns
    every secret used."""
    password = "pw-" + secrets.token_urlsafe(12)
    wrong_password = "wrong-" + secrets.token_urlsafe(12)
    bad_token = "bad-" + secrets.token_urlsafe(24)
    addr = "logan@example.test"
    r = requests.post(server.base + "/api/v1/auth/register",
                      data={"name": "logan", "email": addr, "password": password},
                      headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 201, r.text
    link = mailbox.link_for(addr)
    key = link.rsplit("/", 1)[1]
    assert requests.get(link, timeout=10).status_code == 200
    # The key once more, in a query (a client may put anything there).
    requests.get(server.base + "/?key=" + key, timeout=10)
    r = requests.post(server.base + "/api/v1/auth/login", data={"email": addr, "password": password},
                      headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 201, r.text
    token = r.json()["payload"]["token"]
    r = requests.post(server.base + "/api/v1/auth/login",
                      data={"email": addr, "password": wrong_password},
                      headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code != 201
    c = Client(server, version=2)
    c.handshake(token)
    c.close()
    bad = Client(server)
    bad.send("auth", {"auth": bad_token})
    try:
        assert bad.recv()["type"] == "error"
    except ConnectionClosed:
        pass
    bad.close()
    requests.get(server.base + "/api/v1/about?token=" + token, timeout=10)
    r = requests.post(server.base + "/api/v1/auth/logout",
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return {password, wrong_password, bad_token, key, token}


def access_records(log_text, fmt):
    if fmt == "json":
        return [r for r in map(json.loads, log_text.splitlines()) if r.get("logger") == "access"]
    return [line for line in log_text.splitlines() if " access " in line]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_of_an_account_flow_reaches_the_log(start_server, smtp, test_ca, fmt):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(["--log-format", fmt], smtp=smtp)
    used = account_flow(server, smtp.mailbox)
    server.stop()  # writes what the logging thread still holds
    assert secrets_in_logs({server.log_path}, used) == []
    text = server.read_log().decode()
    records = access_records(text, fmt)
    assert len(records) >= 8, text
    if fmt == "json":
        # Every line is one object, with its time in RFC 3339 UTC.
        for line in text.splitlines():
            record = json.loads(line)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["time"])
            assert record["level"] and "msg" in record
        http = [r for r in records if r["msg"] == "http"]
        verify = [r for r in http if "email_verify" in r["path"]]
        assert verify[0]["path"] == "/api/v1/auth/email_verify/redacted"
        assert verify[0]["status"] == 200 and verify[0]["method"] == "GET"
        assert verify[0]["client"] == "127.0.0.1"
        assert verify[0]["request_bytes"] > 0 and verify[0]["response_bytes"] > 0
        assert verify[0]["duration_ms"] >= 0
        assert any(r["path"] == "/?key=redacted" for r in http)
        ws = [r for r in records if r["msg"] == "ws"]
        assert {r["version"] for r in ws} == {1, 2}
        assert all(r["frames_in"] >= 1 and r["bytes_in"] > 0 for r in ws)
        assert all(r["cut"] is False for r in ws)  # every close handshake was done
    else:
        assert any('path="/api/v1/auth/email_verify/redacted" status=200' in r for r in records)
        assert any(re.search(r"access ws .* close_code=\d+ .* cut=false ", r) for r in records)


def test_the_access_log_can_be_turned_off(start_server):
    server = start_server(["--access-log", "false", "--log-format", "json"])
    requests.get(server.base + "/healthz", timeout=10)
    Client(server).close()
    server.stop()
    text = server.read_log().decode()
    assert "listening on" in text
    assert access_records(text, "json") == []


def test_another_log_format_stops_start_up(start_server):
    with pytest.raises(RuntimeError, match=r"--log-format / REWIND_LOG_FORMAT"):
        start_server(["--log-format", "xml"])
