"""End-to-end tests of the request field rules (issue 11; docs/PROTOCOL.md, "Request
fields"): against the real rewind-server binary, every field of every request type is
dropped, nulled, replaced by each other JSON type and emptied, on v1 and on v2. A refused
request answers its sender one error frame, reaches nobody else and changes nothing:
history, friends and guilds are compared before and after. The valid frame of each row is
sent last, so a row whose base payload was not valid cannot pass.

To cover a new request type, add a `Req` row to REQUESTS."""
import base64
import json

import pytest

from conftest import (FAST_ARGS, SMTP_PASSWORD, SMTP_USER, Client, Server, SmtpSink,
                      create_user)

# ------------------------------------------------------------------- outcomes


class Err:
    """The sender's next frame is an error with this code; nobody else hears anything."""

    def __init__(self, code):
        self.code = code

    def __repr__(self):
        return f"error {self.code}"


class Silent:
    """No answer at all (a send of empty content is ignored)."""

    def __repr__(self):
        return "silent"


class Check:
    """A documented outcome with events or answers; `run(world, sender_version)` reads them.
    `prepare(world)` runs first (e.g. to make a message that the case may delete)."""

    def __init__(self, run, label, prepare=None):
        self.run, self.label, self.prepare = run, label, prepare

    def __repr__(self):
        return self.label


INVALID = Err("4003")

# ----------------------------------------------------------------- field kinds
# What each kind of field is replaced with, and which replacement is refused how. A value
# the field accepts (an integer id, another string) is not a mutation. `empty` is the
# documented outcome of "" in this field.

MISSING = object()


VALID = object()  # the case is the request's valid frame (an optional field left out)


def mutations(kind, empty):
    common = [("missing", MISSING), ("null", None)]
    if kind in ("optional id", "offset"):  # optional: absent is the default, null is refused
        common = [("missing", MISSING, VALID), ("null", None)]
    if kind != "boolean":
        common += [("true", True), ("false", False)]
    common += [("array", []), ("array of a valid value", ["7"]), ("object", {}),
              ("object with the field", {"id": "7"})]
    if kind == "offset":
        own = [("negative", -1), ("fraction", 2.5), ("beyond int64", 2 ** 64), ("word", "many"),
               ("negative string", "-1"), ("padded", "3 "), ("past the last page", 1001)]
    elif kind == "choice":  # the payload's `type`
        own = [("integer", 7), ("unknown word", "bogus"), ("upper case", "SEND")]
    elif kind in ("id", "optional id"):
        own = [("zero", 0), ("negative", -7), ("fraction", 1.5), ("beyond int64", 2 ** 64),
               ("word", "abc"), ("zero string", "0"), ("negative string", "-3"),
               ("padded", " 12"), ("string beyond int64", "9" * 20)]
    elif kind == "count":
        own = [("zero", 0), ("negative", -1), ("fraction", 2.5), ("beyond int64", 2 ** 64),
               ("word", "many"), ("zero string", "0"), ("padded", "3 ")]
    elif kind == "text":
        own = [("integer", 7), ("fraction", 1.5)]
    elif kind == "boolean":  # true or false only
        own = [("integer", 1), ("zero", 0), ("word", "true")]
    else:
        raise ValueError(kind)
    out = [(m[0], m[1], m[2] if len(m) > 2 else INVALID) for m in common + own]
    out.append(("empty string", "", empty if empty is not None else INVALID))
    return out


def choice():
    return ("choice", None)


def id_():
    return ("id", None)


def count():
    return ("count", None)


def text(empty):
    return ("text", empty)


def boolean():
    return ("boolean", None)


def optional_id():
    return ("optional id", None)


def offset():
    return ("offset", None)


# ------------------------------------------------------------------ the world


class World:
    """One server, three users and five connections shared by every case of the module:
    alice and bob are friends and both in alice's guild `crew`; carol is nobody's friend.
    alice sends on the connection of the version under test; her other connection, bob's
    two and carol's are the observers."""

    def __init__(self, server, users):
        self.server = server
        self.users = users
        self.conns = {}
        self.beat = 0

    def uid(self, name):
        return self.users[name][1]

    def conn(self, name, version):
        return self.conns[(name, version)]

    def all_conns(self):
        return list(self.conns.values())

    def dm_members(self):
        return [self.conns[k] for k in self.conns if k[0] in ("alice", "bob")]

    def barrier(self):
        """A heartbeat round-trip on every connection: its echo must be the very next frame,
        so nothing else reached anyone before it."""
        self.beat += 1
        marker = {"barrier": self.beat}
        conns = self.all_conns()
        for c in conns:
            c.send("heartbeat", marker)
        for c in conns:
            f = c.recv(5)
            assert f == {"type": "heartbeat", "payload": marker}, f


