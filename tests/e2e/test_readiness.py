"""GET /readyz: whether a node should get new clients (a proxy's health check), apart from
/healthz (alive). Not ready while the store cannot write and from the moment a shutdown
begins while the connections drain; each failing part is named."""
import json
import re
import signal
import time

import pytest
import requests
import websocket

from conftest import ON_POSTGRES, PG_DIR, SmtpSink, free_port, pg_cluster, register


def readyz(server):
    return requests.get(server.base + "/readyz", timeout=5)


def wait_readyz(server, status, timeout):
    deadline = time.time() + timeout
    while True:
        try:
            r = readyz(server)
            if r.status_code == status:
                return r
        except requests.ConnectionError:
            r = None
        if time.time() > deadline:
            raise AssertionError(f"/readyz did not answer {status} within {timeout}s: "
                                 f"{r.status_code if r else 'no answer'} {r.text if r else ''}")
        time.sleep(0.1)


def test_a_fresh_server_is_ready_and_names_its_node(start_server):
    server = start_server(args=["--worker-id", "7"])
    r = readyz(server)
    assert r.status_code == 200
    assert r.text == "ready\n"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["X-Rewind-Node"] == "7"
    assert r.headers["Cache-Control"] == "no-store"
    # Every answer names the node, the WebSocket upgrade's included.
    assert requests.get(server.base + "/healthz", timeout=5).headers["X-Rewind-Node"] == "7"
    assert requests.get(server.base + "/nowhere", timeout=5).headers["X-Rewind-Node"] == "7"
    ws = websocket.create_connection(server.ws_url(), timeout=5)
    assert ws.getheaders()["x-rewind-node"] == "7"
    ws.close()
    assert requests.head(server.base + "/readyz", timeout=5).status_code == 200
    r = requests.post(server.base + "/readyz", timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"


def test_not_ready_while_a_shutdown_drains_its_connections(start_server):
    # The client below never answers the server's close frame, so the drain lasts until the
    # closing handshake times out: long enough to look at the server meanwhile.
    server = start_server(args=["--ws-handshake-timeout", "10", "--shutdown-timeout", "12"])
    assert readyz(server).status_code == 200
    ws = websocket.create_connection(server.ws_url(), timeout=5)
    ws.send(json.dumps({"type": "heartbeat", "payload": 1}))
    assert json.loads(ws.recv())["payload"] == 1
    started = time.time()
    server.proc.send_signal(signal.SIGTERM)
    r = wait_readyz(server, 503, 3)
    assert r.text == "not ready\nshutdown: shutting down, draining connections\n", r.text
    assert r.headers["Connection"].lower() == "close"
    # Still alive, and still answering ordinary requests.
    assert requests.get(server.base + "/healthz", timeout=5).status_code == 200
    assert requests.get(server.base + "/api/v1/about", timeout=5).status_code == 200
    # New WebSockets are refused.
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(server.ws_url(), timeout=5)
    assert e.value.status_code == 503
    assert server.proc.poll() is None
    assert time.time() - started < 9, "the drain may have ended before the checks"
    ws.close()  # answers the close: the drain ends
    assert server.proc.wait(15) == 0


@pytest.mark.skipif(not (ON_POSTGRES and PG_DIR),
                    reason="needs REWIND_TEST_DATABASE_URL and REWIND_TEST_PG_DIR")
def test_not_ready_naming_the_store_while_postgresql_is_down(start_server):
    server = start_server()
    assert readyz(server).status_code == 200
    pg_cluster("stop")
    try:
        # No write is needed: the store notices its idle connection closing.
        r = wait_readyz(server, 503, 5)
        assert r.text == "not ready\nstore: cannot write\n", r.text
        assert requests.get(server.base + "/healthz", timeout=5).status_code == 200
    finally:
        pg_cluster("start")
    # Back without a write either: the store reconnects by itself (backoff up to 2 s).
    wait_readyz(server, 200, 10)
    log = server.read_log().decode(errors="replace")
    assert "storage writer lost its connection while idle" in log
    assert "storage writer connected again" in log


def mail_backlog(admin):
    text = requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).text
    return float(re.search(r"^rewind_mail_backlog (\S+)$", text, re.M).group(1))


def test_not_ready_naming_mail_while_the_outbox_backs_up_then_ready_once_it_drains(
        start_server, test_ca, tmp_path):
    sink = SmtpSink(test_ca, tmp_path)
    start_server.ca[0] = test_ca["ca"]
    admin = free_port()
    server = start_server(smtp=sink, args=["--mail-backlog-limit", "2", "--admin-port", str(admin)])
    assert readyz(server).status_code == 200
    # The SMTP server goes away: every sign-up's mail fails at once and waits for its retry
    # (5 s after the first attempt).
    sink.stop()
    try:
        for i in range(3):
            assert register(server, f"waiter{i}", f"waiter{i}@example.test").status_code == 201
            if i < 2:
                # A mail committed while the sender counts the outbox counts twice until its
                # next count, a moment later: once the count settles, at the limit is ready.
                deadline = time.time() + 5
                while mail_backlog(admin) != i + 1 and time.time() < deadline:
                    time.sleep(0.02)
                assert mail_backlog(admin) == i + 1
                assert readyz(server).status_code == 200  # at the limit, not over it
        r = wait_readyz(server, 503, 5)
        assert re.fullmatch(r"not ready\nmail: [34] mails waiting to be sent \(limit 2\)\n",
                            r.text), r.text  # 4: a mail committed while counted may count twice
        assert mail_backlog(admin) >= 3
        # A load balancer's probe leaves mail out (deploy/haproxy.cfg), on both listeners.
        ok = requests.get(server.base + "/readyz?exclude=mail", timeout=5)
        assert ok.status_code == 200 and ok.text == "ready\n", ok.text
        ok = requests.get(f"http://127.0.0.1:{admin}/readyz?exclude=mail", timeout=5)
        assert ok.status_code == 200, ok.text
        assert requests.get(server.base + "/healthz", timeout=5).status_code == 200
    finally:
        sink = SmtpSink(test_ca, tmp_path, port=sink.port)  # the same server back
    try:
        wait_readyz(server, 200, 15)
        # The retries are spread over a few seconds: ready again may come with one still due.
        for i in range(3):
            sink.mailbox.wait_for(f"waiter{i}@example.test", timeout=15)
        deadline = time.time() + 10
        while mail_backlog(admin) != 0 and time.time() < deadline:
            time.sleep(0.1)
        assert mail_backlog(admin) == 0
    finally:
        sink.stop()


def test_a_mail_backlog_limit_of_0_keeps_mail_out_of_readiness(start_server, test_ca, tmp_path):
    sink = SmtpSink(test_ca, tmp_path)
    start_server.ca[0] = test_ca["ca"]
    server = start_server(smtp=sink, args=["--mail-backlog-limit", "0"])
    sink.stop()
    assert register(server, "waiter", "waiter@example.test").status_code == 201
    deadline = time.time() + 1
    while time.time() < deadline:  # the failed attempt comes and goes meanwhile
        assert readyz(server).status_code == 200
        time.sleep(0.1)
    assert "mail to <waiter@example.test> failed" in server.read_log().decode(errors="replace")
