"""The data directory and the database under operational trouble: a second server on the same
directory, a full disk, and growth over time (expired and used rows pruned)."""
import base64
import errno
import os
import re
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import (ON_POSTGRES, SERVER_BIN, Client, befriend, create_user, database_for,
                      login, psql, register)

# On PostgreSQL the data directory is not locked (processes share the database; each leases
# its worker id instead) and the disk that fills up is the database server's.
no_dir_lock_on_postgres = pytest.mark.skipif(
    ON_POSTGRES, reason="SQLite only: on PostgreSQL the data directory is not locked")


def run_second_server(data_dir, timeout=20):
    """Starts rewind-server on data_dir and waits for it to exit (it should refuse to start)."""
    return subprocess.run([SERVER_BIN, "--data-dir", str(data_dir), "--port", "0"],
                          capture_output=True, text=True, timeout=timeout)


@no_dir_lock_on_postgres
def test_a_second_server_on_the_same_data_directory_is_refused(start_server, tmp_path):
    data = tmp_path / "shared"
    first = start_server(data_dir=data)
    with open(data / "rewind.lock") as f:
        assert f.read().strip() == str(first.proc.pid)

    second = run_second_server(data)
    assert second.returncode != 0
    output = (second.stdout + second.stderr).strip()
    assert len(output.splitlines()) == 1, output
    assert str(data) in output and f"pid {first.proc.pid}" in output, output
    assert "listening" not in output
    # The first one still serves.
    assert Client(first).ws.connected


@no_dir_lock_on_postgres
def test_a_lock_left_by_a_killed_server_does_not_block_a_restart(start_server, tmp_path):
    data = tmp_path / "shared"
    first = start_server(data_dir=data)
    old_pid = first.proc.pid
    first.kill9()
    assert os.path.exists(data / "rewind.lock")  # the file stays; its lock died with the process
    first.start()
    assert first.proc.pid != old_pid
    with open(data / "rewind.lock") as f:
        assert f.read().strip() == str(first.proc.pid)
    c = Client(first)
    c.send("heartbeat", {"n": 1})
    assert c.recv()["payload"] == {"n": 1}
    c.close()
    # And the restarted one holds the lock in its turn.
    second = run_second_server(data)
    assert second.returncode != 0 and f"pid {first.proc.pid}" in second.stderr + second.stdout


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 4 MiB tmpfs to fill up (the tests run as root). Skips where mounting is not allowed."""
    d = tmp_path / "tmpfs"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {(r.stderr or r.stdout).strip()}")
    yield d
    subprocess.run(["umount", "-l", str(d)], capture_output=True)


def fill(directory):
    """Writes a filler file until the file system is full; returns its path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    chunk = b"\0" * 4096
    try:
        while True:
            os.write(fd, chunk)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return path




def storage_lines(server):
    log = server.read_log().decode(errors="replace").splitlines()
    return ([line for line in log if " error " in line and "storage write" in line],
            [line for line in log if "storage writable again" in line])


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: its counterpart on PostgreSQL is "
                    "test_postgres.py's restart of the database server")