def recv_chat(client, type_, content):
    f = client.recv(5)
    assert f["type"] == "chat" and f["payload"]["type"] == type_, f
    assert f["payload"]["content"] == content, f
    return f["payload"]


def send_message(w, content):
    """alice (v1) sends to bob; every connection of both receives it. Returns its id."""
    w.conn("alice", 1).send("chat", {"type": "send", "chat_id": w.dm, "content": content})
    ids = {recv_chat(c, "send", content)["id"] for c in w.dm_members()}
    assert len(ids) == 1
    return ids.pop()


def history(w, all_messages=False):
    """The DM's live messages as (id, content), oldest first, read on alice's v2 connection.
    Messages that cases send for themselves (content starting with "~") are left out."""
    c = w.conn("alice", 2)
    cursor = base64.b64encode(b"2100-1-5 09:05:01.4000").decode()
    c.send("load", {"type": "chat", "load_id": w.dm, "datetime": cursor, "count": 100})
    out = []
    while True:
        f = c.recv(5)
        if f["type"] == "load":
            assert f["payload"]["complete"] is True, f
            break
        assert f["type"] == "chat", f
        out.append((f["payload"]["id"], f["payload"]["content"]))
    return out if all_messages else [m for m in out if not m[1].startswith("~")]


def snapshot(w):
    """Everything a refused request must leave alone: alice's and carol's full v2 auth
    answers (friends, requests both ways, guilds with members and owner) and the history."""
    state = {}
    for name in ("alice", "carol"):
        c = w.conn(name, 2)
        c.send("auth", {"auth": w.users[name][0]})
        f = c.recv(5)
        assert f["type"] == "auth", f
        # Left out: `chats` follows from the history (compared below) and the read marks,
        # which a valid `read` moves (test_read_state.py checks that a refused one does not).
        state[name] = {k: v for k, v in f["payload"].items() if k != "chats"}
    state["history"] = history(w)
    return state


@pytest.fixture(scope="module")
def world(tmp_path_factory, test_ca):
    tmp = tmp_path_factory.mktemp("field-rules")
    sink = SmtpSink(test_ca, tmp)
    # Hundreds of refused frames on one connection: the invalid-frame limit is lifted.
    args = FAST_ARGS + ["--invalid-frame-limit", "1000000",
                        "--smtp-host", "127.0.0.1", "--smtp-port", str(sink.port),
                        "--smtp-tls", sink.tls, "--smtp-ca-file", test_ca["ca"],
                        "--mail-address", SMTP_USER, "--mail-password", SMTP_PASSWORD]
    server = Server(tmp / "data", args).start()
    w = None
    try:
        users = {n: create_user(server, sink.mailbox, n) for n in ("alice", "bob", "carol")}
        w = World(server, users)
        for name, version in (("alice", 1), ("alice", 2), ("bob", 1), ("bob", 2),
                              ("carol", 2)):
            c = Client(server, version=version)
            c.handshake(users[name][0])
            w.conns[(name, version)] = c
        a, b = w.conn("alice", 2), w.conn("bob", 2)
        a.send("mutual_users", {"type": "request", "name": "bob"})
        assert a.recv_type("ok")
        b.send("mutual_users", {"type": "response", "name": "alice"})
        assert b.recv_type("ok")
        a.send("guild", {"type": "create", "name": "crew"})
        w.guild = a.recv_type("guild")["payload"]["guild"]["id"]
        a.send("guild", {"type": "add", "guild_id": w.guild, "name": "bob"})
        assert a.recv_type("guild")["payload"]["type"] == "joined"
        assert b.recv_type("guild")["payload"]["type"] == "joined"
        # Drain the friend events of the set-up from every connection.
        for c in w.all_conns():
            while True:
                c.send("heartbeat", "drained")
                if c.recv_type("heartbeat")["payload"] == "drained":
                    break
        w.dm = str(int(w.uid("alice")) ^ int(w.uid("bob")))
        w.message_content = "the original text"
        w.message = send_message(w, w.message_content)
        w.edit_target = w.message
        w.barrier()
        yield w
    finally:
        if w:
            for c in w.all_conns():
                c.close()
                c.ws.shutdown()
        server.stop()
        sink.stop()


