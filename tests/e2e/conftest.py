"""Fixtures for the end-to-end tests: the real rewind-server binary on loopback with a
fresh data directory, a real SMTP server process (smtp_sink.py) over implicit TLS with a
test CA, and real HTTP and WebSocket clients.

With REWIND_TEST_DATABASE_URL (a PostgreSQL server where that role may CREATE DATABASE, e.g.
from tests/scripts/postgres-cluster), every server runs on PostgreSQL instead of SQLite: each
data directory gets an empty database of its own (the same one when a server restarts on
it; see DatabasePool). REWIND_TEST_PG_DIR names that cluster's directory, for the tests that stop
and start the PostgreSQL server itself."""
import email
import email.policy
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
import requests
import websocket

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("REWIND_BUILD_DIR", os.path.join(ROOT, "build"))
SERVER_BIN = os.path.join(BUILD_DIR, "rewind-server")
HERE = os.path.dirname(os.path.abspath(__file__))
SMTP_USER = "rewind@example.test"
SMTP_PASSWORD = "smtp-test-password"


PG_URL = os.environ.get("REWIND_TEST_DATABASE_URL", "")
ON_POSTGRES = bool(PG_URL)
PG_DIR = os.environ.get("REWIND_TEST_PG_DIR", "")
PG_CLUSTER = os.path.join(ROOT, "tests", "scripts", "postgres-cluster")
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="SQLite only")
postgres_only = pytest.mark.skipif(not ON_POSTGRES, reason="needs REWIND_TEST_DATABASE_URL")


def database_url(name):
    """PG_URL with its database replaced by `name`."""
    m = re.match(r"^([a-z]+://[^/]*)(/[^?]*)?(\?.*)?$", PG_URL)
    return m.group(1) + "/" + name + (m.group(3) or "")


def psql(sql, url=None):
    """Runs SQL with psql on `url` (the maintenance database by default); returns its rows as
    lists of strings."""
    r = subprocess.run(["psql", url or PG_URL, "-qAtX", "-v", "ON_ERROR_STOP=1", "-F", "\t",
                        "-c", sql], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql: {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines()]


class DatabasePool:
    """Databases for the servers, made (CREATE DATABASE) and emptied on a thread of their own,
    ahead of the tests that take them. With fsync on, creating and dropping a database cost
    about two seconds, emptying one a third of a second: a database a test used is emptied
    (its sessions ended, its schema dropped and made again — as fresh as a new one to the
    server's migrations) and handed to a later test; all are dropped at the end of the run."""

    AHEAD = 2

    def __init__(self):
        self.lock = threading.Condition()
        self.ready = []   # empty, unused
        self.used = []    # to empty
        self.all = []     # every database made, to drop at the end
        self.closing = False
        self.error = None
        self.thread = None

    def _run(self):
        while True:
            with self.lock:
                while not self.closing and not self.used and len(self.ready) >= self.AHEAD:
                    self.lock.wait()
                if self.closing:
                    return
                if self.used:
                    job = ("empty", self.used.pop(0))
                else:
                    job = ("create", f"rewind_t_{os.getpid()}_{len(self.all)}_"
                                     f"{int(time.time() * 1000) % 100000000}")
                    self.all.append(job[1])
            try:
                if job[0] == "empty":
                    psql("SET client_min_messages = warning; "
                         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                         "AND usename = current_user; "
                         "DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
                         database_url(job[1]))
                else:
                    psql(f"CREATE DATABASE {job[1]}")
            except RuntimeError as e:
                if job[0] == "empty":  # not reusable: left to the final drop
                    print(f"could not empty {job[1]}: {e}")
                    continue
                with self.lock:
                    self.error = e
                    self.lock.notify_all()
                return
            with self.lock:
                self.ready.append(job[1])
                self.lock.notify_all()

    def take(self):
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, daemon=True)
                self.thread.start()
            while not self.ready:
                if self.error:
                    raise self.error
                self.lock.notify_all()
                self.lock.wait(60)
            name = self.ready.pop(0)
            self.lock.notify_all()
            return name

    def give_back(self, name):
        with self.lock:
            self.used.append(name)
            self.lock.notify_all()

    def close(self):
        with self.lock:
            self.closing = True
            self.lock.notify_all()
        if self.thread:
            self.thread.join(120)
        for name in self.all:
            drop_database(name)


