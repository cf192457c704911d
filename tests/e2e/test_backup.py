"""`rewind-server backup`: a consistent copy of a running server's SQLite store, and a restore
(stop, replace the file, start) that brings back every message acknowledged before the copy
began."""
import glob
import os
import sqlite3
import subprocess
import time

import pytest

from chat_sender import ChatSender
from conftest import ON_POSTGRES, SERVER_BIN, Client, befriend, create_user
from test_reliability import history

sqlite_only = pytest.mark.skipif(
    ON_POSTGRES, reason="SQLite only: PostgreSQL is backed up with pg_dump")


def backup(data_dir, to, env=None):
    return subprocess.run([SERVER_BIN, "backup", "--data-dir", str(data_dir), "--to", str(to)],
                          capture_output=True, text=True, timeout=120, env=env)


def two_friends(server, mailbox):
    (ta, ia), (tb, ib) = (create_user(server, mailbox, "ann"), create_user(server, mailbox, "bob"))
    befriend(server, ta, tb, "bob")
    return ta, str(int(ia) ^ int(ib))


@sqlite_only
def test_backup_of_a_running_server_restores_every_message_acknowledged_before_it(
        start_server, smtp, test_ca, tmp_path):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(smtp=smtp)
    token, chat = two_friends(server, smtp.mailbox)
    def connect():
        c = Client(server, timeout=10)
        c.handshake(token)
        return c

    sender = ChatSender(connect, chat, "m", answer_timeout=10)
    sender.start()
    while len(sender.acked) < 200:  # the server is busy writing when the copy starts
        assert sender.error is None, sender.error
        time.sleep(0.05)
    began = time.monotonic()
    copy = tmp_path / "copy.db"
    r = backup(server.data_dir, copy)
    ended = time.monotonic()
    time.sleep(0.3)  # and keeps writing after it
    sender.stop = True
    sender.join(30)
    assert sender.error is None, sender.error
    assert not sender.other and not sender.refused, (sender.other[:3], len(sender.refused))
    assert r.returncode == 0, r.stderr
    assert "backed up" in r.stdout and str(copy) in r.stdout
    assert not glob.glob(str(copy) + ".partial*")
    before = {n for n, t in sender.acked_at.items() if t < began}
    after = {n for n, t in sender.acked_at.items() if t > ended}
    assert len(before) >= 200 and after, (len(before), len(after))

    # The copy is one self-contained, valid database (no WAL beside it).
    db = sqlite3.connect(copy)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()

    # Restore: stop, replace the database (and its WAL), start.
    server.stop()
    data = server.data_dir
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{data}/rewind.db{suffix}"):
            os.remove(f"{data}/rewind.db{suffix}")
    os.replace(copy, f"{data}/rewind.db")
    server.start()
    restored = [m["content"] for m in history(server, token, chat)]
    numbers = [int(c.split(":")[1]) for c in restored]
    assert numbers == sorted(set(numbers)), "duplicated or out of order"
    assert before <= set(numbers), f"lost: {sorted(before - set(numbers))[:10]}"
    # The copy is one instant: a prefix of what was acknowledged, with no hole in it.
    assert set(numbers) == set(range(len(numbers)))
    assert not (after & set(numbers)), "a message acknowledged after the copy ended is in it"
    print(f"\nbackup: {len(before)} messages acknowledged before the copy, "
          f"{len(numbers)} restored, {len(after)} after it (not in the copy)")
    # The restored server goes on as usual: the token and the friendship came back too.
    c = Client(server)
    c.handshake(token)
    c.send("chat", {"type": "send", "chat_id": chat, "content": "after restore"})
    assert c.recv_type("chat")["payload"]["content"] == "after restore"
    c.close()


@sqlite_only
def test_backup_of_a_stopped_server_works_and_its_copy_starts_a_server(start_server, smtp,
                                                                      test_ca, tmp_path):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(smtp=smtp)
    token, chat = two_friends(server, smtp.mailbox)
    c = Client(server)
    c.handshake(token)
    c.send("chat", {"type": "send", "chat_id": chat, "content": "kept"})
    assert c.recv_type("chat")["payload"]["content"] == "kept"
    c.close()
    server.stop()
    r = backup(server.data_dir, tmp_path / "copy.db")
    assert r.returncode == 0, r.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    os.replace(tmp_path / "copy.db", fresh / "rewind.db")
    other = start_server(data_dir=fresh)
    assert [m["content"] for m in history(other, token, chat)] == ["kept"]


@sqlite_only
def test_backup_refuses_an_existing_file_a_missing_store_and_a_missing_target(start_server,
                                                                              tmp_path):
    server = start_server()
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"precious")
    r = backup(server.data_dir, existing)
    assert r.returncode == 1 and "exists" in r.stderr, r.stderr
    assert existing.read_bytes() == b"precious"

    r = backup(tmp_path / "nowhere", tmp_path / "x.db")
    assert r.returncode == 1 and "no database" in r.stderr, r.stderr
    assert not (tmp_path / "x.db").exists()

    r = backup(server.data_dir, tmp_path / "no" / "such" / "dir.db")
    assert r.returncode == 1 and "no directory" in r.stderr, r.stderr

    not_ours = tmp_path / "other"
    not_ours.mkdir()
    sqlite3.connect(not_ours / "rewind.db").execute("CREATE TABLE t (x)").connection.commit()
    r = backup(not_ours, tmp_path / "y.db")
    assert r.returncode == 1 and "not a REWIND database" in r.stderr, r.stderr

    r = subprocess.run([SERVER_BIN, "backup", "--data-dir", str(server.data_dir)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--to" in r.stderr, r.stderr


def test_backup_on_postgresql_points_to_pg_dump(tmp_path):
    env = dict(os.environ, REWIND_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    r = backup(tmp_path, tmp_path / "x.db", env=env)
    assert r.returncode == 2 and "pg_dump" in r.stderr, r.stderr
    assert not (tmp_path / "x.db").exists()
