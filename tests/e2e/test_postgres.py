"""PostgreSQL as the store, under trouble that only a database server has: the server goes away
for a while (a restart) while clients send. Runs when REWIND_TEST_DATABASE_URL and
REWIND_TEST_PG_DIR name a throw-away cluster (tests/scripts/postgres-cluster)."""
import threading
import time

import pytest

from conftest import (ON_POSTGRES, PG_DIR, Client, ConnectionClosed, befriend, create_user,
                      pg_cluster)
from test_reliability import history

pytestmark = pytest.mark.skipif(not (ON_POSTGRES and PG_DIR),
                                reason="needs REWIND_TEST_DATABASE_URL and REWIND_TEST_PG_DIR")


class Sender(threading.Thread):
    """Sends numbered messages one at a time until stopped. Each is either acknowledged (its
    echo) or refused with 5031; anything else is an error."""

    def __init__(self, server, token, name, chat_id):
        super().__init__(daemon=True)
        self.server, self.token, self.name, self.chat_id = server, token, name, chat_id
        self.acked, self.refused, self.other = set(), set(), []
        self.stop = False
        self.error = None

    def run(self):
        try:
            c = Client(self.server, timeout=5)
            c.handshake(self.token)
            n = 0
            while not self.stop:
                content = f"{self.name}:{n}"
                c.send("chat", {"type": "send", "chat_id": self.chat_id, "content": content})
                while True:
                    # A batch in doubt is answered once the database is back: wait past the
                    # outage.
                    f = c.recv(40)
                    if f["type"] == "chat" and f["payload"]["content"] == content:
                        self.acked.add(n)
                        break
                    if f["type"] == "error":
                        if f["payload"]["code"] == "5031":
                            self.refused.add(n)
                        else:
                            self.other.append(f)
                        break
                n += 1
                if self.refused and n - 1 in self.refused:
                    time.sleep(0.05)  # as a client would before trying again
            c.close()
        except (ConnectionClosed, OSError, Exception) as e:  # noqa: BLE001 - reported by the test
            self.error = e


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
    senders = [Sender(server, users[i][0], f"p{i}", chats[i]) for i in range(len(users))]
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
            stored = {int(x.split(":")[1]) for x in contents if x.startswith(s.name + ":")}
            lost += len(s.acked - stored)
            stored_refused += len(s.refused & stored)
    log = server.read_log().decode(errors="replace")
    print(f"\ndatabase restart ({up_at - down_at:.1f} s down): {acked} acknowledged, "
          f"{refused} refused with 5031, {lost} lost, {dup} duplicated, "
          f"{stored_refused} refused yet stored")
    assert refused > 0, "no send was refused while the database was down"
    assert lost == 0 and dup == 0 and stored_refused == 0
    # Every sender got through again after the restart: the store reconnected by itself.
    assert all(max(s.acked) > max(s.refused) for s in senders), [
        (max(s.acked), max(s.refused)) for s in senders]
    assert "storage writable again" in log
    assert "rewind_test:***@" in log  # the URL is logged without its password
    assert "rewind_test:rewind_test@" not in log  # the password never reaches the log