# ------------------------------------------------------- documented outcomes


def deletes_a_message():
    """edit with "": the edited message is deleted, announced to both members. The case
    edits a message made for it, so the shared one stays."""

    def prepare(w):
        w.edit_target = send_message(w, "~to be deleted")

    def run(w, version):
        for c in w.dm_members():
            p = recv_chat(c, "edit", "")
            assert p["id"] == w.edit_target, p
        w.edit_target = w.message

    return Check(run, "deletes the message", prepare)


def answer(type_, **expect):
    """The sender alone receives a frame of `type_` whose payload has the given items."""

    def run(w, version):
        f = w.conn("alice", version).recv(5)
        assert f["type"] == type_, f
        for k, v in expect.items():
            assert f["payload"][k] == v, f

    return Check(run, f"answers {type_}")


def chat_event(type_, content):
    def run(w, version):
        for c in w.dm_members():
            recv_chat(c, type_, content)

    return Check(run, f"chat {type_} to both members")


def history_answer():
    """The sender receives every live message (at most 100) as a chat event, oldest first,
    and on v2 the completion frame."""

    def prepare(w):
        w.expected_history = [m[0] for m in history(w, all_messages=True)]

    def run(w, version):
        c = w.conn("alice", version)
        got = []
        for _ in w.expected_history:
            f = c.recv(5)
            assert f["type"] == "chat", f
            got.append(f["payload"]["id"])
        assert got == w.expected_history and w.message in got
        if version == 2:
            f = c.recv(5)
            assert f["type"] == "load" and f["payload"]["complete"] is True, f

    return Check(run, "history", prepare)


def guild_event(action, recipients, then=None):
    def run(w, version):
        for name in recipients:
            f = w.conn(name, 2).recv(5)
            assert f["type"] == "guild" and f["payload"]["type"] == action, f
            if then:
                then(w, f["payload"])

    return Check(run, f"guild {action}")


def delete_created_guild(w, payload):
    """The control of `create` made a guild: delete it, so the guild state is as before."""
    a = w.conn("alice", 2)
    a.send("guild", {"type": "delete", "guild_id": payload["guild"]["id"]})
    f = a.recv(5)
    assert f["type"] == "guild" and f["payload"]["type"] == "deleted", f


# ---------------------------------------------------------------- the table


class Req:
    """One request type: its frame `type`, a function of the world giving a valid payload,
    the rule of each payload field (in the payload's order), what the valid frame does, and
    whether only v2 knows it (v1 answers every such frame, valid or not, with v1_code: 4002
    for a guild frame, 4003 for a load type v1 does not have)."""

    def __init__(self, label, type_, payload, fields, valid, v2_only=False, v1_code="4002"):
        self.label, self.type, self.payload, self.fields = label, type_, payload, fields
        self.valid, self.v2_only, self.v1_code = valid, v2_only, v1_code

    def __repr__(self):
        return self.label


