"""End-to-end tests of catch-up after being away (docs/PROTOCOL.md, "Catch-up after being
away"): v2 chat events carry each change's `seq`, chat summaries their chat's `last_seq`, and a
v2 `auth` with `since` gets what each of those chats missed (sends, edits, deletions), in
order, before any live event, or `reload` past the bound; v1 is unchanged."""
import json
import threading

import pytest

from conftest import connect, dm, send_text as send


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def auth_since(client, token, since, request_id=None):
    """Heartbeat, then an auth with `since`; returns the auth answer's payload."""
    client.send("heartbeat", {"count": 0})
    assert client.recv()["type"] == "heartbeat"
    frame = {"type": "auth", "payload": {"auth": token, "since": since}}
    if request_id:
        frame["request_id"] = request_id
    client.send_raw(json.dumps(frame))
    f = client.recv()
    assert f["type"] == "auth", f
    client.auth_payload = f["payload"]
    return f


def reconnect(server, token, since, request_id=None):
    """A new v2 connection whose auth asks the catch-up of `since`. Returns (client, the
    replayed chat payloads, the catch_up payload)."""
    from conftest import Client
    c = Client(server, version=2)
    auth_since(c, token, since, request_id)
    replayed = []
    while True:
        f = c.recv()
        if f["type"] == "catch_up":
            if request_id:
                assert f["request_id"] == request_id, f
            return c, replayed, f["payload"]
        assert f["type"] == "chat", f
        if request_id:
            assert f["request_id"] == request_id, f
        replayed.append(f["payload"])


def chat_summary(payload, chat):
    [found] = [c for c in payload["chats"] if c["chat_id"] == chat]
    return found


def edit(client, chat, message_id, content):
    client.send("chat", {"type": "edit", "chat_id": chat, "id": message_id, "content": content})
    return client.recv_type("chat")["payload"]


def test_changes_carry_their_seq_and_summaries_the_chats_position(server, trio):
    chat = dm(trio, "alice", "bob")
    alice = connect(server, trio["alice"][0])
    assert chat_summary(alice.auth_payload, chat)["last_seq"] == 0
    bob = connect(server, trio["bob"][0])
    v1 = connect(server, trio["bob"][0], version=1)
    first = send(alice, chat, "one")
    seen = bob.recv_type("chat")["payload"]
    assert seen["seq"] == 1 and list(seen)[-1] == "seq", seen
    assert "seq" not in v1.recv_type("chat")["payload"]  # v1's frame never changes
    edited = edit(alice, chat, first, "one!")
    assert edited["seq"] == 2
    assert bob.recv_type("chat")["payload"]["seq"] == 2
    # An echo's nonce comes after seq.
    alice.send("chat", {"type": "send", "chat_id": chat, "content": "two", "nonce": "n-1"})
    echo = alice.recv_type("chat")["payload"]
    assert list(echo)[-2:] == ["seq", "nonce"] and echo["seq"] == 3, echo
    later = connect(server, trio["bob"][0])
    assert chat_summary(later.auth_payload, chat)["last_seq"] == 3
    later.send("load", {"type": "chats"})
    assert chat_summary(later.recv_type("load")["payload"], chat)["last_seq"] == 3
    # History shows messages as they are now: no seq there.
    later.send("load", {"type": "chat", "load_id": chat,
                        "datetime": "MjA5OS0wMS0wMSAwMDowMDowMA", "count": 10})
    page = [later.recv_type("chat")["payload"] for _ in range(2)]
    assert all("seq" not in m for m in page), page


