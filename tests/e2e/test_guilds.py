"""End-to-end tests of guilds (issue 6): group chats of friends. The real rewind-server
binary, real accounts created through the mail link, real WebSocket clients on v2 (guild
frames) and v1 (the published app, which must never see them)."""
import base64
import json
import datetime
import re

import pytest
import websocket

from conftest import Client, create_user

KST = datetime.timezone(datetime.timedelta(hours=9))
CREATED_AT_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


# ---------------------------------------------------------------------------- helpers


def make_users(server, smtp, *names):
    return {n: create_user(server, smtp.mailbox, n) for n in names}


def connect(server, token, version=2):
    c = Client(server, version=version)
    c.handshake(token)
    return c


def user_obj(users, name):
    return {"id": users[name][1], "name": name, "profile": None}


def expect_error(client, code):
    f = client.recv()
    assert f["type"] == "error", f
    assert f["payload"]["code"] == code, f
    return f["payload"]


def make_friends(conns, a, b):
    conns[a].send("mutual_users", {"type": "request", "name": b})
    assert conns[a].recv()["type"] == "ok"
    assert conns[b].recv_type("mutual_users")["payload"]["type"] == "request"
    conns[b].send("mutual_users", {"type": "response", "name": a})
    assert conns[b].recv()["type"] == "ok"
    assert conns[a].recv_type("mutual_users")["payload"]["type"] == "response"


def guild_op(client, op, **fields):
    client.send("guild", dict({"type": op}, **fields))


def recv_guild(client, action=None):
    f = client.recv()
    assert f["type"] == "guild", f
    if action:
        assert f["payload"]["type"] == action, f
    return f["payload"]


def create_guild(client, name="crew"):
    guild_op(client, "create", name=name)
    return recv_guild(client, "created")["guild"]


def add(conns, actor, guild_id, name, members):
    """actor adds name; every connection in members (names) receives `joined`."""
    guild_op(conns[actor], "add", guild_id=guild_id, name=name)
    events = [recv_guild(conns[m], "joined") for m in members]
    return events[0]


def load_guilds(client):
    client.send("load", {"type": "guilds"})
    f = client.recv()
    assert f["type"] == "load" and f["payload"]["type"] == "guilds", f
    return f["payload"]["guilds"]


def load_members(client, guild_id):
    client.send("load", {"type": "guild_members", "guild_id": guild_id})
    f = client.recv()
    assert f["type"] == "load" and f["payload"]["type"] == "guild_members", f
    p = f["payload"]
    assert p["guild_id"] == guild_id and p["member_count"] == len(p["members"]), p
    return p


def member_names(client, guild_id):
    return [m["name"] for m in load_members(client, guild_id)["members"]]


def summary(users, gid, name, owner, count):
    return {"id": gid, "name": name, "owner_id": users[owner][1], "member_count": count}


def send_chat(client, chat_id, content):
    client.send("chat", {"type": "send", "chat_id": chat_id, "content": content})


def recv_chat(client):
    f = client.recv()
    assert f["type"] == "chat", f
    return f["payload"]


def cursor_now():
    dt = datetime.datetime.now(KST) + datetime.timedelta(seconds=5)
    text = f"{dt.year}-{dt.month}-{dt.day} {dt:%H:%M:%S}.{dt.microsecond // 100000}000"
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def crew(server, smtp):
    """alice (owner), bob and carol, all friends with alice; dave is nobody's friend. Each
    has a v2 connection; alice's guild 'crew' has alice and bob."""
    users = make_users(server, smtp, "alice", "bob", "carol", "dave")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(conns, "alice", "bob")
    make_friends(conns, "alice", "carol")
    g = create_guild(conns["alice"])
    add(conns, "alice", g["id"], "bob", ["alice", "bob"])
    return users, conns, g["id"]


# ---------------------------------------------------------------------------- tests


