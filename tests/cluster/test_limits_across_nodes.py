"""The limits count over every node (broker/cluster_limits.h): a user's sessions, an address's
logins, whichever nodes they reach; and while Redis is away each node limits alone. A cluster
of its own (three nodes, a cap of two sessions per user, four WebSockets and three logins per
address), talked to directly rather than through the front."""
import os
import subprocess
import time

import pytest
import requests
import websocket

from conftest import NODES, ROOT, _e2e_helpers, client_from
from test_cross_node import Node

e2e = _e2e_helpers()
Client = e2e.Client
ConnectionClosed = e2e.ConnectionClosed

# With the suite's NODE_ARGS (cheap hashing, three logins per address per minute).
CLUSTER_NODE_ARGS = ["--max-sessions-per-user", "2", "--max-connections-per-address", "4"]
SYNC = 0.5  # the nodes tell each other every 100 ms; a margin on a busy machine


def login(cluster, i, address, email, password="password123"):
    with client_from(address) as s:
        return s.post(cluster.nodes[i] + "/api/v1/auth/login", timeout=10,
                      headers={"Accept": "application/json"},
                      data={"email": email, "password": password})


def new_user(cluster, name):
    email = f"{name}@example.test"
    with client_from("127.0.5.1") as s:
        r = s.post(cluster.nodes[1] + "/api/v1/auth/register", timeout=10,
                   headers={"Accept": "application/json"},
                   data={"name": name, "email": email, "password": "password123"})
        assert r.status_code == 201, r.text
        assert s.get(cluster.mailbox.link_for(email), timeout=10).status_code == 200
    r = login(cluster, 1, "127.0.5.2", email)
    assert r.status_code == 201, r.text
    return r.json()["payload"]["token"]


def authenticate(cluster, i, token):
    c = Client(Node(cluster.nodes[i]))
    c.send("heartbeat", {"count": 0})
    c.recv()
    c.send("auth", {"auth": token})
    return c


def test_the_session_cap_counts_the_sessions_on_every_node(cluster):
    token = new_user(cluster, "capped")
    time.sleep(SYNC)  # the new token reaches the other nodes' caches
    c1 = authenticate(cluster, 1, token)
    assert c1.recv()["type"] == "auth"
    c2 = authenticate(cluster, 2, token)
    f = c2.recv()
    assert f["type"] == "auth", f
    time.sleep(SYNC)
    # Node 3 has no session of this user, yet the user has two: the third is refused.
    c3 = authenticate(cluster, 3, token)
    assert c3.wait_close() == 4106
    # A slot frees up on another node when one closes.
    c1.close()
    time.sleep(SYNC)
    c4 = authenticate(cluster, 3, token)
    assert c4.recv()["type"] == "auth"
    for c in (c2, c4):
        c.close()


def test_the_login_limit_counts_the_attempts_on_every_node(cluster):
    address = "127.0.6.1"
    for i in (1, 2, 3):  # one attempt on each node: three in all, the limit
        assert login(cluster, i, address, "nobody@example.test", "wrong").status_code == 401
    time.sleep(SYNC)
    for i in (1, 2, 3):
        r = login(cluster, i, address, "nobody@example.test", "wrong")
        assert r.status_code == 429, (i, r.text)
        assert int(r.headers["Retry-After"]) >= 1


def test_the_connection_cap_counts_the_connections_on_every_node(cluster):
    def open_from(i, address):
        url = cluster.nodes[i].replace("http://", "ws://") + "/ws"
        # The nodes trust 127.0.0.1 as a proxy: the address is the one the header names.
        return websocket.create_connection(url, timeout=5,
                                           header=[f"X-Forwarded-For: {address}"])

    address = "10.9.9.9"
    held = [open_from(1, address), open_from(1, address), open_from(2, address),
            open_from(2, address)]
    time.sleep(SYNC)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_from(3, address)
    assert refused.value.status_code == 429
    open_from(3, "10.9.9.10").close()  # another address is free
    held.pop().close()
    time.sleep(SYNC)
    held.append(open_from(3, address))
    for ws in held:
        ws.close()


def ready(cluster, i):
    return requests.get(cluster.nodes[i] + "/readyz", timeout=5).status_code == 200


def wait_for(done, seconds):
    deadline = time.time() + seconds
    while not done():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def test_while_redis_is_away_each_node_limits_alone(cluster):
    redis_dir = os.path.join(cluster.dir, "redis")
    redis = os.path.join(ROOT, "tests", "scripts", "redis-server")
    subprocess.run([redis, "stop", redis_dir], check=True, capture_output=True, timeout=60)
    try:
        # Not ready while the broker is down: the nodes know Redis is gone.
        wait_for(lambda: not any(ready(cluster, i) for i in (1, 2, 3)), 10)
        address = "127.0.7.1"
        # Each node allows the address its own three attempts, then refuses on its own.
        for i in (1, 2):
            for _ in range(3):
                assert login(cluster, i, address, "nobody@example.test", "x").status_code == 401
            assert login(cluster, i, address, "nobody@example.test", "x").status_code == 429
    finally:
        subprocess.run([redis, "start", redis_dir], check=True, capture_output=True, timeout=60)
    wait_for(lambda: all(ready(cluster, i) for i in (1, 2, 3)), 15)
