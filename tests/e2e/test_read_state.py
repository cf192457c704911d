"""End-to-end tests of read state and unread counts (docs/PROTOCOL.md, "read" and "load
chats"): a v2 `read` moves my read mark in a chat (never back), is stored, and tells my other
v2 connections at once; v2's `auth` answer and `load chats` give each of my chats its mark,
the count of the others' live messages after it and its newest message; v1 is unchanged."""
import pytest

from conftest import connect, dm, send_text as send


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def summary_of(chats, chat):
    [found] = [c for c in chats if c["chat_id"] == chat]
    return found


def load_chats(client):
    client.send("load", {"type": "chats"})
    f = client.recv_type("load")
    assert f["payload"]["type"] == "chats", f
    return f["payload"]["chats"]


def test_the_auth_answer_counts_the_others_messages_after_my_mark(server, trio):
    alice = connect(server, trio["alice"][0])
    chat = dm(trio, "alice", "bob")
    empty = summary_of(alice.auth_payload["chats"], chat)
    assert empty == {"chat_id": chat, "last_read_id": None, "unread_count": 0,
                     "last_message": None, "last_seq": 0}
    bob = connect(server, trio["bob"][0])
    first = send(bob, chat, "one")
    send(alice, chat, "mine")  # my own: never unread to me
    bob.recv_type("chat")
    send(bob, chat, "two")
    last = send(bob, chat, "three")
    later = connect(server, trio["alice"][0])
    s = summary_of(later.auth_payload["chats"], chat)
    assert s["unread_count"] == 3 and s["last_read_id"] is None, s
    assert s["last_message"]["id"] == last and s["last_message"]["content"] == "three"
    assert s["last_message"]["type"] == "send" and s["last_message"]["edited_at"] is None
    # Reading up to the first leaves two.
    later.send_raw('{"type":"read","payload":{"chat_id":"%s","message_id":"%s"},'
                   '"request_id":"r-1"}' % (chat, first))
    answer = later.recv_type("read")
    assert answer == {"type": "read", "payload": {"chat_id": chat, "message_id": first},
                      "request_id": "r-1"}
    assert summary_of(load_chats(later), chat)["unread_count"] == 2
    # bob's view is his own: alice's one message, nothing read.
    assert summary_of(load_chats(bob), chat)["unread_count"] == 1


def test_a_read_tells_my_other_v2_connections_and_never_moves_back(server, trio):
    chat = dm(trio, "alice", "bob")
    bob = connect(server, trio["bob"][0])
    m1, m2 = send(bob, chat, "one"), send(bob, chat, "two")
    phone = connect(server, trio["alice"][0])
    desk = connect(server, trio["alice"][0])
    app = connect(server, trio["alice"][0], version=1)
    phone.send("read", {"chat_id": chat, "message_id": m2})
    assert phone.recv() == {"type": "read", "payload": {"chat_id": chat, "message_id": m2}}
    assert desk.recv() == {"type": "read", "payload": {"chat_id": chat, "message_id": m2}}
    # Not to the app (v1 knows no read marks), not to bob.
    app.expect_silence()
    bob.expect_silence()
    # An earlier message leaves the mark where it is: the answer says where, nobody else hears.
    desk.send("read", {"chat_id": chat, "message_id": m1})
    assert desk.recv() == {"type": "read", "payload": {"chat_id": chat, "message_id": m2}}
    phone.expect_silence()
    s = summary_of(load_chats(desk), chat)
    assert s["last_read_id"] == m2 and s["unread_count"] == 0, s