def test_create_add_and_see_the_guild_everywhere(server, smtp):
    users = make_users(server, smtp, "alice", "bob")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(conns, "alice", "bob")
    alice_v1 = connect(server, users["alice"][0], version=None)
    bob_v1 = connect(server, users["bob"][0], version=None)

    guild_op(conns["alice"], "create", name="  Crew 🎉  ")
    ev = recv_guild(conns["alice"], "created")
    g = ev["guild"]
    assert re.fullmatch(r"[1-9]\d*", g["id"])
    # The creator's event has the member list: the creator alone.
    assert g == dict(summary(users, g["id"], "Crew 🎉", "alice", 1),
                     members=[user_obj(users, "alice")])
    assert ev["user"] == user_obj(users, "alice")
    conns["bob"].expect_silence()  # not a member yet

    guild_op(conns["alice"], "add", guild_id=g["id"], name="bob")
    for c in (conns["alice"], conns["bob"]):  # bob's own event is enough to show the guild
        ev = recv_guild(c, "joined")
        assert ev == {"type": "joined", "guild": summary(users, g["id"], "Crew 🎉", "alice", 2),
                      "user": user_obj(users, "bob"), "actor": user_obj(users, "alice")}
    # The members, on demand, in joining order.
    for c in (conns["alice"], conns["bob"]):
        assert load_members(c, g["id"]) == {
            "type": "guild_members", "guild_id": g["id"], "owner_id": users["alice"][1],
            "member_count": 2, "members": [user_obj(users, "alice"), user_obj(users, "bob")]}

    # v1 (the published app) never receives guild frames...
    alice_v1.expect_silence()
    bob_v1.expect_silence()
    # ... but can list guilds, as it always could (members included), and its auth response
    # is unchanged.
    assert load_guilds(bob_v1) == [{"id": g["id"], "name": "Crew 🎉",
                                    "owner_id": users["alice"][1],
                                    "members": [user_obj(users, "alice"), user_obj(users, "bob")]}]
    v1 = connect(server, users["bob"][0], version=None)
    assert "guilds" not in v1.auth_payload
    assert isinstance(v1.auth_payload["mutual_users"], str)

    # v2 lists summaries; the members come from load guild_members.
    listed = load_guilds(conns["bob"])
    assert listed == [summary(users, g["id"], "Crew 🎉", "alice", 2)]
    fresh = connect(server, users["bob"][0])
    assert fresh.auth_payload["guilds"] == listed


def test_guild_requests_are_refused_on_v1(server, smtp):
    users = make_users(server, smtp, "alice")
    v1 = connect(server, users["alice"][0], version=None)
    guild_op(v1, "create", name="crew")
    expect_error(v1, "4002")
    assert load_guilds(v1) == []


def test_add_refusals(crew):
    users, conns, gid = crew
    # carol is alice's friend but not bob's: bob may only add his own friends.
    guild_op(conns["bob"], "add", guild_id=gid, name="carol")
    expect_error(conns["bob"], "4015")
    guild_op(conns["alice"], "add", guild_id=gid, name="dave")  # not a friend
    expect_error(conns["alice"], "4015")
    guild_op(conns["alice"], "add", guild_id=gid, name="bob")
    expect_error(conns["alice"], "4053")
    guild_op(conns["alice"], "add", guild_id=gid, name="nobody")
    expect_error(conns["alice"], "4010")
    # A non-member learns nothing: the same code as a guild that does not exist.
    guild_op(conns["carol"], "add", guild_id=gid, name="alice")
    expect_error(conns["carol"], "4050")
    guild_op(conns["carol"], "leave", guild_id="12345")
    expect_error(conns["carol"], "4050")
    for bad in ["", "   ", "x" * 65, "tab\tname"]:
        guild_op(conns["alice"], "create", name=bad)
        expect_error(conns["alice"], "4054")
    guild_op(conns["alice"], "create", guild_id=gid)
    expect_error(conns["alice"], "4003")
    for n in ("alice", "bob", "carol"):
        conns[n].expect_silence(0.2)


def test_only_the_owner_renames_removes_and_deletes(crew):
    users, conns, gid = crew
    guild_op(conns["bob"], "rename", guild_id=gid, name="mine")
    expect_error(conns["bob"], "4051")
    guild_op(conns["bob"], "remove", guild_id=gid, name="alice")
    expect_error(conns["bob"], "4051")
    guild_op(conns["bob"], "delete", guild_id=gid)
    expect_error(conns["bob"], "4051")
    guild_op(conns["alice"], "remove", guild_id=gid, name="alice")
    expect_error(conns["alice"], "4011")
    guild_op(conns["alice"], "remove", guild_id=gid, name="carol")  # not a member
    expect_error(conns["alice"], "4010")

    guild_op(conns["alice"], "rename", guild_id=gid, name="new crew")
    for n in ("alice", "bob"):
        ev = recv_guild(conns[n], "renamed")
        assert ev["guild"]["name"] == "new crew"
        assert ev["user"] == user_obj(users, "alice")