REQUESTS = [
    Req("auth", "auth", lambda w: {"auth": w.users["alice"][0]},
        {"auth": text(empty=Err("4000"))}, answer("auth")),
    Req("chat send", "chat",
        lambda w: {"type": "send", "chat_id": w.dm, "content": "~valid send"},
        {"type": choice(), "chat_id": id_(), "content": text(empty=Silent())},
        chat_event("send", "~valid send")),
    # The valid edit writes the text the message already has: announced, nothing changes.
    Req("chat edit", "chat",
        lambda w: {"type": "edit", "chat_id": w.dm, "id": w.edit_target,
                   "content": w.message_content},
        {"type": choice(), "chat_id": id_(), "id": id_(), "content": text(deletes_a_message())},
        chat_event("edit", "the original text")),
    Req("load chat", "load",
        lambda w: {"type": "chat", "load_id": w.dm,
                   "datetime": base64.b64encode(b"2100-1-5 09:05:01.4000").decode(),
                   "count": 100},
        {"type": choice(), "load_id": id_(), "datetime": text(empty=Err("4024")),
         "count": count()},
        history_answer()),
    Req("load mutual_users", "load", lambda w: {"type": "mutual_users"}, {"type": choice()},
        answer("mutual_users")),
    Req("load guilds", "load", lambda w: {"type": "guilds"}, {"type": choice()},
        answer("load", type="guilds")),
    Req("load guild_members", "load", lambda w: {"type": "guild_members", "guild_id": w.guild},
        {"type": choice(), "guild_id": id_()}, answer("load", type="guild_members"),
        v2_only=True, v1_code="4003"),
    # Each friend operation names someone for whom the valid frame is refused by the
    # friend rules, so it changes nothing either.
    Req("mutual_users request", "mutual_users", lambda w: {"type": "request", "name": "bob"},
        {"type": choice(), "name": text(empty=Err("4010"))}, Err("4012")),
    Req("mutual_users response", "mutual_users",
        lambda w: {"type": "response", "name": "carol"},
        {"type": choice(), "name": text(empty=Err("4010"))}, Err("4014")),
    Req("mutual_users remove", "mutual_users", lambda w: {"type": "remove", "name": "carol"},
        {"type": choice(), "name": text(empty=Err("4010"))}, Err("4014")),
    Req("mutual_users delete", "mutual_users", lambda w: {"type": "delete", "name": "carol"},
        {"type": choice(), "name": text(empty=Err("4010"))}, Err("4015")),
    Req("guild create", "guild", lambda w: {"type": "create", "name": "second"},
        {"type": choice(), "name": text(empty=Err("4054"))},
        guild_event("created", ["alice"], then=delete_created_guild), v2_only=True),
    Req("guild rename", "guild", lambda w: {"type": "rename", "guild_id": w.guild, "name": "crew"},
        {"type": choice(), "guild_id": id_(), "name": text(empty=Err("4054"))},
        guild_event("renamed", ["alice", "bob"]), v2_only=True),
    Req("guild add", "guild", lambda w: {"type": "add", "guild_id": w.guild, "name": "bob"},
        {"type": choice(), "guild_id": id_(), "name": text(empty=Err("4010"))}, Err("4053"),
        v2_only=True),
    Req("guild remove", "guild", lambda w: {"type": "remove", "guild_id": w.guild, "name": "carol"},
        {"type": choice(), "guild_id": id_(), "name": text(empty=Err("4010"))}, Err("4010"),
        v2_only=True),
    # No such guild: the valid frame is answered 4050 and leaves alice's guild alone.
    Req("guild leave", "guild", lambda w: {"type": "leave", "guild_id": "12345"},
        {"type": choice(), "guild_id": id_()}, Err("4050"), v2_only=True),
    Req("guild delete", "guild", lambda w: {"type": "delete", "guild_id": "12345"},
        {"type": choice(), "guild_id": id_()}, Err("4050"), v2_only=True),
    # Blocking myself is refused, and unblocking someone I do not block is a no-op: neither
    # changes anything.
    Req("block block", "block", lambda w: {"type": "block", "name": "alice"},
        {"type": choice(), "name": text(empty=Err("4010"))}, Err("4011"), v2_only=True),
    Req("block unblock", "block", lambda w: {"type": "unblock", "name": "carol"},
        {"type": choice(), "name": text(empty=Err("4010"))}, answer("ok"), v2_only=True),
    Req("load blocked_users", "load", lambda w: {"type": "blocked_users"}, {"type": choice()},
        answer("load", type="blocked_users", users=[]), v2_only=True, v1_code="4003"),
    # alice's only other connection in the world is v1, which hears of no read mark.
    Req("read", "read", lambda w: {"chat_id": w.dm, "message_id": w.message},
        {"chat_id": id_(), "message_id": id_()}, answer("read"), v2_only=True),
    Req("load chats", "load", lambda w: {"type": "chats"}, {"type": choice()},
        answer("load", type="chats"), v2_only=True, v1_code="4003"),
    # Visible already: the valid frame changes nothing, so no friend hears of it.
    Req("presence", "presence", lambda w: {"visible": True}, {"visible": boolean()},
        answer("ok"), v2_only=True),
    # Nothing matches in the DM: an empty page. A query without a word is refused.
    Req("search", "search", lambda w: {"query": "zzzz", "chat_id": w.dm, "offset": 0},
        {"query": text(empty=INVALID), "chat_id": optional_id(), "offset": offset()},
        answer("search", results=[], more=False), v2_only=True),
]

PAYLOAD_MUTATIONS = [("payload missing", MISSING), ("payload null", None), ("payload 7", 7),
                     ("payload string", "x"), ("payload empty string", ""),
                     ("payload true", True), ("payload array", []), ("payload [{}]", [{}]),
                     ("payload empty object", {})]


