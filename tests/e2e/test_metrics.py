"""GET /metrics on the admin listener (--admin-port): the Prometheus text format, values that
move with what the server does, label sets that stay closed (never a user id, a name or an
address), and the two listeners kept apart: no /metrics on the public port, nothing of the
API or the web client on the admin one. Then a real Prometheus scrapes it."""
import json
import os
import re
import shutil
import subprocess
import time

import pytest
import requests
import websocket

from conftest import (ON_POSTGRES, ROOT, SERVER_BIN, Client, befriend, create_user, free_port,
                      login, register)
from rawws import OP_TEXT, RawWs

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
ALLOWED_LABELS = {"protocol", "type", "code", "scope", "result", "le", "version", "action"}


def scrape(port):
    r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, line
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        samples[(m.group(1), labels)] = float(m.group(4))
    return r.text, samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def start_with_admin(start_server, smtp, test_ca):
    admin = free_port()
    start_server.ca[0] = test_ca["ca"]
    server = start_server(smtp=smtp, args=["--admin-port", str(admin)])
    return server, admin


def test_metrics_move_with_the_server_and_their_labels_stay_closed(start_server, smtp, test_ca):
    server, admin = start_with_admin(start_server, smtp, test_ca)
    _, before = scrape(admin)
    assert value(before, "rewind_connections_open", protocol="v1") == 0

    alice_token, alice_id = create_user(server, smtp.mailbox, "alice")
    bob_token, bob_id = create_user(server, smtp.mailbox, "bob")
    assert login(server, "alice@example.test", "wrong-password").status_code == 401
    assert register(server, "x y", "xy@example.test").status_code == 400  # an invalid name
    befriend(server, alice_token, bob_token, "bob")

    alice, bob = Client(server), Client(server, version=2)
    alice.handshake(alice_token)
    bob.handshake(bob_token)
    chat_id = str(int(alice_id) ^ int(bob_id))
    alice.send("chat", {"type": "send", "chat_id": chat_id, "content": "hello"})
    assert alice.recv_type("chat")["payload"]["content"] == "hello"
    assert bob.recv_type("chat")["payload"]["content"] == "hello"
    alice.send_raw("this is not JSON")
    assert alice.recv_type("error")["payload"]["code"] == "4001"
    # Auth before the first heartbeat: closed with 4101.
    early = Client(server)
    early.send("auth", {"auth": alice_token})
    assert early.wait_close() == 4101
    early.close()

    # The refused connection leaves once its close handshake ends: wait for that moment.
    deadline = time.time() + 5
    while True:
        text, after = scrape(admin)
        if value(after, "rewind_connections_open", protocol="v1") == 1 or time.time() > deadline:
            break
        time.sleep(0.05)
    delta = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
    assert value(after, "rewind_connections_open", protocol="v1") == 1
    assert value(after, "rewind_connections_open", protocol="v2") == 1
    assert value(after, "rewind_sessions_authenticated") == 2
    assert delta("rewind_registrations_total", result="ok") == 2
    assert delta("rewind_registrations_total", result="failed") == 1
    assert delta("rewind_logins_total", result="ok") == 2
    assert delta("rewind_logins_total", result="failed") == 1
    assert delta("rewind_messages_committed_total") == 1
    assert delta("rewind_events_delivered_total") >= 2  # the message, to alice and to bob
    assert delta("rewind_requests_total", type="chat") >= 1
    assert delta("rewind_requests_total", type="auth") >= 2
    assert delta("rewind_requests_total", type="heartbeat") >= 2
    assert delta("rewind_errors_total", code="malformed_frame") == 1
    assert delta("rewind_errors_total", code="invalid_credentials") == 1
    assert delta("rewind_errors_total", code="invalid_name") == 1
    assert delta("rewind_closes_total", code="4101") == 1
    if not ON_POSTGRES:  # the commit histograms are SQLite's group commit
        assert delta("rewind_commit_batch_size_count") >= 1
        assert delta("rewind_commit_seconds_count") >= 1
    assert delta("rewind_mail_queued_total") == 2
    smtp.mailbox.wait_for("bob@example.test")
    assert value(after, "rewind_mail_total", result="failed") == 0
    assert value(after, "rewind_storage_write_failures_total") == 0
    assert value(after, "rewind_wal_checkpoints_total", result="failed") == 0
    # A few writes stay far below the checkpoint threshold (4,000 pages).
    assert value(after, "rewind_wal_checkpoint_seconds_count") == 0
    assert value(after, "rewind_wal_checkpoints_in_commit_total") == 0
    assert value(after, "rewind_storage_up") == 1
    assert any(name == "rewind_build_info" for name, _ in after)

    # Closed label sets: known label names only, and never a user's id, name or address.
    for name, labels in after:
        assert name.startswith("rewind_"), name
        for label, v in labels:
            assert label in ALLOWED_LABELS, (name, labels)
            for secret in ("alice", "bob", str(alice_id), str(bob_id), "example.test",
                           "127.0.0.1", alice_token):
                assert secret not in v, (name, labels)
    # The same series as before the traffic: nothing grew a label value.
    assert set(after) == set(before)
    assert len(after) < 400
    assert alice_token not in text and "alice" not in text

    alice.close()
    bob.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        _, s = scrape(admin)
        if value(s, "rewind_connections_open", protocol="v1") == 0 and \
                value(s, "rewind_connections_open", protocol="v2") == 0 and \
                value(s, "rewind_sessions_authenticated") == 0:
            break
        time.sleep(0.05)
    assert value(s, "rewind_connections_open", protocol="v1") == 0
    assert value(s, "rewind_connections_open", protocol="v2") == 0
    assert value(s, "rewind_sessions_authenticated") == 0
    assert value(s, "rewind_send_queue_bytes") == 0