def test_a_full_disk_refuses_writes_with_5031_logs_them_rate_limited_and_recovers(
        small_tmpfs, start_server, smtp, test_ca, tmp_path):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(smtp=smtp, data_dir=small_tmpfs, log_dir=tmp_path / "log")
    a_token, a_id = create_user(server, smtp.mailbox, "alice")
    b_token, b_id = create_user(server, smtp.mailbox, "bob")
    create_user(server, smtp.mailbox, "carol")
    befriend(server, a_token, b_token, "bob")
    chat_id = str(int(a_id) ^ int(b_id))
    alice = Client(server)
    alice.handshake(a_token)
    alice.send("chat", {"type": "send", "chat_id": chat_id, "content": "before"})
    assert alice.recv_type("chat")["payload"]["content"] == "before"
    time.sleep(0.5)  # the outbox marks the last verification mail sent

    filler = fill(small_tmpfs)
    started = time.time()

    def send_refused(count):
        for i in range(count):
            alice.send("chat", {"type": "send", "chat_id": chat_id, "content": f"lost {i}"})
            f = alice.recv()
            assert f["type"] == "error" and f["payload"]["code"] == "5031", f
            assert "SQLITE" not in f["payload"]["reason"]  # the cause is for the log

    send_refused(20)
    alice.send("mutual_users", {"type": "request", "name": "carol"})
    f = alice.recv()
    assert f["type"] == "error" and f["payload"]["code"] == "5031", f
    r = register(server, "dave", "dave@example.test")
    assert r.status_code == 503 and r.json()["payload"]["code"] == "storage_unavailable", r.text
    r = login(server, "bob@example.test")
    assert r.status_code == 503 and r.json()["payload"]["code"] == "storage_unavailable", r.text
    # Not ready while the disk refuses writes: a proxy sends new clients elsewhere.
    r = requests.get(server.base + "/readyz", timeout=5)
    assert r.status_code == 503 and r.text == "not ready\nstore: cannot write\n", r.text
    errors, recoveries = storage_lines(server)
    assert len(errors) == 1, errors  # 23 refusals, one line
    assert "database or disk is full (SQLITE_FULL)" in errors[0], errors[0]
    assert not recoveries

    # Past the 10 s interval, the next refusal brings one more line with the count meanwhile.
    time.sleep(max(0.0, started + 10.5 - time.time()))
    send_refused(20)
    errors, recoveries = storage_lines(server)
    # The interval runs from the first refusal, which a loaded machine may have delayed past
    # `started`, and the log is written by its own thread: refuse a little more, and look
    # again, until the line is there (bounded).
    deadline = time.time() + 10
    while len(errors) < 2 and time.time() < deadline:
        send_refused(1)
        time.sleep(0.2)
        errors, recoveries = storage_lines(server)
    assert len(errors) == 2, errors
    m = re.search(r"storage writes still failing: (\d+) refused in the last [\d.]+ s "
                  r"\((\d+) since the outage began", errors[1])
    assert m and int(m.group(1)) >= 23 and int(m.group(2)) >= 24, errors[1]
    assert "SQLITE_FULL" in errors[1]
    refused = 43
    print(f"\n{refused} writes refused over {time.time() - started:.1f} s -> {len(errors)} lines:")
    print("\n".join(errors))

    os.remove(filler)
    assert requests.get(server.base + "/readyz", timeout=5).status_code == 503  # no write yet
    alice.send("chat", {"type": "send", "chat_id": chat_id, "content": "after"})
    assert alice.recv_type("chat")["payload"]["content"] == "after"
    assert requests.get(server.base + "/readyz", timeout=5).status_code == 200
    errors, recoveries = storage_lines(server)
    assert len(recoveries) == 1, recoveries
    m = re.search(r"storage writable again after (\d+) failed writes", recoveries[0])
    assert m and int(m.group(1)) >= refused, recoveries[0]
    print(recoveries[0])
    assert register(server, "dave", "dave@example.test").status_code == 201
    assert login(server, "bob@example.test").status_code == 201
    alice.send("mutual_users", {"type": "request", "name": "carol"})
    assert alice.recv_type("ok")["type"] == "ok"
    # Nothing refused was stored.
    alice.send("load", {"type": "chat", "load_id": chat_id, "count": 100,
                        "datetime": base64.b64encode(b"2100-01-01 00:00:00.000000").decode()})
    got = [alice.recv_type("chat")["payload"]["content"] for _ in range(2)]
    assert got == ["before", "after"], got
    alice.expect_silence(0.5)
    alice.close()