def test_removed_member_stops_receiving_at_once(crew):
    users, conns, gid = crew
    add(conns, "alice", gid, "carol", ["alice", "bob", "carol"])
    guild_op(conns["alice"], "remove", guild_id=gid, name="bob")
    for n in ("alice", "bob", "carol"):
        ev = recv_guild(conns[n], "left")
        assert ev == {"type": "left", "guild": summary(users, gid, "crew", "alice", 2),
                      "user": user_obj(users, "bob"), "actor": user_obj(users, "alice")}
    assert member_names(conns["carol"], gid) == ["alice", "carol"]
    send_chat(conns["alice"], gid, "bob is gone")
    assert recv_chat(conns["alice"])["content"] == "bob is gone"
    assert recv_chat(conns["carol"])["content"] == "bob is gone"
    conns["bob"].expect_silence()
    send_chat(conns["bob"], gid, "let me in")
    expect_error(conns["bob"], "4050")
    conns["bob"].send("load", {"type": "guild_members", "guild_id": gid})
    expect_error(conns["bob"], "4050")
    conns["bob"].send("load", {"type": "chat", "load_id": gid, "datetime": cursor_now(),
                               "count": 10})
    expect_error(conns["bob"], "4050")
    assert load_guilds(conns["bob"]) == []


def test_leaving_passes_ownership_to_the_earliest_member_and_the_last_deletes(crew):
    users, conns, gid = crew
    add(conns, "alice", gid, "carol", ["alice", "bob", "carol"])
    guild_op(conns["bob"], "leave", guild_id=gid)  # a member leaves
    for n in ("alice", "bob", "carol"):
        ev = recv_guild(conns[n], "left")
        assert ev["user"] == user_obj(users, "bob")
        assert "new_owner" not in ev  # the owner stays
    guild_op(conns["bob"], "add", guild_id=gid, name="alice")  # no longer a member
    expect_error(conns["bob"], "4050")
    add(conns, "alice", gid, "bob", ["alice", "carol", "bob"])  # back, joined last now

    guild_op(conns["alice"], "leave", guild_id=gid)  # the owner leaves: carol joined first
    for n in ("alice", "bob", "carol"):
        ev = recv_guild(conns[n], "left")
        assert ev["guild"] == summary(users, gid, "crew", "carol", 2)
        assert ev["new_owner"] == user_obj(users, "carol")
        assert ev["user"] == ev["actor"] == user_obj(users, "alice")
    assert member_names(conns["bob"], gid) == ["carol", "bob"]
    guild_op(conns["carol"], "rename", guild_id=gid, name="carol's")
    assert recv_guild(conns["carol"], "renamed")["guild"]["owner_id"] == users["carol"][1]
    recv_guild(conns["bob"], "renamed")

    guild_op(conns["carol"], "leave", guild_id=gid)
    assert recv_guild(conns["carol"], "left")["guild"]["owner_id"] == users["bob"][1]
    assert recv_guild(conns["bob"], "left")["new_owner"] == user_obj(users, "bob")
    guild_op(conns["bob"], "leave", guild_id=gid)  # the last member: the guild is gone
    ev = recv_guild(conns["bob"], "left")
    assert ev["guild"]["member_count"] == 0
    for n in ("alice", "bob", "carol"):
        assert load_guilds(conns[n]) == []
    send_chat(conns["bob"], gid, "anyone?")
    expect_error(conns["bob"], "4020")  # no guild by that id any more: an unknown chat


def test_owner_deletes_the_guild(crew):
    users, conns, gid = crew
    guild_op(conns["alice"], "delete", guild_id=gid)
    for n in ("alice", "bob"):
        ev = recv_guild(conns[n], "deleted")
        assert ev["guild"] == summary(users, gid, "crew", "alice", 2)  # as it was
        assert ev["user"] == user_obj(users, "alice")
        assert load_guilds(conns[n]) == []
    guild_op(conns["alice"], "rename", guild_id=gid, name="again")
    expect_error(conns["alice"], "4050")