def test_a_reconnect_gets_what_it_missed_in_order_before_live_events(server, trio):
    chat = dm(trio, "alice", "bob")
    alice = connect(server, trio["alice"][0])
    bob = connect(server, trio["bob"][0])
    kept = send(bob, chat, "kept")
    gone = send(bob, chat, "to be deleted")
    alice.recv_type("chat")
    position = alice.recv_type("chat")["payload"]["seq"]
    alice.close()
    # While alice is away: a send, an edit, a deletion, a send and its deletion.
    missed = send(bob, chat, "missed")
    edit(bob, chat, kept, "kept, edited")
    edit(bob, chat, gone, "")
    brief = send(bob, chat, "brief")
    edit(bob, chat, brief, "")
    back, replayed, caught = reconnect(server, trio["alice"][0], {chat: position}, "a-1")
    assert [(m["type"], m["id"], m["content"], m["seq"]) for m in replayed] == [
        ("send", missed, "missed", position + 1),
        ("edit", kept, "kept, edited", position + 2),
        ("edit", gone, "", position + 3),
        ("edit", brief, "", position + 5),  # sent and deleted while away: its deletion alone
    ]
    assert all(m["chat_id"] == chat and m["user_id"] == trio["bob"][1] for m in replayed)
    assert replayed[1]["edited_at"] is not None
    assert caught == {"chats": [{"chat_id": chat, "seq": position + 5, "reload": False}]}
    # Live events follow, and only them.
    live = send(bob, chat, "live")
    f = back.recv()
    assert f["type"] == "chat" and f["payload"]["id"] == live, f
    assert f["payload"]["seq"] == position + 6 and "request_id" not in f
    back.expect_silence()


def test_a_chat_with_nothing_new_is_listed_at_its_position(server, trio):
    chat = dm(trio, "alice", "bob")
    bob = connect(server, trio["bob"][0])
    send(bob, chat, "hello")
    alice, replayed, caught = reconnect(server, trio["alice"][0], {chat: 1})
    assert replayed == [] and caught == {"chats": [{"chat_id": chat, "seq": 1, "reload": False}]}
    # {} asks nothing and is answered with an empty list.
    _, replayed, caught = reconnect(server, trio["alice"][0], {})
    assert replayed == [] and caught == {"chats": []}
    # Without since: no catch_up frame.
    later = connect(server, trio["alice"][0])
    later.expect_silence()


def test_past_the_bound_or_the_chats_position_the_chat_is_to_be_reloaded(server, trio):
    chat = dm(trio, "alice", "bob")
    bob = connect(server, trio["bob"][0])
    for i in range(502):
        bob.send("chat", {"type": "send", "chat_id": chat, "content": f"m{i}"})
    for _ in range(502):
        last = bob.recv_type("chat")["payload"]
    assert last["seq"] == 502
    # 501 missed: reload, no changes; 500 missed: replayed.
    _, replayed, caught = reconnect(server, trio["alice"][0], {chat: 1})
    assert replayed == [] and caught["chats"] == [{"chat_id": chat, "seq": 502, "reload": True}]
    _, replayed, caught = reconnect(server, trio["alice"][0], {chat: "2"})
    assert [m["seq"] for m in replayed] == list(range(3, 503))
    assert [m["content"] for m in replayed[-2:]] == ["m500", "m501"]
    assert caught["chats"] == [{"chat_id": chat, "seq": 502, "reload": False}]
    # A position the chat never reached (another server's data): reload.
    _, replayed, caught = reconnect(server, trio["alice"][0], {chat: 9000})
    assert replayed == [] and caught["chats"] == [{"chat_id": chat, "seq": 502, "reload": True}]


def test_only_my_chats_are_caught_up(server, trio):
    chat = dm(trio, "alice", "bob")
    carols = dm(trio, "bob", "carol")  # not a chat of alice's (nor of anyone: never friends)
    bob = connect(server, trio["bob"][0])
    send(bob, chat, "hi")
    bob.send("guild", {"type": "create", "name": "crew"})
    crew = bob.recv_type("guild")["payload"]["guild"]["id"]
    bob.send("chat", {"type": "send", "chat_id": crew, "content": "members only"})
    bob.recv_type("chat")
    _, replayed, caught = reconnect(
        server, trio["alice"][0], {carols: 0, crew: 0, "4242": 0, chat: 0})
    assert [m["content"] for m in replayed] == ["hi"]
    assert caught["chats"] == [{"chat_id": chat, "seq": 1, "reload": False}]
    # A former friend's chat is still mine to read, so still caught up.
    bob.send("mutual_users", {"type": "delete", "name": "alice"})
    bob.recv_type("ok")
    _, replayed, caught = reconnect(server, trio["alice"][0], {chat: 0})
    assert [m["content"] for m in replayed] == ["hi"] and len(caught["chats"]) == 1


