"""The client's address behind a proxy (--trusted-proxies): from a trusted peer the rightmost
X-Forwarded-For entry that is not itself a trusted proxy is the client, for the per-address
connection cap, the login and registration limits and the logs; from any other peer the
header is ignored."""
import time

import pytest
import requests
import websocket

from conftest import login

# Hashing cheap, as in FAST_ARGS, but no address exempt from the limits: here every request
# comes from 127.0.0.1.
ARGS = ["--password-hash-ops", "1", "--password-hash-mem-kib", "1024",
        "--max-connections-per-address", "2", "--login-rate-count", "2",
        "--login-account-rate-count", "1000"]
TRUSTED = ARGS + ["--trusted-proxies", "127.0.0.1"]


def connect(server, forwarded_for=None):
    header = [f"X-Forwarded-For: {forwarded_for}"] if forwarded_for else []
    return websocket.create_connection(server.ws_url(), timeout=5, header=header)


def refused(server, forwarded_for=None):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(server, forwarded_for)
    return e.value.status_code


def login_from(server, forwarded_for, n):
    headers = {"Accept": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    r = requests.post(server.base + "/api/v1/auth/login", headers=headers, timeout=10,
                      data={"email": f"nobody{n}@example.test", "password": "password123"})
    return r.status_code


def test_behind_a_trusted_proxy_each_client_has_its_own_connection_cap(start_server):
    server = start_server(args=TRUSTED, fast=False)
    a = [connect(server, "198.51.100.1"), connect(server, "198.51.100.1")]
    assert refused(server, "198.51.100.1") == 429
    b = [connect(server, "198.51.100.2"), connect(server, "198.51.100.2")]
    assert refused(server, "198.51.100.2") == 429
    # The proxy's own connections (no header) are a third client.
    c = [connect(server), connect(server)]
    assert refused(server) == 429
    a.pop().close()
    time.sleep(0.3)
    a.append(connect(server, "198.51.100.1"))
    for ws in a + b + c:
        ws.close()
    log = server.read_log().decode(errors="replace")
    assert "refusing a WebSocket from 198.51.100.1: too many connections" in log
    assert "refusing a WebSocket from 198.51.100.2: too many connections" in log


def test_behind_a_trusted_proxy_each_client_has_its_own_login_limit(start_server):
    server = start_server(args=TRUSTED, fast=False)
    assert [login_from(server, "198.51.100.1", i) for i in range(3)] == [401, 401, 429]
    assert [login_from(server, "198.51.100.2", i) for i in range(3)] == [401, 401, 429]
    assert login_from(server, "198.51.100.1", 9) == 429


def test_from_an_untrusted_peer_the_header_is_ignored(start_server):
    server = start_server(args=ARGS, fast=False)
    a = [connect(server, "198.51.100.1"), connect(server, "198.51.100.2")]
    assert refused(server, "198.51.100.3") == 429  # all of them are 127.0.0.1
    assert [login_from(server, f"198.51.100.{i}", i) for i in range(3)] == [401, 401, 429]
    for ws in a:
        ws.close()
    log = server.read_log().decode(errors="replace")
    assert "refusing a WebSocket from 127.0.0.1: too many connections" in log


def test_a_forged_chain_counts_against_the_rightmost_untrusted_entry_only(start_server):
    server = start_server(args=TRUSTED, fast=False)
    # What a client sends ("evil", or any address) is left of what the proxy appended.
    a = [connect(server, "evil, 198.51.100.7"), connect(server, "198.51.100.9, 198.51.100.7")]
    assert refused(server, "198.51.100.7") == 429
    # A trusted proxy's own entry is skipped: the client is the entry before it.
    assert refused(server, "198.51.100.7, 127.0.0.1") == 429
    # Naming 198.51.100.7 on the left does not make a request count against it.
    b = [connect(server, "198.51.100.7, 198.51.100.8")]
    # A malformed entry where the client should be: the proxy's address.
    c = [connect(server, "198.51.100.8, not-an-address"), connect(server)]
    assert refused(server) == 429
    for ws in a + b + c:
        ws.close()
