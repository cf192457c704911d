"""Account administration across nodes (docs/OPERATIONS.md, "Account administration"): an
account disabled on one node's admin listener has its gateway connections on another node
closed with 4110, and its login refused there too; an account deleted through one node has
its connections on another closed with 4111."""
import os
import shutil
import tempfile
import time

import pytest
import requests

from conftest import _e2e_helpers, client_from
from test_cross_node import Node

e2e = _e2e_helpers()
Client = e2e.Client

SECRET = "cluster-admin-secret-0123456789"
_token_dir = tempfile.mkdtemp(prefix="rewind-admin-token-")
TOKEN_FILE = os.path.join(_token_dir, "admin-token")
with open(TOKEN_FILE, "w") as f:
    f.write(SECRET + "\n")
CLUSTER_NODE_ARGS = ["--admin-token-file", TOKEN_FILE]


@pytest.fixture(scope="module", autouse=True)
def remove_token_file():
    yield
    shutil.rmtree(_token_dir, ignore_errors=True)


def admin_url(cluster, i):
    return open(os.path.join(cluster.dir, f"node-{i}-admin-url")).read().strip()


def login(cluster, i, email):
    with client_from("127.0.6.1") as s:
        return s.post(cluster.nodes[i] + "/api/v1/auth/login", timeout=10,
                      headers={"Accept": "application/json"},
                      data={"email": email, "password": "password123"})


def test_a_disable_on_one_node_closes_the_session_on_another(cluster):
    email = "mallory@example.test"
    with client_from("127.0.6.2") as s:
        r = s.post(cluster.nodes[1] + "/api/v1/auth/register", timeout=10,
                   headers={"Accept": "application/json"},
                   data={"name": "mallory", "email": email, "password": "password123"})
        assert r.status_code == 201, r.text
        assert s.get(cluster.mailbox.link_for(email), timeout=10).status_code == 200
    r = login(cluster, 2, email)
    assert r.status_code == 201, r.text
    token = r.json()["payload"]["token"]
    on_b = Client(Node(cluster.nodes[2]), version=2)
    try:
        user_id = on_b.handshake(token)["self_user"]["id"]
        r = requests.post(admin_url(cluster, 1) + f"/admin/users/{user_id}/disable",
                          headers={"Authorization": f"Bearer {SECRET}"}, timeout=10)
        assert r.status_code == 200, r.text
        assert on_b.wait_close() == 4110
    finally:
        on_b.close()
    time.sleep(0.2)
    r = login(cluster, 3, email)
    assert r.status_code == 403 and r.json()["payload"]["code"] == "account_disabled"


def login_from(cluster, i, email, address):
    """A login from its own client address: --login-rate-count is 3 per address here."""
    with client_from(address) as s:
        return s.post(cluster.nodes[i] + "/api/v1/auth/login", timeout=10,
                      headers={"Accept": "application/json"},
                      data={"email": email, "password": "password123"})


def test_a_deletion_on_one_node_closes_the_session_on_another(cluster):
    email = "trent@example.test"
    with client_from("127.0.6.3") as s:
        r = s.post(cluster.nodes[1] + "/api/v1/auth/register", timeout=10,
                   headers={"Accept": "application/json"},
                   data={"name": "trent", "email": email, "password": "password123"})
        assert r.status_code == 201, r.text
        assert s.get(cluster.mailbox.link_for(email), timeout=10).status_code == 200
    r = login_from(cluster, 2, email, "127.0.6.4")
    assert r.status_code == 201, r.text
    token = r.json()["payload"]["token"]
    on_b = Client(Node(cluster.nodes[2]), version=2)
    try:
        on_b.handshake(token)
        # The person deletes the account through node A with the token node B issued.
        with client_from("127.0.6.3") as s:
            r = s.post(cluster.nodes[1] + "/api/v1/auth/delete_account", timeout=10,
                       headers={"Accept": "application/json",
                                "Authorization": f"Bearer {token}"},
                       json={"password": "password123"})
        assert r.status_code == 200, r.text
        assert on_b.wait_close() == 4111
    finally:
        on_b.close()
    time.sleep(0.2)
    r = login_from(cluster, 3, email, "127.0.6.5")
    assert r.status_code == 401 and r.json()["payload"]["code"] == "invalid_credentials"
    # Every node freed the name: it registers again through another node.
    with client_from("127.0.6.3") as s:
        r = s.post(cluster.nodes[3] + "/api/v1/auth/register", timeout=10,
                   headers={"Accept": "application/json"},
                   data={"name": "trent", "email": email, "password": "password123"})
        assert r.status_code == 201, r.text
        link = cluster.mailbox.link_for(email, index=1)  # the second sign-up's mail
        assert s.get(link, timeout=10).status_code == 200
    assert login_from(cluster, 2, email, "127.0.6.6").status_code == 201