def test_the_admin_and_public_listeners_serve_apart(start_server, smtp, test_ca):
    server, admin = start_with_admin(start_server, smtp, test_ca)
    admin_base = f"http://127.0.0.1:{admin}"
    # The public port has no /metrics; the admin port has no API, web client or WebSocket.
    assert requests.get(server.base + "/metrics", timeout=5).status_code == 404
    assert requests.get(server.base + "/api/v1/about", timeout=5).status_code == 200
    for path in ("/", "/api/v1/about", "/index.html", "/app.js"):
        assert requests.get(admin_base + path, timeout=5).status_code == 404, path
    r = requests.post(admin_base + "/api/v1/auth/login",
                      data={"email": "a@example.test", "password": "password123"}, timeout=5)
    assert r.status_code == 404
    with pytest.raises(websocket.WebSocketBadStatusException):
        websocket.create_connection(f"ws://127.0.0.1:{admin}/ws", timeout=5)
    assert requests.get(admin_base + "/healthz", timeout=5).status_code == 200
    r = requests.get(admin_base + "/readyz", timeout=5)
    assert r.status_code == 200 and r.text == "ready\n"
    assert requests.post(admin_base + "/metrics", timeout=5).status_code == 405


def test_without_admin_port_there_is_no_admin_listener(start_server):
    server = start_server()
    assert "admin listener" not in server.read_log().decode()
    assert requests.get(server.base + "/metrics", timeout=5).status_code == 404