def test_a_guild_chat_is_caught_up_for_its_members(server, trio):
    alice = connect(server, trio["alice"][0])
    alice.send("guild", {"type": "create", "name": "crew"})
    crew = alice.recv_type("guild")["payload"]["guild"]["id"]
    alice.send("guild", {"type": "add", "guild_id": crew, "name": "bob"})
    alice.recv_type("guild")
    bob = connect(server, trio["bob"][0])
    start = chat_summary(bob.auth_payload, crew)["last_seq"]
    bob.close()
    said = send(alice, crew, "while you were out")
    _, replayed, caught = reconnect(server, trio["bob"][0], {crew: start})
    assert [(m["id"], m["chat_id"]) for m in replayed] == [(said, crew)]
    assert caught["chats"] == [{"chat_id": crew, "seq": start + 1, "reload": False}]


def test_catch_up_survives_a_restart(server, trio):
    chat = dm(trio, "alice", "bob")
    bob = connect(server, trio["bob"][0])
    send(bob, chat, "before")
    bob.close()
    server.restart()
    bob = connect(server, trio["bob"][0])
    after = send(bob, chat, "after the restart")
    _, replayed, caught = reconnect(server, trio["alice"][0], {chat: 1})
    assert [(m["id"], m["seq"]) for m in replayed] == [(after, 2)]
    assert caught["chats"] == [{"chat_id": chat, "seq": 2, "reload": False}]


def test_only_the_first_auth_catches_up_and_v1_ignores_since(server, trio):
    chat = dm(trio, "alice", "bob")
    bob = connect(server, trio["bob"][0])
    send(bob, chat, "one")
    alice, replayed, _ = reconnect(server, trio["alice"][0], {chat: 0})
    assert len(replayed) == 1
    # A refresh on the same connection answers the auth and nothing more.
    alice.send("auth", {"auth": trio["alice"][0], "since": {chat: 0}})
    assert alice.recv()["type"] == "auth"
    alice.expect_silence()
    from conftest import Client
    v1 = Client(server, version=1)
    v1.send("heartbeat", {"count": 0})
    v1.recv()
    v1.send("auth", {"auth": trio["alice"][0], "since": "not even an object"})
    assert v1.recv()["type"] == "auth"
    v1.expect_silence()


def test_a_catch_up_past_the_send_queue_share_reloads_that_chat_and_replays_the_others(
        start_server, smtp, test_ca):
    from conftest import befriend, create_user
    start_server.ca[0] = test_ca["ca"]
    # A quarter of 64 KiB: 16 KiB of changes at most.
    server = start_server(smtp=smtp, args=["--send-queue-bytes", "65536",
                                           "--history-max-count", "2"])
    users = {n: create_user(server, smtp.mailbox, n) for n in ("alice", "bob", "carol")}
    befriend(server, users["alice"][0], users["bob"][0], "bob")
    befriend(server, users["alice"][0], users["carol"][0], "carol")
    big, small = dm(users, "alice", "bob"), dm(users, "alice", "carol")
    bob = connect(server, users["bob"][0])
    carol = connect(server, users["carol"][0])
    for i in range(60):  # about 60 x 480 bytes: past the share
        bob.send("chat", {"type": "send", "chat_id": big, "content": f"{i:03d}" + "x" * 300})
    for _ in range(60):
        bob.recv_type("chat")
    send(carol, small, "short")
    _, replayed, caught = reconnect(server, users["alice"][0], {big: 0, small: 0})
    assert [m["content"] for m in replayed] == ["short"]
    assert caught["chats"] == [{"chat_id": big, "seq": 60, "reload": True},
                               {"chat_id": small, "seq": 1, "reload": False}]


