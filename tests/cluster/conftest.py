"""The cluster tests: several rewind-server nodes on one PostgreSQL, with Redis and haproxy in
front, all on loopback (tests/scripts/cluster). One cluster per test module; each test
talks to the front unless it says otherwise. The binary comes from REWIND_BUILD_DIR (default
build/)."""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import requests
from requests.adapters import HTTPAdapter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def _e2e_module(file_name, module_name):
    """A helper module of tests/e2e, loaded by path: that folder is not on this suite's
    import path."""
    spec = importlib.util.spec_from_file_location(
        module_name, os.path.join(ROOT, "tests", "e2e", file_name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _e2e_helpers():
    """tests/e2e/conftest.py as a module of its own name ("conftest" is this file)."""
    return _e2e_module("conftest.py", "e2e_helpers")


Mailbox = _e2e_helpers().Mailbox

CLUSTER = os.path.join(ROOT, "tests", "scripts", "cluster")
NODES = 3
# Cheap hashing, and small per-address limits that a test can reach.
NODE_ARGS = ["--password-hash-ops", "1", "--password-hash-mem-kib", "1024",
             "--login-rate-count", "3", "--login-account-rate-count", "1000"]


class Cluster:
    def __init__(self, directory):
        self.dir = directory
        read = lambda name: open(os.path.join(directory, name)).read().strip()
        self.front = read("front-url")
        self.stats = read("stats-url")
        self.nodes = {i: read(f"node-{i}-url") for i in range(1, NODES + 1)}
        self.mailbox = Mailbox(os.path.join(directory, "mail"))

    @property
    def ws_front(self):
        return self.front.replace("http://", "ws://") + "/ws"

    def pid(self, i):
        return int(open(os.path.join(self.dir, f"node-{i}.pid")).read())

    def status(self):
        """haproxy's view: node number -> UP, DOWN, ... (its CSV statistics)."""
        out = {}
        for line in requests.get(self.stats + ";csv", timeout=5).text.splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == "rewind_nodes" and f[1].startswith("node"):
                out[int(f[1][4:])] = f[17]
        return out

    def log(self, i):
        with open(os.path.join(self.dir, f"node-{i}.log"), "rb") as f:
            return f.read().decode(errors="replace")


@pytest.fixture(scope="module")
def cluster(request):
    """The module's cluster; a module's CLUSTER_NODE_ARGS are added to NODE_ARGS."""
    args = NODE_ARGS + getattr(request.module, "CLUSTER_NODE_ARGS", [])
    d = None
    try:
        # A second attempt, in a directory of its own, when the first fails: a port found free
        # can be taken by another program before the server binds it. What went wrong is
        # printed either way, its last line first (a report's summary keeps only the first).
        for attempt in (1, 2):
            d = tempfile.mkdtemp(prefix="rewind-cluster-")
            r = subprocess.run([CLUSTER, "start", d, str(NODES)] + args, capture_output=True,
                               text=True, timeout=180)
            if r.returncode == 0:
                break
            _stop(d)
            last = (r.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            print(f"cluster start {attempt} failed ({last}):\n{r.stderr}", file=sys.stderr)
            if attempt == 2:
                raise RuntimeError(f"the cluster did not start ({last}):\n{r.stderr}")
        yield Cluster(d)
    finally:
        if d is not None:
            _stop(d)


def _stop(d):
    subprocess.run([CLUSTER, "stop", d], capture_output=True, timeout=120)
    # REWIND_KEEP_CLUSTER=1 keeps the nodes' logs for a look after a failure.
    if os.environ.get("REWIND_KEEP_CLUSTER"):
        print(f"\ncluster kept in {d}")
    else:
        shutil.rmtree(d, ignore_errors=True)


class SourceAddressAdapter(HTTPAdapter):
    """Connections from a chosen loopback address (127.0.0.0/8 is all loopback on Linux), so
    that behind the front several clients have addresses of their own."""

    def __init__(self, address, **kw):
        self.address = address
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kw)


def client_from(address):
    s = requests.Session()
    s.mount("http://", SourceAddressAdapter(address))
    return s