def drop_database(name):
    # FORCE ends the sessions left on it, but is refused when one is an autovacuum worker
    # (not ours to signal); a plain DROP then stops that worker itself.
    error = None
    for sql in ["WITH (FORCE)"] + [""] * 5:
        try:
            psql(f"DROP DATABASE IF EXISTS {name} {sql}")
            return
        except RuntimeError as e:
            error = e
            time.sleep(0.2)
    print(f"could not drop {name}: {error}")


_pool = DatabasePool()
_databases = {}  # data directory -> database name, for the running test


def database_for(data_dir):
    """The URL of the database that stands for data_dir on PostgreSQL, empty on first use."""
    key = os.path.realpath(str(data_dir))
    if key not in _databases:
        _databases[key] = _pool.take()
    return database_url(_databases[key])


def _give_back_databases(keys):
    for key in keys:
        _pool.give_back(_databases.pop(key))


@pytest.fixture(autouse=True)
def postgres_databases():
    """Gives back the databases a test's own servers used once they have stopped (this fixture
    is set up before the test's other function fixtures, so it is torn down after them). A
    module's shared server took its database before: that one goes at the end of the run."""
    before = set(_databases)
    yield
    _give_back_databases([k for k in list(_databases) if k not in before])


@pytest.fixture(autouse=True, scope="session")
def postgres_databases_left():
    yield
    _databases.clear()
    _pool.close()


# No secret reaches a log (docs/OPERATIONS.md, "Logs"). The helpers below record every secret
# they see (passwords, verification keys, tokens; the SMTP and database passwords) and every
# server log written; at the end of the run no log may hold any of them, in any form a request
# or a record could carry (raw, URL-encoded, JSON-escaped).
SECRETS = {SMTP_PASSWORD}
_pg = urllib.parse.urlparse(PG_URL)
if _pg.password:
    # The server logs its database URL with the password masked and the user kept: when the
    # test role's password is its own name, only the URL's credentials would be a leak.
    _password = urllib.parse.unquote(_pg.password)
    SECRETS.add(_password if _password != _pg.username else f"{_pg.username}:{_password}@")
VERIFY_KEYS = set()
SERVER_LOGS = set()
# Servers with mail to the log (no --smtp-host) print verification links by design: their logs
# are searched for every secret but the keys.
MAIL_TO_LOG_SERVER_LOGS = set()


def record_secret(value, into=SECRETS):
    # Shorter strings could turn up in a log by chance (a name, a number).
    if isinstance(value, str) and len(value) >= 8:
        into.add(value)


def secret_forms(secret):
    return {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
            json.dumps(secret)[1:-1]}


def secrets_in_logs(paths, secrets):
    """[(log, secret, line)] for every line of the logs at `paths` holding one of `secrets`."""
    found = []
    forms = {form.encode(): secret for secret in secrets for form in secret_forms(secret)}
    for path in sorted(paths):
        try:
            with open(path, "rb") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            continue
        for line in lines:
            for form, secret in forms.items():
                if form in line:
                    found.append((path, secret, line.decode(errors="replace")))
    return found


@pytest.fixture(autouse=True, scope="session")
def no_secret_in_any_log():
    yield
    found = secrets_in_logs(SERVER_LOGS | MAIL_TO_LOG_SERVER_LOGS, SECRETS)
    found += secrets_in_logs(SERVER_LOGS - MAIL_TO_LOG_SERVER_LOGS, VERIFY_KEYS)
    assert not found, "secrets in the server logs:\n" + "\n".join(
        f"{path}: {secret!r} in {line}" for path, secret, line in found[:20])


