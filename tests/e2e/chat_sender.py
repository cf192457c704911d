"""ChatSender: a thread that sends numbered messages one at a time until stopped, for the tests
that break something (a database restart, a node killed, a backup taken) while people chat.
Each message is acknowledged (its echo), refused with 5031 (the store cannot write) or
answered with another error, which the test reports. It waits past an outage for an answer:
a batch in doubt is answered once the database is back. Not a conftest: the cluster suite
loads it by path, where "conftest" is its own."""
import threading
import time

import websocket


class ChatSender(threading.Thread):
    HEARTBEAT_S = 10

    def __init__(self, connect, chat_id, prefix, answer_timeout=40):
        """connect() returns a Client that has completed its handshake; messages read
        "<prefix>:<n>" for n = 0, 1, 2, ..."""
        super().__init__(daemon=True)
        self.connect, self.chat_id, self.prefix = connect, chat_id, prefix
        self.answer_timeout = answer_timeout
        self.acked, self.refused, self.other = set(), set(), []
        self.acked_at = {}  # number -> time.monotonic() of its echo
        self.longest_wait = 0.0  # seconds from a send to its answer, the longest seen
        self.stop = False
        self.error = None

    def run(self):
        try:
            c = self.connect()
            last_heartbeat = time.monotonic()

            def keep_alive():
                # As the app does: the server closes a connection silent for 45 s (4100), and
                # an answer held through an outage can take most of that.
                nonlocal last_heartbeat
                if time.monotonic() - last_heartbeat >= self.HEARTBEAT_S:
                    c.send("heartbeat", {"count": 0})
                    last_heartbeat = time.monotonic()

            n = 0
            while not self.stop:
                content = f"{self.prefix}:{n}"
                keep_alive()
                c.send("chat", {"type": "send", "chat_id": self.chat_id, "content": content})
                sent_at = time.monotonic()
                deadline = sent_at + self.answer_timeout
                while True:
                    keep_alive()
                    left = deadline - time.monotonic()
                    try:
                        f = c.recv(max(0.01, min(1.0, left)))
                    except websocket.WebSocketTimeoutException:
                        if left <= 0:
                            raise
                        continue
                    if f["type"] == "chat" and f["payload"]["content"] == content:
                        self.acked.add(n)
                        self.acked_at[n] = time.monotonic()
                        break
                    if f["type"] == "error":
                        if f["payload"]["code"] == "5031":
                            self.refused.add(n)
                            time.sleep(0.05)  # as a client would before trying again
                        else:
                            self.other.append(f)
                        break
                self.longest_wait = max(self.longest_wait, time.monotonic() - sent_at)
                n += 1
            c.close()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
