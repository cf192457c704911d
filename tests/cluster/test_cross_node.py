"""Everything a user does works whichever nodes the people involved are connected to: direct
messages with edits and deletions, friend requests and answers, guilds and guild chat, several
sessions of one user on several nodes, and a logout closing the token's sessions on every
node (4108); what another node sends right after a session's auth answer arrives live (the
answer waits for Redis to confirm the node's subscriptions). Each test talks to the nodes
directly (not through the front), so which node serves whom is chosen, not left to the
balancer; each HTTP request comes from an address of its own, so the per-address limits of
the nodes never decide a result."""
import collections
import itertools
import json
import os
import re
import socket
import subprocess
import threading
import time

import requests
import websocket
from conftest import NODE_ARGS, _e2e_helpers, client_from

e2e = _e2e_helpers()
Client = e2e.Client

names = map("x{}".format, itertools.count())  # map over a count: safe from several threads
addresses = map(lambda i: f"127.0.{i // 250 + 10}.{i % 250 + 1}", itertools.count())


class Node:
    """What the end-to-end Client needs of a server: its URLs."""

    def __init__(self, url):
        self.base = url
        self.port = int(url.rsplit(":", 1)[1])

    def ws_url(self, version=None):
        return f"ws://127.0.0.1:{self.port}/ws" + (f"?v={version}" if version else "")


def node(cluster, i):
    return Node(cluster.nodes[i % len(cluster.nodes) + 1])


def post(cluster, i, path, **kw):
    with client_from(next(addresses)) as s:
        return s.post(node(cluster, i).base + path, timeout=10,
                      headers=dict({"Accept": "application/json"}, **kw.pop("headers", {})), **kw)


def login(cluster, i, email):
    return post(cluster, i, "/api/v1/auth/login", data={"email": email, "password": "password123"})


def connect(cluster, i, token, version=None):
    c = Client(node(cluster, i), version=version)
    c.handshake(token)
    return c


def user(cluster, i=0):
    """A user registered, verified and logged in through node i: (token, id, name)."""
    name = next(names)
    email = f"{name}@example.test"
    r = post(cluster, i, "/api/v1/auth/register",
             data={"name": name, "email": email, "password": "password123"})
    assert r.status_code == 201, r.text
    with client_from(next(addresses)) as s:
        r = s.get(cluster.mailbox.link_for(email), timeout=10)
    assert r.status_code == 200, r.text
    r = login(cluster, i, email)
    assert r.status_code == 201, r.text
    token = r.json()["payload"]["token"]
    c = connect(cluster, i, token)
    uid = c.auth_payload["self_user"]["id"]
    c.close()
    return token, uid, name


def befriend(cluster, i, j, a, b):
    """a (on node i) asks b (on node j), b accepts; both see the other's event."""
    ca, cb = connect(cluster, i, a[0]), connect(cluster, j, b[0])
    ca.send("mutual_users", {"type": "request", "name": b[2]})
    assert ca.recv_type("ok")["type"] == "ok"
    assert cb.recv_type("mutual_users", 10)["payload"]["type"] == "request"
    cb.send("mutual_users", {"type": "response", "name": a[2]})
    assert cb.recv_type("ok")["type"] == "ok"
    assert ca.recv_type("mutual_users", 10)["payload"]["type"] == "response"
    ca.close()
    cb.close()


def chat_id(a_id, b_id):
    return str(int(a_id) ^ int(b_id))


def test_direct_messages_reach_the_other_node_once_and_in_order(cluster):
    a, b = user(cluster, 0), user(cluster, 1)
    befriend(cluster, 0, 1, a, b)
    chat = chat_id(a[1], b[1])
    ca = connect(cluster, 0, a[0])
    cb = connect(cluster, 1, b[0])
    ca2 = connect(cluster, 2, a[0])  # the sender's second device, on a third node
    total = 50  # under the per-user chat limit (60 a minute)
    for i in range(total):
        ca.send("chat", {"type": "send", "chat_id": chat, "content": f"m{i}"})
    for who in (ca, cb, ca2):
        got = []
        while len(got) < total:
            f = who.recv(15)
            if f["type"] == "chat":
                got.append(f["payload"]["content"])
        assert got == [f"m{i}" for i in range(total)]
        who.expect_silence(0.5)  # and nothing twice


