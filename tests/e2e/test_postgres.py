"""PostgreSQL as the store, under trouble that only a database server has: the server goes away
for a while (a restart) while clients send. Runs when REWIND_TEST_DATABASE_URL and
REWIND_TEST_PG_DIR name a throw-away cluster (tests/scripts/postgres-cluster)."""
import time

import pytest

from chat_sender import ChatSender
from conftest import ON_POSTGRES, PG_DIR, Client, befriend, create_user, pg_cluster
from test_reliability import history

pytestmark = pytest.mark.skipif(not (ON_POSTGRES and PG_DIR),
                                reason="needs REWIND_TEST_DATABASE_URL and REWIND_TEST_PG_DIR")


def connected(server, token):
    c = Client(server, timeout=5)
    c.handshake(token)
    return c


def test_database_restart_refuses_sends_with_5031_and_loses_or_duplicates_nothing(
        start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(smtp=smtp)
    users = [create_user(server, smtp.mailbox, f"p{i}") for i in range(6)]
    chats = {}
    for i in range(0, len(users), 2):
        (ta, ia), (tb, ib) = users[i], users[i + 1]
        befriend(server, ta, tb, f"p{i + 1}")
        chats[i] = chats[i + 1] = str(int(ia) ^ int(ib))
    senders = [ChatSender(lambda token=users[i][0]: connected(server, token), chats[i], f"p{i}")
               for i in range(len(users))]
    for s in senders:
        s.start()
    time.sleep(2)
    down_at = time.time()
    pg_cluster("stop")
    time.sleep(10)
    pg_cluster("start")
    up_at = time.time()
    time.sleep(4)  # long enough for the store to reconnect and the senders to get through
    for s in senders:
        s.stop = True
    for s in senders:
        s.join(60)
    for s in senders:
        assert s.error is None, s.error
        assert not s.other, s.other[:3]
    acked = sum(len(s.acked) for s in senders)
    refused = sum(len(s.refused) for s in senders)
    lost = dup = stored_refused = 0
    for i in range(0, len(users), 2):
        contents = [m["content"] for m in history(server, users[i][0], chats[i])]
        dup += len(contents) - len(set(contents))
        for s in (senders[i], senders[i + 1]):
            stored = {int(x.split(":")[1]) for x in contents if x.startswith(s.prefix + ":")}
            lost += len(s.acked - stored)
            stored_refused += len(s.refused & stored)
    log = server.read_log().decode(errors="replace")
    print(f"\ndatabase restart ({up_at - down_at:.1f} s down): {acked} acknowledged, "
          f"{refused} refused with 5031, {lost} lost, {dup} duplicated, "
          f"{stored_refused} refused yet stored; longest wait for an answer "
          f"{max(s.longest_wait for s in senders):.1f} s")
    assert refused > 0, "no send was refused while the database was down"
    assert lost == 0 and dup == 0 and stored_refused == 0
    # Every sender got through again after the restart: the store reconnected by itself.
    assert all(max(s.acked) > max(s.refused) for s in senders), [
        (max(s.acked), max(s.refused)) for s in senders]
    assert "storage writable again" in log
    assert "rewind_test:***@" in log  # the URL is logged without its password
    assert "rewind_test:rewind_test@" not in log  # the password never reaches the log
