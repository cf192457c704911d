"""The data directory and the database under operational trouble: a second server on the same
directory, a full disk, and growth over time (expired and used rows pruned)."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import SERVER_BIN, Client, create_user


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