def test_read_marks_and_counts_survive_a_restart_and_skip_deleted_messages(server, trio):
    chat = dm(trio, "alice", "bob")
    bob = connect(server, trio["bob"][0])
    m1 = send(bob, chat, "one")
    m2 = send(bob, chat, "two")
    send(bob, chat, "three")
    alice = connect(server, trio["alice"][0])
    alice.send("read", {"chat_id": chat, "message_id": m1})
    alice.recv_type("read")
    # A deleted message is no longer unread, nor the last message.
    bob.send("chat", {"type": "edit", "chat_id": chat, "id": m2, "content": ""})
    bob.recv_type("chat")
    alice.close()
    bob.close()
    server.restart()
    again = connect(server, trio["alice"][0])
    s = summary_of(again.auth_payload["chats"], chat)
    assert s["last_read_id"] == m1 and s["unread_count"] == 1, s
    assert s["last_message"]["content"] == "three"


def test_guild_chats_are_listed_and_counted(server, trio):
    alice = connect(server, trio["alice"][0])
    bob = connect(server, trio["bob"][0])
    alice.send("guild", {"type": "create", "name": "crew"})
    guild = alice.recv_type("guild")["payload"]["guild"]["id"]
    alice.send("guild", {"type": "add", "guild_id": guild, "name": "bob"})
    alice.recv_type("guild")
    bob.recv_type("guild")
    m = send(alice, guild, "hello crew")
    s = summary_of(load_chats(bob), guild)
    assert s["unread_count"] == 1 and s["last_message"]["id"] == m, s
    bob.send("read", {"chat_id": guild, "message_id": m})
    assert bob.recv_type("read")["payload"] == {"chat_id": guild, "message_id": m}
    assert summary_of(load_chats(bob), guild)["unread_count"] == 0
    # Chats come newest first: the guild's message is newer than anything in the pair's chat.
    assert load_chats(bob)[0]["chat_id"] == guild


def test_a_read_needs_a_message_of_a_chat_i_can_read(server, trio):
    chat = dm(trio, "alice", "bob")
    alice = connect(server, trio["alice"][0])
    carol = connect(server, trio["carol"][0])
    bob = connect(server, trio["bob"][0])
    mine = send(alice, chat, "hi bob")
    bob.recv_type("chat")
    # carol is in no chat with alice: there is no such chat for her.
    carol.send("read", {"chat_id": dm(trio, "carol", "alice"), "message_id": mine})
    f = carol.recv()
    assert f["type"] == "error" and f["payload"]["code"] == "4020", f
    carol.send("read", {"chat_id": chat, "message_id": mine})
    assert carol.recv()["payload"]["code"] == "4020"
    # A message of another chat, or none.
    alice.send("read", {"chat_id": chat, "message_id": "12345"})
    f = alice.recv()
    assert f["payload"] == {"code": "4021", "reason": "no such message in this chat."}, f
    for payload in ({"chat_id": chat}, {"chat_id": chat, "message_id": None},
                    {"chat_id": chat, "message_id": ""}, {"message_id": mine},
                    {"chat_id": chat, "message_id": []}):
        alice.send("read", payload)
        f = alice.recv()
        assert f["payload"]["code"] == "4003", (payload, f)
    # None of them moved alice's mark, nor told her other connection anything.
    assert summary_of(load_chats(alice), chat)["last_read_id"] is None
    # v1: `read` is an unknown type and `load chats` a load kind it does not have, as before.
    app = connect(server, trio["alice"][0], version=1)
    assert "chats" not in app.auth_payload
    app.send("read", {"chat_id": chat, "message_id": mine})
    assert app.recv()["payload"]["code"] == "4002"
    app.send("load", {"type": "chats"})
    assert app.recv()["payload"]["code"] == "4003"
    bob.expect_silence()


def test_a_former_friend_can_still_mark_what_they_can_read(server, trio):
    chat = dm(trio, "alice", "bob")
    alice = connect(server, trio["alice"][0])
    m = send(alice, chat, "bye")
    bob = connect(server, trio["bob"][0])
    bob.send("mutual_users", {"type": "delete", "name": "alice"})
    bob.recv_type("ok")
    bob.send("read", {"chat_id": chat, "message_id": m})
    assert bob.recv_type("read")["payload"]["message_id"] == m
    # The list is of my friends' and guilds' chats: a former friend's is not in it.
    assert all(c["chat_id"] != chat for c in load_chats(bob))
