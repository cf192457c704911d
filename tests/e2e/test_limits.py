"""HTTP and gateway limits: slow clients, Origin allow-list, per-user and per-connection
rate limits found at their configured cutoffs."""
import base64
import json
import re
import socket
import time

import pytest
import websocket

from conftest import FAST_ARGS, Client, create_user


def fast_args_without(*flags):
    """FAST_ARGS minus the named flags (CLI11 refuses a repeated option)."""
    out, skip = [], False
    for a in FAST_ARGS:
        if skip:
            skip = False
            continue
        if a in flags:
            skip = True
            continue
        out.append(a)
    return out


def test_client_sending_headers_slowly_is_cut_off(start_server):
    server = start_server(args=["--http-read-timeout", "2"])
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    start = time.time()
    got = b""
    s.settimeout(0.3)
    try:
        while time.time() - start < 10:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                s.sendall(b"X-Slow: 1\r\n")  # trickle, never finish
                continue
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    elapsed = time.time() - start
    print(f"\nslow headers: cut off after {elapsed:.1f}s")
    assert elapsed < 4
    assert got == b""  # the timeout closes the socket; no answer is owed to a stalled peer


def test_idle_keep_alive_connection_is_closed_silently(start_server):
    server = start_server(args=["--http-read-timeout", "1"])
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    start = time.time()
    assert s.recv(4096) == b""
    assert time.time() - start < 3


def test_origin_outside_the_allow_list_is_403(start_server):
    server = start_server(args=["--allowed-origins", "https://rewind.example"])
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(server.ws_url(), origin="https://evil.example", timeout=5)
    assert e.value.status_code == 403
    websocket.create_connection(server.ws_url(), origin="https://rewind.example", timeout=5).close()
    # The app sends no Origin at all: always allowed.
    ws = websocket.create_connection(server.ws_url(), suppress_origin=True, timeout=5)
    ws.close()


def test_any_origin_is_allowed_by_default(start_server):
    server = start_server()
    websocket.create_connection(server.ws_url(), origin="https://anything.example",
                                timeout=5).close()


def make_friends(server, smtp):
    ta, ia = create_user(server, smtp.mailbox, "alice")
    tb, ib = create_user(server, smtp.mailbox, "bob")
    a, b = Client(server), Client(server)
    a.handshake(ta)
    b.handshake(tb)
    a.token, b.token = ta, tb
    a.send("mutual_users", {"type": "request", "name": "bob"})
    a.recv_type("ok")
    b.send("mutual_users", {"type": "response", "name": "alice"})
    b.recv_type("ok")
    return a, b, str(int(ia) ^ int(ib))


