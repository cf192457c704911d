"""Worker ids on PostgreSQL: a server started without --worker-id leases a free one from the
database, and an id a running server holds is refused at start. Runs when
REWIND_TEST_DATABASE_URL names a throw-away cluster (tests/scripts/postgres-cluster)."""
import os
import subprocess

import pytest
import requests

from conftest import FAST_ARGS, ON_POSTGRES, SERVER_BIN, database_for

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="needs REWIND_TEST_DATABASE_URL")


def node_id(server):
    return requests.get(server.base + "/readyz", timeout=5).headers["X-Rewind-Node"]


def test_servers_without_worker_id_lease_different_ids_and_a_held_id_is_refused(
        start_server, tmp_path):
    env = {"REWIND_DATABASE_URL": database_for(tmp_path / "shared")}
    a = start_server(data_dir=tmp_path / "a", env=env)
    b = start_server(data_dir=tmp_path / "b", env=env)
    ids = [node_id(a), node_id(b)]
    assert ids[0] != ids[1]
    assert b"(leased)" in a.read_log()

    # The id a running server holds: refused with one line naming it, before listening.
    r = subprocess.run([SERVER_BIN, "--data-dir", str(tmp_path / "c"), "--listen", "127.0.0.1",
                        "--port", "0", "--worker-id", ids[0]] + FAST_ARGS,
                       env=dict(os.environ, **env), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    lines = [line for line in (r.stdout + r.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert (f"--worker-id {ids[0]} is held by another running process on this database"
            in lines[0]), lines

    # Released at a clean stop: the same id is free again.
    assert a.stop() == 0
    c = start_server(data_dir=tmp_path / "c", env=env, args=["--worker-id", ids[0]])
    assert node_id(c) == ids[0]