def test_a_real_prometheus_scrapes_the_admin_listener(start_server, smtp, test_ca, tmp_path):
    prometheus = shutil.which("prometheus")
    if not prometheus:
        pytest.skip("prometheus is not installed (scripts/install-deps --test)")
    server, admin = start_with_admin(start_server, smtp, test_ca)
    # A known workload: three failed logins, which Prometheus must report exactly.
    for _ in range(3):
        assert login(server, "nobody@example.test", "password123").status_code == 401
    web = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: rewind\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{admin}']\n")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{web}"], stdout=log, stderr=log, cwd=tmp_path)
    api = f"http://127.0.0.1:{web}/api/v1"
    try:
        deadline = time.time() + 40
        health, series = None, []
        while time.time() < deadline:
            try:
                targets = requests.get(api + "/targets", timeout=2).json()["data"]["activeTargets"]
                health = targets[0]["health"] if targets else None
                if health == "up":
                    q = requests.get(api + "/query", params={"query": "rewind_build_info"},
                                     timeout=2).json()
                    series = q["data"]["result"]
                    if series:
                        break
            except (requests.ConnectionError, requests.Timeout, ValueError, KeyError):
                pass
            if proc.poll() is not None:
                break
            time.sleep(0.25)
        assert health == "up", (tmp_path / "prometheus.log").read_text()
        assert series and series[0]["metric"]["job"] == "rewind"
        q = requests.get(api + "/query", params={"query": "rewind_connections_open"},
                         timeout=2).json()
        assert {s["metric"]["protocol"] for s in q["data"]["result"]} == {"v1", "v2"}
        q = requests.get(api + "/query",
                         params={"query": 'rewind_logins_total{result="failed"}'},
                         timeout=2).json()
        assert [float(s["value"][1]) for s in q["data"]["result"]] == [3.0], q
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("args,env,name", [
    (["--admin-port", "9", "--admin-listen", "bogus"], {}, "--admin-listen"),
    ([], {"REWIND_ADMIN_PORT": "9", "REWIND_ADMIN_LISTEN": "host:1"}, "REWIND_ADMIN_LISTEN"),
    (["--port", "18080", "--admin-port", "18080"], {}, "--admin-port"),
    ([], {"REWIND_ADMIN_PORT": "metrics"}, "REWIND_ADMIN_PORT"),
])
def test_a_bad_admin_setting_stops_startup_naming_it(tmp_path, args, env, name):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("REWIND_")}
    full_env.update(env)
    p = subprocess.run([SERVER_BIN, "--data-dir", str(tmp_path / "d")] + args,
                       capture_output=True, text=True, env=full_env, timeout=10)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0], p.stderr


def test_the_admin_port_comes_from_the_environment_and_a_taken_one_stops_startup(start_server):
    admin = free_port()
    server = start_server(env={"REWIND_ADMIN_PORT": str(admin)})
    assert f"admin listener (/metrics, /healthz, /readyz) on http://127.0.0.1:{admin}" in \
        server.read_log().decode()
    assert requests.get(f"http://127.0.0.1:{admin}/metrics", timeout=5).status_code == 200
    with pytest.raises(RuntimeError, match="--admin-port"):
        start_server(args=["--admin-port", str(admin)])


def wait_for_metric(admin, predicate, timeout=5):
    deadline = time.time() + timeout
    while True:
        _, samples = scrape(admin)
        if predicate(samples) or time.time() > deadline:
            return samples
        time.sleep(0.05)


def test_closes_beast_sends_on_a_protocol_error_are_counted_by_code(start_server):
    admin = free_port()
    server = start_server(args=["--admin-port", str(admin), "--max-message-bytes", "1024"])
    _, before = scrape(admin)
    too_big = RawWs(server.port)
    too_big.frame(OP_TEXT, "x" * 2000)
    assert too_big.close_code() == 1009
    bad_bits = RawWs(server.port)
    bad_bits.frame(OP_TEXT, '{"type":"heartbeat"}', rsv=1)
    assert bad_bits.close_code() == 1002
    bad_text = RawWs(server.port)
    bad_text.frame(OP_TEXT, b"\xff\xfe")
    assert bad_text.close_code() == 1007
    for ws in (too_big, bad_bits, bad_text):
        ws.close()
    delta = lambda s, code: value(s, "rewind_closes_total", code=code) - \
        value(before, "rewind_closes_total", code=code)
    after = wait_for_metric(admin, lambda s: all(delta(s, c) == 1 for c in ("1009", "1002", "1007")))
    assert [delta(after, c) for c in ("1009", "1002", "1007")] == [1, 1, 1]
    assert delta(after, "other") == 0
    # The access log names them as the server's closes, not as 1006 (no close frame).
    deadline = time.time() + 5
    while True:
        log = server.read_log().decode(errors="replace")
        found = [c for c in ("1009", "1002", "1007") if f'close_code={c} close_by="server"' in log]
        if len(found) == 3 or time.time() > deadline:
            break
        time.sleep(0.05)
    assert found == ["1009", "1002", "1007"], log[-2000:]