def pg_cluster(command):
    """Stops or starts the PostgreSQL server of REWIND_TEST_PG_DIR (same port, same data)."""
    subprocess.run([PG_CLUSTER, command, PG_DIR], check=True, capture_output=True, timeout=120)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it."""
    d = tmp_path_factory.mktemp("ca")
    run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=REWIND test CA", "-keyout", "ca.key", "-out", "ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "server.key", "-out", "server.csr")
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem")
    return {"ca": str(d / "ca.pem"), "cert": str(d / "server.pem"), "key": str(d / "server.key")}


class Mailbox:
    """The messages an smtp_sink process stored."""

    def __init__(self, directory):
        self.directory = directory

    def messages(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.directory, "*.eml"))):
            with open(path, "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def wait_for(self, to, count=1, timeout=15.0):
        """The first `count` messages to `to`, waiting for them to arrive."""
        deadline = time.time() + timeout
        while True:
            got = [m for m in self.messages() if to.lower() in m["To"].lower()]
            if len(got) >= count:
                return got
            if time.time() > deadline:
                raise AssertionError(f"no mail to {to} after {timeout}s (have {len(got)})")
            time.sleep(0.05)

    def link_for(self, to, index=-1):
        msgs = self.wait_for(to, count=max(1, index + 1) if index >= 0 else 1)
        body = msgs[index].get_content()
        m = re.search(r"https?://\S+/api/v1/auth/email_verify/([A-Za-z0-9_-]+)", body)
        assert m, body
        record_secret(m.group(1), VERIFY_KEYS)
        return m.group(0)


class SmtpSink:
    def __init__(self, ca, tmp, tls="implicit", fail_first=0, port=None):
        self.port = port or free_port()  # a given port: the same server back after a stop
        self.dir = str(tmp / f"mail-{self.port}")
        self.tls = tls
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(HERE, "smtp_sink.py"), "--port", str(self.port),
             "--dir", self.dir, "--cert", ca["cert"], "--key", ca["key"], "--tls", tls,
             "--user", SMTP_USER, "--password", SMTP_PASSWORD, "--fail-first", str(fail_first)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("smtp_sink did not start: " + line + self.proc.stderr.read())
        self.mailbox = Mailbox(self.dir)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def smtp(test_ca, tmp_path):
    sink = SmtpSink(test_ca, tmp_path)
    yield sink
    sink.stop()


class Server:
    """A running rewind-server process."""

    def __init__(self, data_dir, args, env=None, log_dir=None):
        self.data_dir = str(data_dir)
        self.log_dir = str(log_dir or data_dir)  # elsewhere when the data directory may fill up
        self.args = args
        self.env = env
        self.proc = None
        self.preexec = None  # runs in the child before exec (e.g. to lower its limits)
        self.log_lines = []
        self.port = None

    def start(self, timeout=20):
        env = dict(os.environ)
        env.update(self.env or {})
        if ON_POSTGRES and "REWIND_DATABASE_URL" not in (self.env or {}):
            env["REWIND_DATABASE_URL"] = database_for(self.data_dir)
        self.log_path = os.path.join(self.log_dir, "server.log")
        SERVER_LOGS.add(self.log_path)
        if "--smtp-host" not in self.args and "REWIND_SMTP_HOST" not in (self.env or {}):
            MAIL_TO_LOG_SERVER_LOGS.add(self.log_path)
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        self.log_file = open(self.log_path, "ab")
        # A restart appends to the same log: look for "listening" only in the new part.
        log_start = self.log_file.tell()
        args = [SERVER_BIN, "--data-dir", self.data_dir] + self.args
        if self.port and "--port" not in self.args:
            args += ["--port", str(self.port)]
        elif "--port" not in self.args:
            args += ["--port", "0"]
        self.proc = subprocess.Popen(args, stdout=self.log_file, stderr=self.log_file, env=env,
                                     preexec_fn=self.preexec)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(rb"listening on http://[^:]+:(\d+)", self.read_log()[log_start:])
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.read_log().decode(errors="replace"))
            time.sleep(0.02)
        raise RuntimeError("server did not start: " + self.read_log().decode(errors="replace"))

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, version=None):
        return f"ws://127.0.0.1:{self.port}/ws" + (f"?v={version}" if version else "")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log_file.close()
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log_file.close()

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)


# Fast hashing for tests; rate limits off for loopback unless a test turns them on.
FAST_ARGS = ["--password-hash-ops", "1", "--password-hash-mem-kib", "1024",
             "--rate-limit-exempt", "127.0.0.1", "--ws-rate-count", "100000",
             "--chat-rate-count", "100000", "--friend-rate-count", "100000",
             "--login-account-rate-count", "100000"]


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server(args=[...], smtp=sink) -> Server. Stopped at teardown."""
    started = []

    def start(args=(), smtp=None, fast=True, data_dir=None, env=None, log_dir=None):
        a = (FAST_ARGS if fast else []) + list(args)
        if smtp is not None:
            a += ["--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port), "--smtp-tls", smtp.tls,
                  "--mail-address", SMTP_USER, "--mail-password", SMTP_PASSWORD]
            if smtp.tls != "none":
                a += ["--smtp-ca-file", smtp_ca_file[0]]
        s = Server(data_dir or (tmp_path / f"data{len(started)}"), a, env=env, log_dir=log_dir)
        started.append(s)
        return s.start()

    smtp_ca_file = [None]
    start.ca = smtp_ca_file
    yield start
    for s in started:
        s.stop()