def test_size_limit(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(args=["--max-guild-members", "2"], smtp=smtp)
    users = make_users(server, smtp, "alice", "bob", "carol")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(conns, "alice", "bob")
    make_friends(conns, "alice", "carol")
    gid = create_guild(conns["alice"])["id"]
    add(conns, "alice", gid, "bob", ["alice", "bob"])
    guild_op(conns["alice"], "add", guild_id=gid, name="carol")
    p = expect_error(conns["alice"], "4052")
    assert "2" in p["reason"]
    conns["bob"].expect_silence()
    conns["carol"].expect_silence()


def test_guild_chat_send_edit_delete_and_history(crew):
    users, conns, gid = crew
    add(conns, "alice", gid, "carol", ["alice", "bob", "carol"])
    send_chat(conns["bob"], gid, "hello crew")
    sent = [recv_chat(conns[n]) for n in ("alice", "bob", "carol")]
    assert sent[0] == sent[1] == sent[2]
    p = sent[0]
    assert list(p) == ["type", "id", "user_id", "chat_id", "content", "created_at", "edited_at",
                       "seq"]
    assert p["seq"] == 1  # the first change of the guild's chat
    assert p["type"] == "send" and p["chat_id"] == gid and p["user_id"] == users["bob"][1]
    assert CREATED_AT_RE.match(p["created_at"]) and p["edited_at"] is None
    send_chat(conns["carol"], gid, "second")
    second = [recv_chat(conns[n]) for n in ("alice", "bob", "carol")][0]

    conns["bob"].send("chat", {"type": "edit", "chat_id": gid, "id": p["id"], "content": "hi!"})
    edits = [recv_chat(conns[n]) for n in ("alice", "bob", "carol")]
    assert edits[0] == edits[1] == edits[2]
    edited_at = edits[0]["edited_at"]
    assert CREATED_AT_RE.match(edited_at) and edited_at >= p["created_at"]
    assert edits[0] == dict(p, type="edit", content="hi!", edited_at=edited_at, seq=3)
    # Only the author edits their message.
    conns["alice"].send("chat", {"type": "edit", "chat_id": gid, "id": p["id"], "content": "x"})
    expect_error(conns["alice"], "4021")
    conns["carol"].send("chat", {"type": "edit", "chat_id": gid, "id": second["id"],
                                 "content": ""})
    for n in ("alice", "bob", "carol"):
        e = recv_chat(conns[n])
        assert e == dict(second, type="edit", content="", edited_at=e["edited_at"], seq=4)
        assert CREATED_AT_RE.match(e["edited_at"])

    conns["alice"].send("load", {"type": "chat", "load_id": gid, "datetime": cursor_now(),
                                 "count": 10})
    h = recv_chat(conns["alice"])
    # The deleted one is left out; history shows messages, not changes: no seq.
    assert h == {**{k: v for k, v in p.items() if k != "seq"}, "content": "hi!",
                 "edited_at": edited_at}
    done = conns["alice"].recv()
    assert done["payload"] == {"type": "chat", "load_id": gid, "count": 1, "complete": True,
                               "more": False}

    # A non-member (dave; carol's friend or not) can neither read nor write.
    send_chat(conns["dave"], gid, "hi?")
    expect_error(conns["dave"], "4050")
    conns["dave"].send("load", {"type": "chat", "load_id": gid, "datetime": cursor_now(),
                                "count": 10})
    expect_error(conns["dave"], "4050")
    conns["dave"].send("chat", {"type": "edit", "chat_id": gid, "id": p["id"], "content": "y"})
    expect_error(conns["dave"], "4050")


def test_v1_connections_of_members_get_no_guild_frames(server, smtp):
    users = make_users(server, smtp, "alice", "bob")
    conns = {n: connect(server, users[n][0]) for n in users}
    make_friends(conns, "alice", "bob")
    bob_v1 = connect(server, users["bob"][0], version=None)
    gid = create_guild(conns["alice"])["id"]
    add(conns, "alice", gid, "bob", ["alice", "bob"])
    send_chat(conns["alice"], gid, "guild text")
    assert recv_chat(conns["bob"])["content"] == "guild text"
    recv_chat(conns["alice"])
    guild_op(conns["alice"], "rename", guild_id=gid, name="renamed")
    recv_guild(conns["bob"], "renamed")
    bob_v1.expect_silence(0.5)
    # Direct messages still reach v1.
    dm = str(int(users["alice"][1]) ^ int(users["bob"][1]))
    send_chat(conns["alice"], dm, "direct")
    assert recv_chat(bob_v1)["content"] == "direct"
    # `load guilds` works on v1 too.
    assert [g["id"] for g in load_guilds(bob_v1)] == [gid]


def test_guilds_membership_and_history_survive_a_restart(crew, server):
    users, conns, gid = crew
    add(conns, "alice", gid, "carol", ["alice", "bob", "carol"])
    guild_op(conns["alice"], "leave", guild_id=gid)
    for n in ("alice", "bob", "carol"):
        recv_guild(conns[n], "left")
    send_chat(conns["bob"], gid, "kept")
    p = recv_chat(conns["bob"])
    for c in conns.values():
        c.close()
        c.ws.shutdown()
    server.restart()
    bob = connect(server, users["bob"][0])
    assert bob.auth_payload["guilds"] == [summary(users, gid, "crew", "bob", 2)]
    assert member_names(bob, gid) == ["bob", "carol"]
    alice = connect(server, users["alice"][0])
    assert alice.auth_payload["guilds"] == []
    bob.send("load", {"type": "chat", "load_id": gid, "datetime": cursor_now(), "count": 5})
    del p["seq"]  # history shows the message, not its change
    assert recv_chat(bob) == p
    carol = connect(server, users["carol"][0])
    send_chat(carol, gid, "after restart")
    assert recv_chat(carol)["content"] == "after restart"
    bob.recv_type("chat")


def test_guild_members_is_v2_only_and_v1_answers_as_before(crew, server):
    users, conns, gid = crew
    v1 = connect(server, users["alice"][0], version=None)
    v1.send("load", {"type": "guild_members", "guild_id": gid})
    assert v1.recv() == {"type": "error", "payload": {
        "code": "4003", "reason": "load 'type' must be chat, mutual_users or guilds."}}
    # v2: a missing or bad id, a guild that does not exist and one I am not in.
    conns["alice"].send("load", {"type": "guild_members"})
    expect_error(conns["alice"], "4003")
    conns["alice"].send("load", {"type": "guild_members", "guild_id": "12345"})
    expect_error(conns["alice"], "4050")
    conns["carol"].send("load", {"type": "guild_members", "guild_id": gid})
    expect_error(conns["carol"], "4050")
    assert member_names(conns["alice"], gid) == ["alice", "bob"]


def recv_raw_guild_event(client, action):
    """The next guild frame as the bytes the server sent, and its payload."""
    client.ws.settimeout(5)
    text = client.ws.recv()
    f = json.loads(text)
    assert f["type"] == "guild" and f["payload"]["type"] == action, f
    return text, f["payload"]


def test_a_join_event_is_the_same_size_in_a_guild_of_3_and_of_30(server, smtp):
    """Membership events carry the member who joined and the count, not the member list, so
    what each member receives does not grow with the guild."""
    others = [f"m{i:02d}" for i in range(1, 30)]  # equal lengths: only the count may differ
    users = make_users(server, smtp, "own", "jx1", "jx2", *others)
    owner = connect(server, users["own"][0])
    for n in ["jx1", "jx2"] + others:
        c = connect(server, users[n][0])
        make_friends({"own": owner, n: c}, "own", n)
        if n not in ("jx1", "jx2"):
            c.close()
    joiners = {n: connect(server, users[n][0]) for n in ("jx1", "jx2")}

    def guild_with(name, members):
        gid = create_guild(owner, name)["id"]
        for m in members:
            guild_op(owner, "add", guild_id=gid, name=m)
            recv_guild(owner, "joined")
        return gid

    sizes = {}
    for gname, members, joiner in (("small", others[:2], "jx1"), ("large", others, "jx2")):
        gid = guild_with(gname, members)
        guild_op(owner, "add", guild_id=gid, name=joiner)
        raw, ev = recv_raw_guild_event(owner, "joined")
        assert ev == {"type": "joined",
                      "guild": summary(users, gid, gname, "own", len(members) + 2),
                      "user": user_obj(users, joiner), "actor": user_obj(users, "own")}
        # The new member's own event is the same frame: enough to list the guild.
        assert recv_raw_guild_event(joiners[joiner], "joined")[0] == raw
        sizes[gname] = len(raw.encode())
        assert len(load_members(owner, gid)["members"]) == len(members) + 2
    # 4 members vs 31: one more digit in member_count, nothing else.
    assert sizes["large"] == sizes["small"] + 1, sizes
    assert sizes["small"] < 400, sizes