def db_figures(server):
    """page_count, freelist_count and the rows of the pruned tables, read on a read-only
    connection of our own beside the running server (on PostgreSQL: the rows only)."""
    if ON_POSTGRES:
        rows = psql("SELECT (SELECT COUNT(*) FROM tokens), (SELECT COUNT(*) FROM "
                    "pending_registrations), (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) "
                    "FROM outbox WHERE sent_us IS NULL), (SELECT COUNT(*) FROM users), "
                    "(SELECT COUNT(*) FROM tokens WHERE revoked)",
                    database_for(server.data_dir))[0]
        return dict(zip(["tokens", "pending_registrations", "outbox", "outbox_unsent", "users",
                         "revoked_tokens"], map(int, rows)))
    path = os.path.join(server.data_dir, "rewind.db")
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        one = lambda sql: con.execute(sql).fetchone()[0]
        return {
            "page_count": one("PRAGMA page_count"),
            "freelist_count": one("PRAGMA freelist_count"),
            "tokens": one("SELECT COUNT(*) FROM tokens"),
            "pending_registrations": one("SELECT COUNT(*) FROM pending_registrations"),
            "outbox": one("SELECT COUNT(*) FROM outbox"),
            "outbox_unsent": one("SELECT COUNT(*) FROM outbox WHERE sent_us IS NULL"),
            "users": one("SELECT COUNT(*) FROM users"),
            "revoked_tokens": one("SELECT COUNT(*) FROM tokens WHERE revoked"),
        }
    finally:
        con.close()


def logout(server, token, session=requests):
    return session.post(server.base + "/api/v1/auth/logout",
                        headers={"Authorization": "Bearer " + token, "Accept": "application/json"},
                        timeout=10)


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def all_pruned(figures):
    return figures["tokens"] == 0 and figures["pending_registrations"] == 0 and \
        figures["outbox"] == 0


# Short lives for the pruning tests: tokens and links live 3.6 s, sent mail stays 1.8 s, and
# the store prunes every second.
SHORT_LIVES = ["--prune-interval", "1", "--token-ttl", "0.001", "--verify-key-ttl", "0.001",
               "--sent-mail-retention", "0.0005"]


# Lives long enough that what the first steps made is still there when they are done, on a
# loaded machine too: tokens, links and sent mail 7.2 s; the store prunes every second.
LONGER_LIVES = ["--prune-interval", "1", "--token-ttl", "0.002", "--verify-key-ttl", "0.002",
                "--sent-mail-retention", "0.002"]