def cases(req):
    """(label, field the reason must name, frame builder, outcome) for every mutation of
    `req`. Frames are built when sent: a case's `prepare` may change the world first."""
    first = next(iter(req.fields))
    for label, value in PAYLOAD_MUTATIONS:
        frame = {"type": req.type}
        if value is not MISSING:
            frame["payload"] = value
        named = first if value == {} else "payload"
        yield label, named, (lambda w, frame=frame: frame), INVALID
    for field, (kind, empty) in req.fields.items():
        for label, value, outcome in mutations(kind, empty):
            def build(w, field=field, value=value):
                payload = req.payload(w)
                assert list(payload) == list(req.fields), req  # the table names every field
                if value is MISSING:
                    del payload[field]
                else:
                    payload[field] = value
                return {"type": req.type, "payload": payload}

            yield f"'{field}' {label}", field, build, req.valid if outcome is VALID else outcome


def expect(w, version, outcome, label):
    """Reads the outcome on the sender (and, for a Check, wherever it is documented to go);
    returns an error's reason."""
    if isinstance(outcome, Err):
        f = w.conn("alice", version).recv(5)
        assert f["type"] == "error", (label, f)
        assert f["payload"]["code"] == outcome.code, (label, f)
        assert f["payload"]["reason"], (label, f)
        return f["payload"]["reason"]
    if isinstance(outcome, Check):
        outcome.run(w, version)
    return None


@pytest.fixture(autouse=True)
def _between_tests(world):
    """After a test, even a failed one: stray frames are read away and the shared message is
    put back, so one failure does not fail every later test."""
    yield
    w = world
    w.beat += 1
    for c in w.all_conns():
        c.send("heartbeat", {"drain": w.beat})
        while c.recv(5) != {"type": "heartbeat", "payload": {"drain": w.beat}}:
            pass
    w.edit_target = w.message
    if (w.message, w.message_content) not in history(w):
        w.message = w.edit_target = send_message(w, w.message_content)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.label.replace(" ", "_"))
def test_every_field_missing_null_wrong_or_empty(world, req, version):
    w = world
    unknown_here = req.v2_only and version == 1
    sender = w.conn("alice", version)
    before = snapshot(w)
    refused = 0
    for label, named, build, outcome in cases(req):
        if unknown_here:
            outcome = Err(req.v1_code)
        if isinstance(outcome, Check) and outcome.prepare:
            outcome.prepare(w)
        sender.send_raw(json.dumps(build(w)))
        reason = expect(w, version, outcome, label)
        if outcome is INVALID:
            assert f"'{named}'" in reason, (label, reason)
            refused += 1
        # Nothing else reached the sender, its other session, bob's or carol's.
        w.barrier()
    assert snapshot(w) == before, req
    assert refused >= len(PAYLOAD_MUTATIONS) + 10 or unknown_here

    # Last, the valid frame: proof that the row's base payload reaches the server as valid.
    valid = Err(req.v1_code) if unknown_here else req.valid
    if isinstance(valid, Check) and valid.prepare:
        valid.prepare(w)
    sender.send(req.type, req.payload(w))
    expect(w, version, valid, "valid frame")
    w.barrier()
    assert snapshot(w) == before, req


@pytest.mark.parametrize("version", [1, 2])
def test_edit_without_content_does_not_delete_the_message(world, version):
    """Issue 11: an edit whose content was missing or null deleted the message and announced
    the deletion. Only "" deletes."""
    w = world
    sender = w.conn("alice", version)
    kept = send_message(w, f"keep me on v{version}")
    for payload in ({"type": "edit", "chat_id": w.dm, "id": kept},
                    {"type": "edit", "chat_id": w.dm, "id": kept, "content": None}):
        sender.send("chat", payload)
        f = sender.recv(5)
        assert f["type"] == "error" and f["payload"]["code"] == "4003", f
        assert "'content'" in f["payload"]["reason"], f
        w.barrier()
    assert (kept, f"keep me on v{version}") in history(w)
    # The same edit with content "" does delete it, for both members.
    sender.send("chat", {"type": "edit", "chat_id": w.dm, "id": kept, "content": ""})
    for c in w.dm_members():
        assert recv_chat(c, "edit", "")["id"] == kept
    w.barrier()
    assert kept not in [m[0] for m in history(w)]


