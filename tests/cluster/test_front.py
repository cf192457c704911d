"""One address in front of three nodes: what holds before the nodes share events. haproxy
(deploy/haproxy.cfg) balances HTTP and WebSocket round robin, checks each node's /readyz,
and tells the nodes the client's address in X-Forwarded-For."""
import json
import os
import signal
import time
import uuid

import requests
import websocket

from conftest import NODES, client_from


def fresh_get(url, **kw):
    """A GET on a connection of its own: the front balances connections."""
    with requests.Session() as s:
        return s.get(url, timeout=5, **kw)


def test_the_front_serves_the_web_client_and_the_api(cluster):
    r = fresh_get(cluster.front + "/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<title>REWIND</title>" in r.text
    r = fresh_get(cluster.front + "/api/v1/about")
    assert r.status_code == 200
    assert r.json()["type"] == "about"
    assert r.json()["payload"]["mail"] == "smtp"
    r = fresh_get(cluster.front + "/readyz")
    assert r.status_code == 200 and r.text == "ready\n"
    for url in cluster.nodes.values():
        assert fresh_get(url + "/readyz").status_code == 200


def test_consecutive_connections_reach_different_nodes(cluster):
    nodes = [fresh_get(cluster.front + "/healthz").headers["X-Rewind-Node"] for _ in range(6)]
    assert set(nodes) == {str(i) for i in range(1, NODES + 1)}, nodes
    assert all(a != b for a, b in zip(nodes, nodes[1:])), nodes
    sockets = [websocket.create_connection(cluster.ws_front, timeout=5) for _ in range(NODES)]
    ws_nodes = [ws.getheaders()["x-rewind-node"] for ws in sockets]
    for ws in sockets:
        ws.send(json.dumps({"type": "heartbeat", "payload": {"count": 0}}))
        assert json.loads(ws.recv()) == {"type": "heartbeat", "payload": {"count": 0}}
        ws.close()
    assert len(set(ws_nodes)) == NODES, ws_nodes


def test_register_verify_and_log_in_through_the_front(cluster):
    name = "u" + uuid.uuid4().hex[:8]
    addr = f"{name}@example.test"
    r = requests.post(cluster.front + "/api/v1/auth/register", timeout=10,
                      data={"name": name, "email": addr, "password": "password123"},
                      headers={"Accept": "application/json"})
    assert r.status_code == 201, r.text
    link = cluster.mailbox.link_for(addr)
    assert link.startswith(cluster.front + "/")  # the public base URL is the front
    r = fresh_get(link, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    verified_on = r.headers["X-Rewind-Node"]
    # Until the nodes share events, only the node that verified the account knows it in
    # memory; round robin reaches it within one turn of the nodes.
    answers = []
    for _ in range(NODES):
        r = requests.post(cluster.front + "/api/v1/auth/login", timeout=10,
                          data={"email": addr, "password": "password123"},
                          headers={"Accept": "application/json", "Connection": "close"})
        answers.append((r.status_code, r.headers["X-Rewind-Node"]))
        if r.status_code == 201:
            break
    assert r.status_code == 201, answers
    assert len(r.json()["payload"]["token"]) == 43
    assert (201, verified_on) in answers or all(code == 201 for code, _ in answers), answers


def test_per_address_limits_see_the_client_behind_the_front(cluster):
    # 3 logins per address per minute, counted over every node: round robin spreads one
    # client's attempts over the nodes, and once the nodes have told each other (every
    # 100 ms) the 4th finds the address at its limit whichever node it reaches.
    a, b = client_from("127.0.0.2"), client_from("127.0.0.3")

    def attempt(session, n):
        r = session.post(cluster.front + "/api/v1/auth/login", timeout=10,
                         data={"email": f"nobody{n}@example.test", "password": "password123"},
                         headers={"Accept": "application/json", "Connection": "close"})
        return r.status_code

    codes = [attempt(a, i) for i in range(3)]
    assert codes == [401] * 3, codes
    time.sleep(0.5)
    assert [attempt(a, 3 + i) for i in range(NODES)] == [429] * NODES
    # Another client behind the same proxy is not limited: the nodes count by the address
    # haproxy put in X-Forwarded-For, not by the proxy's.
    assert attempt(b, 100) == 401


def test_a_killed_node_leaves_the_rotation_within_two_seconds(cluster):
    victim = 2
    assert cluster.status() == {i: "UP" for i in range(1, NODES + 1)}
    os.kill(cluster.pid(victim), signal.SIGKILL)
    killed = time.time()
    # Requests keep succeeding meanwhile: a refused connection is retried on another node.
    answered = []
    while time.time() - killed < 2.5:
        r = fresh_get(cluster.front + "/readyz")
        answered.append((r.status_code, r.headers.get("X-Rewind-Node")))
        if cluster.status()[victim].startswith("DOWN"):
            break
        time.sleep(0.05)
    out_after = time.time() - killed
    print(f"\nnode {victim} killed: out of the rotation after {out_after:.2f}s")
    assert cluster.status()[victim].startswith("DOWN"), cluster.status()
    assert out_after < 2.5
    assert all(code == 200 for code, _ in answered), answered
    nodes = [fresh_get(cluster.front + "/healthz") for _ in range(10)]
    assert all(r.status_code == 200 for r in nodes)
    served = {r.headers["X-Rewind-Node"] for r in nodes}
    assert served == {str(i) for i in range(1, NODES + 1)} - {str(victim)}, served