@pytest.fixture
def server(start_server, smtp, test_ca):
    """A server that sends its mail to the `smtp` sink over implicit TLS."""
    start_server.ca[0] = test_ca["ca"]
    return start_server(smtp=smtp)


def register(server, name, email_addr, password="password123", **kw):
    record_secret(password)
    return requests.post(server.base + "/api/v1/auth/register",
                         data={"name": name, "email": email_addr, "password": password},
                         headers={"Accept": "application/json"}, timeout=10, **kw)


def login(server, email_addr, password="password123"):
    record_secret(password)
    r = requests.post(server.base + "/api/v1/auth/login",
                      data={"email": email_addr, "password": password},
                      headers={"Accept": "application/json"}, timeout=10)
    if r.status_code == 201:
        record_secret(r.json()["payload"]["token"])
    return r


def create_user(server, mailbox, name, password="password123"):
    """Registers `name` through the real flow (mail link) and logs in. Returns
    (token, user_id)."""
    addr = f"{name.lower()}@example.test"
    r = register(server, name, addr, password)
    assert r.status_code == 201, r.text
    link = mailbox.link_for(addr)
    r = requests.get(link, timeout=10)
    assert r.status_code == 200, r.text
    r = login(server, addr, password)
    assert r.status_code == 201, r.text
    token = r.json()["payload"]["token"]
    ws = Client(server)
    ws.handshake(token)
    uid = ws.auth_payload["self_user"]["id"]
    # The close handshake ends the session before the server's close frame comes back, so
    # tests that count a user's sessions start from zero.
    ws.close()
    return token, uid


def befriend(server, a_token, b_token, b_name):
    """Makes two users friends through the gateway: a asks b by name, b accepts."""
    a, b = Client(server), Client(server)
    a.handshake(a_token)
    b.handshake(b_token)
    a.send("mutual_users", {"type": "request", "name": b_name})
    assert a.recv_type("ok")["type"] == "ok"
    a_name = a.auth_payload["self_user"]["name"]
    b.send("mutual_users", {"type": "response", "name": a_name})
    assert b.recv_type("ok")["type"] == "ok"
    # As in create_user: both sessions have ended (and told their friends) when the closes
    # return, so a test's first connection is never told that these two went offline.
    a.close()
    b.close()


@pytest.fixture
def trio(server, smtp):
    """alice and bob, friends; carol, nobody's friend: {name: (token, id)}."""
    users = {name: create_user(server, smtp.mailbox, name) for name in ("alice", "bob", "carol")}
    befriend(server, users["alice"][0], users["bob"][0], "bob")
    return users