def test_nothing_is_lost_or_repeated_while_a_busy_chat_is_caught_up(server, trio):
    """A chat keeps changing while alice reconnects again and again: each connection's replay
    and live events together hold every change after its position, in order, and a client
    that skips what it has (the documented rule) applies each exactly once."""
    chat = dm(trio, "alice", "bob")
    bob = connect(server, trio["bob"][0])
    stop = threading.Event()
    sent = []

    def keep_sending():
        i = 0
        while not stop.is_set():
            bob.send("chat", {"type": "send", "chat_id": chat, "content": f"busy {i}"})
            sent.append(i)
            i += 1
            if i % 5 == 0:  # about 300 a second: bob's unread echoes stay far from his queue's cap
                stop.wait(0.015)

    t = threading.Thread(target=keep_sending)
    t.start()
    replays = 0
    try:
        position = 0
        for _ in range(15):
            c, replayed, caught = reconnect(server, trio["alice"][0], {chat: position})
            [entry] = caught["chats"]
            seqs = [m["seq"] for m in replayed]
            if entry["reload"]:  # a slow reconnect (a sanitizer build) fell past the bound
                assert entry["seq"] - position > 500 and seqs == [], (position, entry)
                position = entry["seq"]
                c.close()
                continue
            replays += 1
            assert seqs == list(range(position + 1, entry["seq"] + 1)), (position, seqs[:5])
            # Then live events, continuing where the catch-up ended: a client skips a change at
            # or below its position (one on its way when the answer left), and misses none.
            expect = entry["seq"] + 1
            while expect <= entry["seq"] + 30:
                seq = c.recv_type("chat")["payload"]["seq"]
                if seq < expect:
                    continue
                assert seq == expect, (seq, expect)
                expect += 1
            position = expect - 1 - 10  # the next connection starts a little behind
            c.close()
    finally:
        stop.set()
        t.join()
    assert replays >= 10, replays


@pytest.mark.parametrize("since, code", [
    (None, "4003"),
    ("12", "4003"),
    ([["1", 2]], "4003"),
    ({"abc": 1}, "4003"),
    ({"0": 1}, "4003"),
    ({"-5": 1}, "4003"),
    ({"108": -1}, "4003"),
    ({"108": 1.5}, "4003"),
    ({"108": None}, "4003"),
    ({"108": "x"}, "4003"),
    ({"108": True}, "4003"),
    ({str(i + 1): 0 for i in range(1001)}, "4003"),
])
def test_a_bad_since_refuses_the_auth(server, trio, since, code):
    from conftest import Client
    c = Client(server, version=2)
    c.send("heartbeat", {"count": 0})
    c.recv()
    c.send("auth", {"auth": trio["alice"][0], "since": since})
    f = c.recv()
    assert f["type"] == "error" and f["payload"]["code"] == code, f
    if code == "4003":
        assert "'since'" in f["payload"]["reason"], f
    # Nothing is held: a good auth after it works.
    c.send("auth", {"auth": trio["alice"][0]})
    assert c.recv()["type"] == "auth"


def test_a_chat_named_twice_in_since_is_a_repeated_key(server, trio):
    from conftest import Client
    c = Client(server, version=2)
    c.send("heartbeat", {"count": 0})
    c.recv()
    c.send_raw('{"type":"auth","payload":{"auth":"%s","since":{"108":1,"108":2}}}'
               % trio["alice"][0])
    f = c.recv()
    assert f["type"] == "error" and f["payload"]["code"] == "4001", f
    # 1000 chats are accepted.
    _, _, caught = reconnect(server, trio["alice"][0], {str(i + 1): 0 for i in range(1000)})
    assert caught == {"chats": []}