def test_an_edit_and_a_deletion_reach_the_other_node(cluster):
    a, b = user(cluster, 1), user(cluster, 2)
    befriend(cluster, 1, 2, a, b)
    chat = chat_id(a[1], b[1])
    ca = connect(cluster, 1, a[0], version=2)
    cb = connect(cluster, 2, b[0], version=2)
    ca.send("chat", {"type": "send", "chat_id": chat, "content": "first"})
    sent = cb.recv_type("chat", 10)["payload"]
    assert sent["content"] == "first"
    ca.send("chat", {"type": "edit", "chat_id": chat, "id": sent["id"],
                     "content": "second"})
    edited = cb.recv_type("chat", 10)["payload"]
    assert edited["id"] == sent["id"] and edited["content"] == "second"
    ca.send("chat", {"type": "edit", "chat_id": chat, "id": sent["id"], "content": ""})
    deleted = cb.recv_type("chat", 10)["payload"]
    assert deleted["id"] == sent["id"] and deleted["content"] == ""


def test_a_send_and_its_retry_on_two_nodes_at_once_store_one_message(cluster):
    """The same nonce sent at the same moment through two nodes (a client that retried on a
    new connection while the first was still in flight): one message is stored and announced;
    each sending is answered with it, carrying the nonce. A later retry through a third node
    is answered the same way."""
    a, b = user(cluster, 0), user(cluster, 1)
    befriend(cluster, 0, 1, a, b)
    chat = chat_id(a[1], b[1])
    cb = connect(cluster, 2, b[0], version=2)
    senders = [connect(cluster, i, a[0], version=2) for i in (0, 1)]
    frame = json.dumps({"type": "chat", "payload": {"type": "send", "chat_id": chat,
                                                    "content": "once", "nonce": "race-1"}})
    threads = [threading.Thread(target=c.send_raw, args=(frame,)) for c in senders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    def answer(c):
        """The sending's own answer: the one with the nonce (the other sending's event also
        reaches this connection, as one of a's devices, without it)."""
        while True:
            f = c.recv_type("chat", 10)
            if "nonce" in f["payload"]:
                return f["payload"]

    # One of them is the event's echo, which carries the change's seq; the other, the retry's
    # answer, shows the message as it is now, without one.
    answers = [{k: v for k, v in answer(c).items() if k != "seq"} for c in senders]
    assert answers[0] == answers[1], answers
    assert answers[0]["nonce"] == "race-1" and answers[0]["content"] == "once"
    seen = cb.recv_type("chat", 10)["payload"]
    assert seen["id"] == answers[0]["id"] and "nonce" not in seen, seen
    cb.expect_silence(1.0)  # one message, announced once
    late = connect(cluster, 2, a[0], version=2)
    late.send_raw(frame)
    assert late.recv_type("chat", 10)["payload"] == answers[0]
    cb.expect_silence(0.5)


def test_a_reconnect_to_another_node_catches_up_while_the_chat_goes_on(cluster):
    """b leaves node 1 and comes back on node 2 with its position: what a (on node 0) sent
    and edited meanwhile is replayed in order, then a's sends during and after the reconnect
    arrive live, none missing, in order."""
    a, b = user(cluster, 0), user(cluster, 1)
    befriend(cluster, 0, 1, a, b)
    chat = chat_id(a[1], b[1])
    ca = connect(cluster, 0, a[0], version=2)
    cb = connect(cluster, 1, b[0], version=2)
    ca.send("chat", {"type": "send", "chat_id": chat, "content": "seen"})
    seen = cb.recv_type("chat", 10)["payload"]
    assert ca.recv_type("chat", 10)["payload"]["content"] == "seen"  # a's own echo
    cb.close()
    for text in ("missed 1", "missed 2"):
        ca.send("chat", {"type": "send", "chat_id": chat, "content": text})
    assert ca.recv_type("chat", 10)["payload"]["content"] == "missed 1"
    assert ca.recv_type("chat", 10)["payload"]["content"] == "missed 2"
    # An edit of a message b had seen: it comes after b's position all the same. Its echo is
    # waited for, so that it is stored before b comes back (it was not, once: the edit then
    # came live after the catch-up).
    ca.send("chat", {"type": "edit", "chat_id": chat, "id": seen["id"], "content": "missed 1!"})
    assert ca.recv_type("chat", 10)["payload"]["type"] == "edit"
    stop = threading.Event()

    def keep_sending():  # under the per-user chat limit (60 a minute) with what came before
        for i in range(40):
            if stop.is_set():
                return
            ca.send("chat", {"type": "send", "chat_id": chat, "content": f"live {i}"})
            time.sleep(0.02)

    t = threading.Thread(target=keep_sending)
    t.start()
    try:
        back = Client(node(cluster, 2), version=2)
        back.send("heartbeat", {"count": 0})
        back.recv_type("heartbeat", 10)
        back.send("auth", {"auth": b[0], "since": {chat: seen["seq"]}})
        assert back.recv_type("auth", 10)["type"] == "auth"
        changes = []
        while True:
            f = back.recv(10)
            if f["type"] == "catch_up":
                break
            assert f["type"] == "chat", f
            changes.append(f["payload"])
        [entry] = f["payload"]["chats"]
        assert entry["chat_id"] == chat and not entry["reload"], entry
        assert [(m["type"], m["content"]) for m in changes[:3]] == [
            ("send", "missed 1"), ("send", "missed 2"), ("edit", "missed 1!")]
        assert [m["seq"] for m in changes] == list(range(seen["seq"] + 1, entry["seq"] + 1))
        t.join()
        live = []
        last = seen["seq"] + 3 + 40
        while entry["seq"] + len(live) < last:
            f = back.recv(10)
            # A change at or below the position was on its way when the answer left: a client
            # skips it (the documented rule).
            if f["type"] == "chat" and f["payload"]["seq"] > entry["seq"] + len(live):
                live.append(f["payload"])
        assert [m["seq"] for m in live] == list(range(entry["seq"] + 1, last + 1))
        contents = [m["content"] for m in changes[3:] + live]
        assert contents == [f"live {i}" for i in range(40)]
    finally:
        stop.set()
        t.join()


def test_typing_reaches_members_on_other_nodes(cluster):
    """Typing in a direct message and in a guild whose members are on three nodes: each other
    member's v2 connection is told once, wherever it is; the typer is not."""
    a, b, c = user(cluster, 0), user(cluster, 1), user(cluster, 2)
    befriend(cluster, 0, 1, a, b)
    befriend(cluster, 0, 2, a, c)
    ca = connect(cluster, 0, a[0], version=2)
    cb = connect(cluster, 1, b[0], version=2)
    cc = connect(cluster, 2, c[0], version=2)
    ca.send("typing", {"chat_id": chat_id(a[1], b[1])})
    assert cb.recv_type("typing", 10)["payload"] == {
        "chat_id": chat_id(a[1], b[1]), "user_id": a[1], "expires_in": 8}
    ca.send("guild", {"type": "create", "name": "crew"})
    guild = ca.recv_type("guild", 10)["payload"]["guild"]["id"]
    for who, conn in ((b, cb), (c, cc)):
        ca.send("guild", {"type": "add", "guild_id": guild, "name": who[2]})
        ca.recv_type("guild", 10)
        conn.recv_type("guild", 10)
    cb.recv_type("guild", 10)  # c joined
    typing = {"chat_id": guild, "user_id": b[1], "expires_in": 8}
    # c's node subscribes to the guild once it applied the change that added c, which can be
    # after b heard of it: a typing published before that subscription is confirmed is lost
    # (typing is never filled in or repeated). b types again, within its burst of 3, until c
    # has heard; a, on the node that created the guild, hears every one.
    for sent in range(1, 4):
        cb.send("typing", {"chat_id": guild})
        assert ca.recv_type("typing", 10)["payload"] == typing
        try:
            assert cc.recv_type("typing", 3)["payload"] == typing
            break
        except websocket.WebSocketTimeoutException:
            assert sent < 3, "c never heard b type"
    for conn in (ca, cb, cc):
        conn.expect_silence(0.5)


def test_a_read_mark_reaches_my_connections_on_other_nodes(cluster):
    """alice reads on node 0: her v2 connection on node 1 is told at once, her connection on
    node 2 reads the mark from the store in its next list; nobody else hears of it."""
    a, b = user(cluster, 0), user(cluster, 1)
    befriend(cluster, 0, 1, a, b)
    chat = chat_id(a[1], b[1])
    cb = connect(cluster, 1, b[0], version=2)
    cb.send("chat", {"type": "send", "chat_id": chat, "content": "read me"})
    message = cb.recv_type("chat", 10)["payload"]["id"]
    phone = connect(cluster, 0, a[0], version=2)
    desk = connect(cluster, 1, a[0], version=2)
    phone.send("read", {"chat_id": chat, "message_id": message})
    assert phone.recv_type("read", 10)["payload"] == {"chat_id": chat, "message_id": message}
    assert desk.recv_type("read", 10)["payload"] == {"chat_id": chat, "message_id": message}
    third = connect(cluster, 2, a[0], version=2)
    third.send("load", {"type": "chats"})
    [summary] = [c for c in third.recv_type("load", 10)["payload"]["chats"]
                 if c["chat_id"] == chat]
    assert summary["last_read_id"] == message and summary["unread_count"] == 0, summary
    for conn in (phone, desk, cb):
        conn.expect_silence(0.5)


def test_presence_follows_sessions_on_every_node(cluster):
    """b (node 1) sees a come online on node 0; a's second session on node 2 keeps a online
    when the first closes; a's last session closing shows a offline. The nodes know of each
    other's sessions through their shared counts."""
    a, b = user(cluster, 0), user(cluster, 1)
    befriend(cluster, 0, 1, a, b)

    def node_1_shows_a(online):
        """Waits until node 1's auth answer lists a as online (or not): it knows of a's
        sessions on the other nodes as they are."""
        deadline = time.time() + 10
        while True:
            probe = connect(cluster, 1, b[0], version=2)
            seen = a[1] in probe.auth_payload["online"]
            probe.close()
            if seen == online:
                return
            assert time.time() < deadline, f"node 1 never showed a as online={online}"
            time.sleep(0.2)

    # befriend's own connection of a, just closed, must be gone from node 1's counts first:
    # otherwise a's next connection would be no change there.
    node_1_shows_a(False)
    cb = Client(node(cluster, 1), version=2, presence=True)
    cb.handshake(b[0])

    def next_presence():
        return cb.recv_type("presence", 10)["payload"]

    first = connect(cluster, 0, a[0], version=2)
    assert next_presence() == {"user_id": a[1], "online": True}
    node_1_shows_a(True)
    second = connect(cluster, 2, a[0], version=2)
    time.sleep(2.0)  # node 2's count reaches the others (reported every 0.1 s; ample under load)
    first.close()
    cb.expect_silence(1.0)
    second.close()
    assert next_presence() == {"user_id": a[1], "online": False}


def test_friend_request_and_answer_across_nodes_and_a_third_node_knows(cluster):
    a, b = user(cluster, 0), user(cluster, 2)
    befriend(cluster, 0, 2, a, b)
    c = connect(cluster, 1, a[0])
    c.send("load", {"type": "mutual_users"})
    friends = c.recv_type("mutual_users", 10)["payload"]
    assert b[2] in [u["name"] for u in friends], friends


def test_a_user_verified_on_one_node_can_be_asked_by_name_on_another(cluster):
    a = user(cluster, 2)
    ca = connect(cluster, 2, a[0])
    for i in (0, 1):
        fresh = user(cluster, i)
        ca.send("mutual_users", {"type": "request", "name": fresh[2]})
        f = ca.recv(10)
        assert f["type"] == "ok", f


def test_an_account_verified_on_one_node_logs_in_on_another_at_once(cluster):
    for i in range(6):
        name = next(names)
        email = f"{name}@example.test"
        r = post(cluster, i, "/api/v1/auth/register",
                 data={"name": name, "email": email, "password": "password123"})
        assert r.status_code == 201, r.text
        # The link names the front; open it on node i+1 itself, then log in on node i+2 at
        # once: that node's cache may not have heard of the account yet, and asks the store.
        link = cluster.mailbox.link_for(email).replace(cluster.front, node(cluster, i + 1).base)
        with client_from(next(addresses)) as s:
            assert s.get(link, timeout=10).status_code == 200
        r = login(cluster, i + 2, email)
        assert r.status_code == 201, r.text


def test_a_token_from_a_login_on_one_node_works_on_another_at_once(cluster):
    token, uid, name = user(cluster, 0)
    for i in range(6):
        # The other node's cache may not have heard of the token yet: the auth asks the store.
        r = login(cluster, i, f"{name}@example.test")
        assert r.status_code == 201, r.text
        fresh = r.json()["payload"]["token"]
        c = connect(cluster, i + 1, fresh)
        assert c.auth_payload["self_user"]["id"] == uid
        c.close()
        # So does a logout there, at once: the store decides.
        r = login(cluster, i, f"{name}@example.test")
        r = post(cluster, i + 2, "/api/v1/auth/logout",
                 headers={"Authorization": f"Bearer {r.json()['payload']['token']}"})
        assert r.status_code == 200, r.text


def test_guild_chat_with_members_on_every_node(cluster):
    owner = user(cluster, 0)
    members = [user(cluster, i) for i in (1, 2, 1)]
    for m in members:
        befriend(cluster, 0, 1, owner, m)
    co = connect(cluster, 0, owner[0], version=2)
    co.send("guild", {"type": "create", "name": "across"})
    guild = co.recv_type("guild", 10)["payload"]["guild"]["id"]
    for m in members:
        co.send("guild", {"type": "add", "guild_id": guild, "name": m[2]})
        co.recv_type("guild", 10)
    conns = [connect(cluster, i, m[0], version=2) for m, i in zip(members, (1, 2, 1))]
    co.send("chat", {"type": "send", "chat_id": guild, "content": "hello everyone"})
    for c in conns + [co]:
        f = c.recv_type("chat", 10)
        assert f["payload"]["content"] == "hello everyone"
        c.expect_silence(0.5)  # once, although two members share node 2


def test_logout_on_one_node_closes_that_tokens_sessions_on_every_node(cluster):
    token, _, name = user(cluster, 0)
    # A second login of the same user: its session must stay.
    r = login(cluster, 0, f"{name}@example.test")
    assert r.status_code == 201, r.text
    other = r.json()["payload"]["token"]
    doomed = [connect(cluster, i, token) for i in (0, 1, 2)]
    kept = connect(cluster, 2, other)
    r = post(cluster, 1, "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    for c in doomed:
        assert c.wait_close(10) == 4108
    kept.send("heartbeat", {"count": 7})
    assert kept.recv_type("heartbeat")["payload"] == {"count": 7}


def wait_for_login(cluster, i, email, password, deadline_s=5.0):
    """A login on node i with `password`, tried until the node has heard of a password set
    on another node (the cache change travels through the broker)."""
    deadline = time.time() + deadline_s
    while True:
        r = post(cluster, i, "/api/v1/auth/login", data={"email": email, "password": password})
        if r.status_code == 201 or time.time() > deadline:
            return r
        time.sleep(0.1)


def test_a_password_reset_on_one_node_closes_the_accounts_sessions_on_every_node(cluster):
    token, _, name = user(cluster, 0)
    email = f"{name}@example.test"
    doomed = [connect(cluster, i, token, version) for i, version in ((0, None), (1, 2), (2, None))]
    r = post(cluster, 1, "/api/v1/auth/password_reset", data={"email": email})
    assert r.status_code == 202, r.text
    mail = cluster.mailbox.wait_for(email, count=2)[1].get_content()
    key = re.search(r"/#reset=([A-Za-z0-9_-]+)", mail).group(1)
    r = post(cluster, 2, "/api/v1/auth/password_reset/confirm",
             data={"key": key, "new_password": "reset-on-node-3"})
    assert r.status_code == 200, r.text
    for c in doomed:
        assert c.wait_close(10) == 4108
    # Every node learns the new password.
    for i in (0, 1, 2):
        assert wait_for_login(cluster, i, email, "reset-on-node-3").status_code == 201
        assert login(cluster, i, email).status_code == 401


def test_a_password_change_on_one_node_keeps_only_the_callers_token_on_every_node(cluster):
    token, _, name = user(cluster, 0)
    other = login(cluster, 1, f"{name}@example.test").json()["payload"]["token"]
    kept = [connect(cluster, i, token) for i in (0, 2)]
    doomed = [connect(cluster, i, other) for i in (0, 1, 2)]
    r = post(cluster, 2, "/api/v1/auth/password_change",
             headers={"Authorization": f"Bearer {token}"},
             data={"current_password": "password123", "new_password": "changed-on-node-3"})
    assert r.status_code == 200, r.text
    for c in doomed:
        assert c.wait_close(10) == 4108
    for n, c in enumerate(kept):
        c.send("heartbeat", {"count": n})
        assert c.recv_type("heartbeat")["payload"] == {"count": n}


class SlowUpstream:
    """A TCP relay in front of Redis that holds what a client sends for `delay` seconds (in
    order) and passes the answers at once: a node behind it has its SUBSCRIBEs reach Redis
    late, while what other nodes publish meanwhile reaches Redis at once."""

    def __init__(self, target_port, delay):
        self.target = ("127.0.0.1", target_port)
        self.delay = delay
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.sockets = [self.listener]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            held = collections.deque()
            ready = threading.Condition()
            threading.Thread(target=self._read, args=(client, held, ready), daemon=True).start()
            threading.Thread(target=self._write, args=(upstream, held, ready),
                             daemon=True).start()
            threading.Thread(target=self._pass, args=(upstream, client), daemon=True).start()

    def _read(self, source, held, ready):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            with ready:
                held.append((time.monotonic() + self.delay, data))
                ready.notify()
            if not data:
                return

    def _write(self, sink, held, ready):
        while True:
            with ready:
                ready.wait_for(lambda: held)
                due, data = held.popleft()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return

    def _pass(self, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.closed = True
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


def test_what_another_node_sends_right_after_the_auth_answer_arrives_live(cluster, tmp_path):
    """A node answers an auth only once Redis confirmed its new subscription of the user's
    channels: a friend request, a direct message or a logout that another node publishes at
    once after the answer reaches the session live. A fourth node talks to Redis through a
    relay that holds its commands 0.3 s, so the confirmation comes late; every round is a
    user's first session there."""
    redis_port = int(open(os.path.join(cluster.dir, "redis-url")).read().strip().rsplit(":", 1)[1])
    relay = SlowUpstream(redis_port, 0.3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, REWIND_DATABASE_URL=open(os.path.join(cluster.dir,
                                                                  "database-url")).read().strip())
    log = open(tmp_path / "node-4.log", "wb")
    slow = subprocess.Popen(
        [os.path.join(os.environ.get("REWIND_BUILD_DIR", "build"), "rewind-server"),
         "--listen", "127.0.0.1", "--port", str(port), "--data-dir", str(tmp_path / "node-4"),
         "--worker-id", "4", "--redis-url", f"redis://127.0.0.1:{relay.port}"] + NODE_ARGS,
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    senders = []
    try:
        for _ in range(300):
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the fourth node did not become ready")
        fourth = Node(f"http://127.0.0.1:{port}")
        a = user(cluster, 0)
        senders = [connect(cluster, n, a[0]) for n in range(3)]
        for round_ in range(30):
            home = round_ % 3  # where the user registered, and a's sender
            b = user(cluster, home)
            kind = ("friend", "dm", "logout")[round_ // 3 % 3]
            if kind == "dm":
                befriend(cluster, home, home, a, b)
            cb = Client(fourth)
            cb.handshake(b[0])
            if kind == "friend":
                senders[home].send("mutual_users", {"type": "request", "name": b[2]})
                f = cb.recv_type("mutual_users", 5)
                assert f["payload"]["type"] == "request", (round_, f)
            elif kind == "dm":
                senders[home].send("chat", {"type": "send", "chat_id": chat_id(a[1], b[1]),
                                            "content": f"round {round_}"})
                f = cb.recv_type("chat", 5)
                assert f["payload"]["content"] == f"round {round_}", (round_, f)
            else:
                r = post(cluster, home, "/api/v1/auth/logout",
                         headers={"Authorization": f"Bearer {b[0]}"})
                assert r.status_code == 200, r.text
                assert cb.wait_close(5) == 4108, round_
            cb.close()
            # a's own answers and b's: read so that the next round starts clean.
            for c in senders:
                try:
                    while True:
                        c.recv(0.02)
                except Exception:
                    pass
    finally:
        for c in senders:
            c.close()
        slow.terminate()
        try:
            slow.wait(15)
        except subprocess.TimeoutExpired:
            slow.kill()
            slow.wait()
        log.close()
        relay.close()


def test_a_block_on_one_node_ends_the_friendship_on_every_node(cluster):
    a, b = user(cluster, 0), user(cluster, 1)
    befriend(cluster, 0, 1, a, b)
    ca = connect(cluster, 0, a[0], version=2)
    cb = connect(cluster, 1, b[0], version=2)
    ca.send("block", {"type": "block", "name": b[2]})
    assert ca.recv(10)["type"] == "ok"
    f = cb.recv_type("mutual_users", 10)["payload"]
    assert (f["type"], f["user"]["name"]) == ("delete", a[2])
    # A third node's cache followed the commit: no friendship to list, to send in, or to ask
    # through (the store refuses the blocked user's request as for an unknown name).
    cb3 = connect(cluster, 2, b[0], version=2)
    cb3.send("load", {"type": "mutual_users"})
    assert a[2] not in [u["name"] for u in cb3.recv_type("mutual_users", 10)["payload"]]
    cb3.send("chat", {"type": "send", "chat_id": chat_id(a[1], b[1]), "content": "hi"})
    assert cb3.recv(10)["payload"]["code"] == "4015"
    cb3.send("mutual_users", {"type": "request", "name": a[2]})
    assert cb3.recv(10)["payload"]["code"] == "4010"
