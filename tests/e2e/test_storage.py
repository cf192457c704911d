"""The data directory and the database under operational trouble: a second server on the same
directory, a full disk, and growth over time (expired and used rows pruned)."""
import base64
import errno
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import SERVER_BIN, Client, create_user, login, register


def run_second_server(data_dir, timeout=20):
    """Starts rewind-server on data_dir and waits for it to exit (it should refuse to start)."""
    return subprocess.run([SERVER_BIN, "--data-dir", str(data_dir), "--port", "0"],
                          capture_output=True, text=True, timeout=timeout)


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


def befriend(server, a_token, b_token, b_name):
    a, b = Client(server), Client(server)
    a.handshake(a_token)
    b.handshake(b_token)
    a.send("mutual_users", {"type": "request", "name": b_name})
    assert a.recv_type("ok")["type"] == "ok"
    b.send("mutual_users", {"type": "response", "name": a.auth_payload["self_user"]["name"]})
    assert b.recv_type("ok")["type"] == "ok"
    a.close()
    b.close()


def storage_lines(server):
    log = server.read_log().decode(errors="replace").splitlines()
    return ([line for line in log if " error " in line and "storage write" in line],
            [line for line in log if "storage writable again" in line])


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
    errors, recoveries = storage_lines(server)
    assert len(errors) == 1, errors  # 23 refusals, one line
    assert "database or disk is full (SQLITE_FULL)" in errors[0], errors[0]
    assert not recoveries

    # Past the 10 s interval, the next refusal brings one more line with the count meanwhile.
    time.sleep(max(0.0, started + 10.5 - time.time()))
    send_refused(20)
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
    alice.send("chat", {"type": "send", "chat_id": chat_id, "content": "after"})
    assert alice.recv_type("chat")["payload"]["content"] == "after"
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
