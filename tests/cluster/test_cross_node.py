"""Everything a user does works whichever nodes the people involved are connected to: direct
messages with edits and deletions, friend requests and answers, guilds and guild chat, several
sessions of one user on several nodes, and a logout closing the token's sessions on every
node (4108). Each test talks to the nodes directly (not through the front), so which node
serves whom is chosen, not left to the balancer; each HTTP request comes from an address of
its own, so the per-address limits of the nodes never decide a result."""
import itertools
import time

from conftest import _e2e_helpers, client_from

e2e = _e2e_helpers()
Client = e2e.Client

names = (f"x{i}" for i in itertools.count())
addresses = (f"127.0.{i // 250 + 10}.{i % 250 + 1}" for i in itertools.count())


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


def settle():
    """A node subscribes a user's channels in Redis when the user's first session there
    authenticates, and the auth answer does not wait for Redis to confirm it: an event
    published in between is not delivered live (catching up from the database after a gap is
    still to come). These tests check live delivery, so they give the subscriptions a moment."""
    time.sleep(0.5)


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
    settle()
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
    settle()
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
    settle()
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
    settle()
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
    settle()
    r = post(cluster, 1, "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    for c in doomed:
        assert c.wait_close(10) == 4108
    kept.send("heartbeat", {"count": 7})
    assert kept.recv_type("heartbeat")["payload"] == {"count": 7}