CLUSTER_SERIES = [
    "rewind_broker_published_total", "rewind_broker_received_total",
    "rewind_cluster_published_total", "rewind_cluster_received_total",
    "rewind_cluster_own_echoes_total", "rewind_cluster_unwatched_total",
    "rewind_cluster_delivered_total",
    "rewind_cluster_remote_changes_total", "rewind_cluster_reloads_total",
    "rewind_cluster_directory_gaps_total",
    "rewind_cluster_sequencer_delivered_total", "rewind_cluster_sequencer_duplicates_total",
    "rewind_cluster_sequencer_held_total", "rewind_cluster_sequencer_held_dropped_total",
    "rewind_cluster_sequencer_unsequenced_total", "rewind_cluster_sequencer_fills_total",
    "rewind_cluster_sequencer_filled_total", "rewind_cluster_sequencer_sweeps_total",
    "rewind_cluster_sequencer_fill_failures_total", "rewind_cluster_sequencer_early_total",
    "rewind_cluster_sequencer_streams",
    "rewind_cluster_limits_batches_sent_total", "rewind_cluster_limits_batches_received_total",
    "rewind_cluster_limits_malformed_total", "rewind_cluster_limits_syncs_skipped_total",
    "rewind_cluster_limits_nodes_expired_total", "rewind_cluster_limits_peers",
]


def test_a_node_on_redis_exports_what_the_cluster_code_counts(start_server, smtp, test_ca,
                                                                tmp_path):
    redis = os.path.join(ROOT, "tests", "scripts", "redis-server")
    redis_dir = str(tmp_path / "redis")
    url = subprocess.run([redis, "start", redis_dir], capture_output=True, text=True, check=True,
                         timeout=30).stdout.strip()
    try:
        admin = free_port()
        start_server.ca[0] = test_ca["ca"]
        server = start_server(smtp=smtp, args=["--admin-port", str(admin), "--redis-url", url])
        # The first link up reloads the directory (on a pool thread, just after).
        before = wait_for_metric(admin, lambda s: value(s, "rewind_broker_up") == 1 and
                                 value(s, "rewind_cluster_reloads_total") == 1)
        assert value(before, "rewind_broker_up") == 1
        assert value(before, "rewind_cluster_reloads_total") == 1
        for name in CLUSTER_SERIES:
            assert (name, ()) in before, name
        assert value(before, "rewind_cluster_limits_peers") == 0  # no other node

        subprocess.run([redis, "stop", redis_dir], check=True, timeout=30)
        down = wait_for_metric(admin, lambda s: value(s, "rewind_broker_up") == 0)
        assert value(down, "rewind_broker_up") == 0
        # A sign-up's directory change is published for the other nodes: dropped while
        # Redis is away.
        create_user(server, smtp.mailbox, "alice")
        after = wait_for_metric(
            admin, lambda s: value(s, "rewind_broker_dropped_total") >
            value(down, "rewind_broker_dropped_total") and
            value(s, "rewind_cluster_limits_syncs_skipped_total") >
            value(down, "rewind_cluster_limits_syncs_skipped_total"))
        assert value(after, "rewind_broker_dropped_total") > \
            value(down, "rewind_broker_dropped_total")
        assert value(after, "rewind_cluster_limits_syncs_skipped_total") > \
            value(down, "rewind_cluster_limits_syncs_skipped_total")
        for name, labels in after:
            if name.startswith(("rewind_cluster_", "rewind_broker_")):
                assert labels == (), (name, labels)
    finally:
        subprocess.run([redis, "stop", redis_dir], timeout=30)