def test_chat_sends_are_limited_per_user_at_the_configured_count(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(args=fast_args_without("--chat-rate-count") +
                          ["--chat-rate-count", "7"], fast=False, smtp=smtp)
    a, b, chat = make_friends(server, smtp)
    accepted = 0
    for i in range(10):
        a.send("chat", {"type": "send", "chat_id": chat, "content": f"m{i}"})
        f = a.recv()
        while f["type"] not in ("chat", "error"):  # skip the friend events of the set-up
            f = a.recv()
        if f["type"] == "chat":
            accepted += 1
        else:
            assert f["payload"]["code"] == "4029"
            assert f["payload"]["retry_after"] > 0
    print(f"\nper-user chat limit 7: {accepted} accepted of 10")
    assert accepted == 7
    # The limit is per user: a second connection of alice is limited too.
    a2 = Client(server)
    a2.handshake(a.token)
    a2.send("chat", {"type": "send", "chat_id": chat, "content": "again"})
    assert a2.recv()["payload"]["code"] == "4029"


def test_friend_requests_are_limited_per_user(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(args=fast_args_without("--friend-rate-count") +
                          ["--friend-rate-count", "3"], fast=False, smtp=smtp)
    token, _ = create_user(server, smtp.mailbox, "alice")
    names = [f"user{i}" for i in range(5)]
    for n in names:
        create_user(server, smtp.mailbox, n)
    c = Client(server)
    c.handshake(token)
    codes = []
    for n in names:
        c.send("mutual_users", {"type": "request", "name": n})
        f = c.recv()
        codes.append("ok" if f["type"] == "ok" else f["payload"]["code"])
    assert codes == ["ok", "ok", "ok", "4029", "4029"]


def test_connection_flooding_past_the_limit_is_closed_with_4104(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(args=fast_args_without("--ws-rate-count") +
                          ["--ws-rate-count", "10", "--ws-rate-window", "60"], fast=False,
                          smtp=smtp)
    token, _ = create_user(server, smtp.mailbox, "alice")
    c = Client(server)
    c.handshake(token)  # auth is the first counted request
    answers = {"mutual_users": 0, "4029": 0}
    code = None
    for _ in range(60):
        try:
            c.send("load", {"type": "mutual_users"})
        except Exception:  # noqa: BLE001 - closed while flooding
            break
    code = None
    while True:
        try:
            f = c.recv(5)
        except Exception as e:  # noqa: BLE001
            code = getattr(e, "code", None)
            break
        key = f["type"] if f["type"] != "error" else f["payload"]["code"]
        answers[key] = answers.get(key, 0) + 1
    print(f"\nflood: answers {answers}, then close {code}")
    assert answers["mutual_users"] == 9  # 10 per window, auth took one
    assert answers["4029"] >= 1
    assert code == 4104
    # Heartbeats are never limited: another connection of the same user still works.
    d = Client(server)
    d.handshake(token)


# -- history loads and the send queue -------------------------------------------------------

def test_history_max_count_that_cannot_fit_the_send_queue_stops_start_up(start_server):
    # 10,000 messages of 2,000 characters can be 80 MB; the default send queue is 2 MiB.
    with pytest.raises(RuntimeError) as e:
        start_server(args=["--history-max-count", "10000"])
    text = str(e.value)
    assert "server exited" in text
    assert "--history-max-count" in text and "--send-queue-bytes" in text
    assert re.search(r"lower --history-max-count to at most \d+", text), text


def largest_history_count(start_server, args=()):
    """The largest --history-max-count the server accepts with `args`, from its start-up error."""
    with pytest.raises(RuntimeError) as e:
        start_server(args=list(args) + ["--history-max-count", "10000"])
    return int(re.search(r"lower --history-max-count to at most (\d+)", str(e.value)).group(1))


def test_largest_history_load_of_the_longest_messages_keeps_its_connection(start_server, smtp,
                                                                           test_ca):
    # The largest load the settings allow, of messages whose encoding is the longest there is
    # (2,000 characters outside the BMP: 4 bytes each), is queued at once; it must not close
    # its own connection as a slow consumer (4105).
    start_server.ca[0] = test_ca["ca"]
    count = largest_history_count(start_server)
    server = start_server(args=["--history-max-count", str(count)], smtp=smtp)
    a, b, chat = make_friends(server, smtp)
    content = "\U0001F600" * 2000
    for _ in range(count):
        a.send("chat", {"type": "send", "chat_id": chat, "content": content})
        assert a.recv_type("chat")["payload"]["content"] == content
    reader = Client(server)
    reader.handshake(b.token)
    cursor = base64.b64encode(b"2100-1-1 00:00:00.0000").decode()
    reader.send("load", {"type": "chat", "load_id": chat, "datetime": cursor, "count": count})
    time.sleep(0.5)  # the whole load is queued before the client reads a byte
    got = [reader.recv_type("chat", timeout=10)["payload"]["content"] for _ in range(count)]
    print(f"\nhistory load: {count} messages of 2,000 4-byte characters "
          f"({count * len(content.encode())} bytes of content) delivered whole")
    assert got == [content] * count
    reader.send("heartbeat", 1)
    assert reader.recv_type("heartbeat")["payload"] == 1