def test_expired_and_revoked_tokens_expired_registrations_and_old_sent_mail_are_pruned(
        start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(args=LONGER_LIVES, smtp=smtp)
    token, _ = create_user(server, smtp.mailbox, "alice")  # a token left to expire
    r = login(server, "alice@example.test")
    assert r.status_code == 201
    assert logout(server, r.json()["payload"]["token"]).status_code == 200  # a revoked token
    assert register(server, "zed", "zed@example.test").status_code == 201  # never verified
    smtp.mailbox.wait_for("zed@example.test")
    before = db_figures(server)
    # The revoked token may already be gone: the store prunes every second.
    assert before["tokens"] - before["revoked_tokens"] == 1, before
    assert before["pending_registrations"] == 1, before
    assert before["outbox"] == 2, before  # alice's and zed's mail, both sent

    # The revoked token goes at the next prune, the live one only once its time is up.
    assert wait_until(lambda: db_figures(server)["revoked_tokens"] == 0, 3), db_figures(server)
    assert db_figures(server)["tokens"] == 1, db_figures(server)
    assert wait_until(lambda: all_pruned(db_figures(server)), 15), db_figures(server)
    assert db_figures(server)["users"] == 1  # accounts are never pruned
    # The expired token and link are refused as before; a new login works.
    c = Client(server)
    c.send("heartbeat", {})
    c.recv()
    c.send("auth", {"auth": token})
    assert c.recv()["payload"]["code"] == "4000"
    c.close()
    assert login(server, "zed@example.test").status_code == 401
    assert login(server, "alice@example.test").status_code == 201


def churn(server, users, seconds, start_index):
    """Register / login / logout churn for `seconds`: every round registers a new address that is
    never verified (a pending registration and a mail), and each pool user logs in; half of
    those tokens are logged out (revoked), the other half left to expire."""
    http = requests.Session()
    i = start_index
    counts = {"registrations": 0, "logins": 0, "logouts": 0}
    deadline = time.time() + seconds
    while time.time() < deadline:
        r = http.post(server.base + "/api/v1/auth/register",
                      data={"name": f"churn{i}", "email": f"churn{i}@example.test",
                            "password": "password123"},
                      headers={"Accept": "application/json"}, timeout=10)
        assert r.status_code == 201, r.text
        counts["registrations"] += 1
        for name in users:
            r = http.post(server.base + "/api/v1/auth/login",
                          data={"email": f"{name}@example.test", "password": "password123"},
                          headers={"Accept": "application/json"}, timeout=10)
            assert r.status_code == 201, r.text
            counts["logins"] += 1
            if (i + len(name)) % 2 == 0:
                assert logout(server, r.json()["payload"]["token"], http).status_code == 200
                counts["logouts"] += 1
        i += 1
    return i, counts


def create_user_from_log(server, name):
    """Signs `name` up with mail going to the server's log (no SMTP server): the churn's mail
    must not wait for a mail server."""
    addr = f"{name}@example.test"
    assert register(server, name, addr).status_code == 201
    pattern = re.compile(rb"to <" + addr.encode() + rb">.*?(http://\S+/api/v1/auth/email_verify/"
                         rb"[A-Za-z0-9_-]+)", re.S)
    assert wait_until(lambda: pattern.search(server.read_log()), 5)
    link = pattern.search(server.read_log()).group(1).decode()
    assert requests.get(link, timeout=10).status_code == 200


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: it measures the file's pages; PostgreSQL "
                    "reclaims dead rows by autovacuum, on its own schedule")
def test_register_login_logout_churn_does_not_grow_the_database(start_server):
    """The database stops growing under churn: after a warm-up longer than the lives above, a
    second period of the same churn adds no pages. REWIND_CHURN_SECONDS sets each period."""
    seconds = float(os.environ.get("REWIND_CHURN_SECONDS", "8"))
    server = start_server(args=SHORT_LIVES)
    users = ["ann", "ben", "cat", "dan"]
    for name in users:
        create_user_from_log(server, name)
    start = db_figures(server)
    i, first = churn(server, users, seconds, 0)
    warm = db_figures(server)
    i, second = churn(server, users, seconds, i)
    end = db_figures(server)
    print(f"\nchurn, {seconds:.0f} s per period: {first} then {second}")
    for label, f in (("start", start), ("after period 1", warm), ("after period 2", end)):
        print(f"{label:>15}: {f}")
    # Steady state: what the churn adds, pruning removes, so the file holds about what the last
    # few seconds made. The churn's rate is the client's and varies with the machine's load
    # (a busy machine made 83 sign-ups in one period and 276 in the next): the second period
    # may use more pages only in proportion to a faster rate.
    rate_ratio = max(1.0, (second["registrations"] + second["logins"]) /
                     max(1, first["registrations"] + first["logins"]))
    assert end["page_count"] <= warm["page_count"] * rate_ratio * 1.05 + 8, (warm, end, rate_ratio)
    # No more rows than the last few seconds' churn made: a token lives 3.6 s, a link 3.6 s,
    # sent mail stays 1.8 s, and a prune comes within a second (2 s of slack).
    logins, registrations = second["logins"] / seconds, second["registrations"] / seconds
    assert end["tokens"] <= logins * (3.6 + 2), (end, logins)
    assert end["pending_registrations"] <= registrations * (3.6 + 2), (end, registrations)
    assert end["outbox"] <= registrations * (1.8 + 2), (end, registrations)
    # Once the churn stops, every row it made goes.
    assert wait_until(lambda: all_pruned(db_figures(server)), 12), db_figures(server)
    final = db_figures(server)
    print(f"{'quiet 12 s':>15}: {final}")
    assert final["users"] == len(users)