def dm(users, a, b):
    """The chat_id of the direct messages between users a and b (names in `users`)."""
    return str(int(users[a][1]) ^ int(users[b][1]))


def connect(server, token, version=2):
    """A client that has authenticated with `token` (v2 unless told)."""
    c = Client(server, version=version)
    c.handshake(token)
    return c


def send_text(client, chat, text):
    """Sends `text` to `chat` and returns the message's id, from its echo."""
    client.send("chat", {"type": "send", "chat_id": chat, "content": text})
    return client.recv_type("chat")["payload"]["id"]


class Client:
    """A real WebSocket client speaking the gateway protocol.

    A v2 connection is told whenever one of its user's friends comes online or goes
    (docs/PROTOCOL.md, "presence"), which happens in most tests as their users connect and
    leave. Those frames are read past unless `presence=True` (tests/e2e/test_presence.py and
    the tests of presence across nodes), so that a test of something else sees only its own
    frames."""

    def __init__(self, server, version=None, timeout=5, presence=False):
        self.ws = websocket.create_connection(server.ws_url(version), timeout=timeout)
        self.auth_payload = None
        self.presence = presence

    def send(self, type_, payload):
        self.ws.send(json.dumps({"type": type_, "payload": payload}))

    def send_raw(self, text):
        self.ws.send(text)

    def recv(self, timeout=5):
        deadline = time.time() + timeout
        while True:
            self.ws.settimeout(max(0.01, deadline - time.time()))
            op, data = self.ws.recv_data()
            if op == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise ConnectionClosed(code, data[2:].decode(errors="replace"))
            frame = json.loads(data)
            if self.presence or frame.get("type") != "presence":
                return frame

    def recv_type(self, type_, timeout=5):
        """Skips frames until one of `type_` arrives."""
        deadline = time.time() + timeout
        while True:
            f = self.recv(max(0.01, deadline - time.time()))
            if f["type"] == type_:
                return f

    def expect_silence(self, seconds=0.3):
        try:
            f = self.recv(seconds)
        except websocket.WebSocketTimeoutException:
            return
        raise AssertionError(f"unexpected frame {f}")

    def wait_close(self, timeout=10):
        """Reads until the server closes; returns the close code."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.recv(max(0.01, deadline - time.time()))
            except ConnectionClosed as c:
                return c.code
            except (websocket.WebSocketConnectionClosedException, ConnectionResetError,
                    BrokenPipeError):
                return None
        raise AssertionError("server did not close the connection")

    def handshake(self, token, count=0):
        record_secret(token)
        self.send("heartbeat", {"count": count})
        assert self.recv()["payload"] == {"count": count}
        self.send("auth", {"auth": token})
        f = self.recv()
        assert f["type"] == "auth", f
        self.auth_payload = f["payload"]
        return f["payload"]

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def raw_session(server, token):
    """An authenticated session over a raw socket (rawws.py), which closes its TCP connection
    only when told to: a client that keeps its socket open after the close handshake."""
    from rawws import OP_TEXT, RawWs
    ws = RawWs(server.port)
    for type_, payload in (("heartbeat", {"count": 0}), ("auth", {"auth": token})):
        ws.text(json.dumps({"type": type_, "payload": payload}))
        op, data, _ = ws.recv_frame()
        assert op == OP_TEXT and json.loads(data)["type"] == type_, data
    return ws


class ConnectionClosed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason}")
        self.code = code
        self.reason = reason


@pytest.fixture(autouse=True)
def close_clients_at_teardown(start_server, monkeypatch):
    """Closes every client a test opened before its servers stop (every test: autouse): a
    server's graceful shutdown waits (up to its close-handshake timeout, 5 s) for each peer to
    answer its close frame and close the TCP connection, and an idle test client does neither
    by itself. Raw sockets a test opens are its own to close."""
    opened = []
    original = Client.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Client, "__init__", init)
    yield
    for c in opened:
        c.close()
        c.ws.shutdown()  # close() skips the socket once a server's close frame was read