@pytest.mark.parametrize("version", [1, 2])
def test_send_without_content_is_refused_and_empty_content_ignored(world, version):
    w = world
    sender = w.conn("alice", version)
    before = history(w)
    for payload in ({"type": "send", "chat_id": w.dm},
                    {"type": "send", "chat_id": w.dm, "content": None}):
        sender.send("chat", payload)
        f = sender.recv(5)
        assert f["type"] == "error" and f["payload"]["code"] == "4003", f
        w.barrier()
    sender.send("chat", {"type": "send", "chat_id": w.dm, "content": ""})
    w.barrier()  # no answer, no event
    assert history(w) == before


def test_heartbeat_echoes_any_payload(world):
    """heartbeat has no required field: whatever its payload, it is echoed (none: null)."""
    w = world
    for version in (1, 2):
        c = w.conn("alice", version)
        c.send_raw('{"type":"heartbeat"}')
        assert c.recv(5) == {"type": "heartbeat", "payload": None}
        for payload in (None, 7, "", "x", True, [], {}, {"count": 0}):
            c.send("heartbeat", payload)
            assert c.recv(5) == {"type": "heartbeat", "payload": payload}
    w.barrier()


# v2's optional request id, at the frame's top level (docs/PROTOCOL.md, "Request ids").
REQUEST_ID_MUTATIONS = [("null", None), ("integer", 7), ("true", True), ("array", ["a"]),
                        ("object", {}), ("empty string", ""), ("65 characters", "a" * 65),
                        ("control character", "a\tb"), ("DEL", "a\x7fb"),
                        ("non-ASCII", "caf\u00e9")]


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.label.replace(" ", "_"))
def test_request_id_breaking_its_rule(world, req):
    """On v2 a request_id that is not 1-64 printable ASCII characters refuses the frame
    with 4003 naming 'request_id' (and carries no id back); on v1 the very same frames are
    answered as if the field were not there, as before request ids existed."""
    w = world
    before = snapshot(w)
    sender = w.conn("alice", 2)
    for label, value in REQUEST_ID_MUTATIONS:
        sender.send_raw(json.dumps({"type": req.type, "payload": req.payload(w),
                                    "request_id": value}))
        f = sender.recv(5)
        assert f["type"] == "error" and f["payload"]["code"] == "4003", (label, f)
        assert "'request_id'" in f["payload"]["reason"], (label, f)
        assert "request_id" not in f, (label, f)
        w.barrier()
    assert snapshot(w) == before, req

    sender = w.conn("alice", 1)
    for label, value in REQUEST_ID_MUTATIONS + [("valid", "r-1")]:
        outcome = Err(req.v1_code) if req.v2_only else req.valid
        if isinstance(outcome, Check) and outcome.prepare:
            outcome.prepare(w)
        sender.send_raw(json.dumps({"type": req.type, "payload": req.payload(w),
                                    "request_id": value}))
        expect(w, 1, outcome, label)
        w.barrier()
    assert snapshot(w) == before, req


def test_heartbeat_request_id_breaking_its_rule(world):
    """heartbeat accepts any payload, but not any request_id on v2; v1 echoes as ever."""
    w = world
    for label, value in REQUEST_ID_MUTATIONS:
        frame = json.dumps({"type": "heartbeat", "payload": {"n": 1}, "request_id": value})
        w.conn("alice", 2).send_raw(frame)
        f = w.conn("alice", 2).recv(5)
        assert f["type"] == "error" and f["payload"]["code"] == "4003", (label, f)
        w.conn("alice", 1).send_raw(frame)
        assert w.conn("alice", 1).recv(5) == {"type": "heartbeat", "payload": {"n": 1}}, label
    w.barrier()


def test_send_nonce_breaking_its_rule(world):
    """A chat send's optional nonce (v2, docs/PROTOCOL.md "No duplicate on retry") has the
    request id's rule: null, another JSON type, "", over 64 characters or another character
    refuses the send with 4003 naming 'nonce', and nothing is sent; v1 never reads it, so the
    very same frames are sent there as ever."""
    w = world
    req = next(r for r in REQUESTS if r.label == "chat send")
    before = snapshot(w)
    for version in (2, 1):
        sender = w.conn("alice", version)
        for label, value in REQUEST_ID_MUTATIONS:
            sender.send_raw(json.dumps({"type": "chat",
                                        "payload": dict(req.payload(w), nonce=value)}))
            if version == 2:
                f = sender.recv(5)
                assert f["type"] == "error" and f["payload"]["code"] == "4003", (label, f)
                assert "'nonce'" in f["payload"]["reason"], (label, f)
            else:
                expect(w, 1, req.valid, label)
            w.barrier()
        assert snapshot(w) == before, version
