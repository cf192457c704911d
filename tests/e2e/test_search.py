"""End-to-end tests of message search (docs/PROTOCOL.md, "search (v2 only)"): a v2 `search`
finds the live messages of my chats whose texts have every word of the query as the start of
one of their words, best match first, a page of 20 at a time; never a message of a chat I am
not in, never a deleted text; edits are found by their new words. Bad requests are refused
with 4003 (and v1 does not know the request)."""
import json

import pytest

from conftest import befriend, connect, dm, send_text as send


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


def search(client, query, **more):
    """The answer's payload; the request id comes back with it."""
    client.send_raw(json.dumps(
        {"type": "search", "payload": {"query": query, **more}, "request_id": "s-1"}))
    f = client.recv()
    while f["type"] not in ("search", "error"):  # events of what happened meanwhile
        f = client.recv()
    assert f["type"] == "search" and f["request_id"] == "s-1", f
    return f["payload"]


def found(client, query, **more):
    return [r["content"] for r in search(client, query, **more)["results"]]


def test_search_finds_my_messages_by_the_start_of_their_words(server, trio):
    chat = dm(trio, "alice", "bob")
    alice, bob = connect(server, trio["alice"][0]), connect(server, trio["bob"][0])
    m1 = send(alice, chat, "Dinner at Marco's tonight?")
    bob.recv_type("chat")
    send(bob, chat, "dinner is fine")
    alice.recv_type("chat")
    send(bob, chat, "오늘 저녁 먹을까요")
    alice.recv_type("chat")
    page = search(alice, "marco")
    assert page["offset"] == 0 and page["more"] is False
    [hit] = page["results"]
    assert hit["id"] == m1 and hit["chat_id"] == chat and hit["type"] == "send"
    assert hit["user_id"] == trio["alice"][1] and hit["content"] == "Dinner at Marco's tonight?"
    assert hit["created_at"] and hit["edited_at"] is None
    assert sorted(found(alice, "DIN")) == ["Dinner at Marco's tonight?", "dinner is fine"]
    assert found(alice, "dinner, tonight!") == ["Dinner at Marco's tonight?"]  # every word
    assert found(alice, "inner") == []  # the start of a word, not its inside
    assert found(bob, "저녁") == ["오늘 저녁 먹을까요"]
    # Only that chat, when one is named.
    befriend(server, trio["alice"][0], trio["carol"][0], "carol")
    carol = connect(server, trio["carol"][0])
    send(carol, dm(trio, "alice", "carol"), "dinner with carol")
    assert len(found(alice, "dinner")) == 3
    assert sorted(found(alice, "dinner", chat_id=chat, offset=0)) == [
        "Dinner at Marco's tonight?", "dinner is fine"]
    assert found(alice, "dinner", chat_id=dm(trio, "alice", "carol")) == ["dinner with carol"]


def test_search_never_returns_a_message_of_a_chat_i_am_not_in(server, trio):
    alice, bob = connect(server, trio["alice"][0]), connect(server, trio["bob"][0])
    befriend(server, trio["bob"][0], trio["carol"][0], "carol")
    carol = connect(server, trio["carol"][0])
    bc = dm(trio, "bob", "carol")
    send(bob, bc, "secret between bob and carol")
    carol.recv_type("chat")
    bob.send("guild", {"type": "create", "name": "hideout"})
    guild = bob.recv_type("guild")["payload"]["guild"]["id"]
    send(bob, guild, "secret of the guild")
    assert found(alice, "secret") == []
    assert sorted(found(bob, "secret")) == ["secret between bob and carol", "secret of the guild"]
    # Naming a chat that is not mine is refused as a load of it would be.
    alice.send("search", {"query": "secret", "chat_id": guild})
    assert alice.recv_type("error")["payload"]["code"] == "4050"
    alice.send("search", {"query": "secret", "chat_id": bc})
    assert alice.recv_type("error")["payload"]["code"] == "4020"
    # A member finds the guild's messages, from before they joined too; not after leaving.
    bob.send("guild", {"type": "add", "guild_id": guild, "name": "alice"})
    alice.recv_type("guild")
    assert found(alice, "secret") == ["secret of the guild"]
    alice.send("guild", {"type": "leave", "guild_id": guild})
    alice.recv_type("guild")
    assert found(alice, "secret") == []


def test_edits_and_deletions_change_what_is_found_and_a_former_friend_chat_is_searched(
        server, trio):
    chat = dm(trio, "alice", "bob")
    alice, bob = connect(server, trio["alice"][0]), connect(server, trio["bob"][0])
    m1 = send(alice, chat, "meet at the station")
    m2 = send(alice, chat, "bring the umbrella")
    alice.send("chat", {"type": "edit", "chat_id": chat, "id": m1, "content": "meet at the harbour"})
    alice.recv_type("chat")
    alice.send("chat", {"type": "edit", "chat_id": chat, "id": m2, "content": ""})
    alice.recv_type("chat")
    assert found(alice, "station") == [] and found(alice, "umbrella") == []
    [hit] = search(bob, "harbour")["results"]
    assert hit["id"] == m1 and hit["edited_at"] is not None
    # Friends no more: the chat's history is still theirs, and so is its search.
    alice.send("mutual_users", {"type": "delete", "name": "bob"})
    alice.recv_type("ok")
    assert found(alice, "harbour") == ["meet at the harbour"]


def test_results_come_a_page_at_a_time(server, trio):
    chat = dm(trio, "alice", "bob")
    alice = connect(server, trio["alice"][0])
    sent = {send(alice, chat, f"pizza number {i}") for i in range(25)}
    first = search(alice, "pizza")
    assert len(first["results"]) == 20 and first["more"] is True
    second = search(alice, "pizza", offset=20)
    assert second["offset"] == 20 and len(second["results"]) == 5 and second["more"] is False
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert set(ids) == sent and len(ids) == 25
    assert search(alice, "pizza", offset=1000)["results"] == []


@pytest.mark.parametrize("payload,reason", [
    ({"query": ""}, "word"),
    ({"query": "?! …"}, "word"),
    ({"query": "x" * 201}, "longer than 200"),
    ({"query": "pizza", "offset": 1001}, "offset"),
    ({"query": "pizza", "offset": -1}, "offset"),
    ({"query": "pizza", "offset": None}, "offset"),
    ({"query": "pizza", "chat_id": None}, "chat_id"),
    ({"query": "pizza", "chat_id": "0"}, "chat_id"),
    ({"query": 7}, "query"),
    ({}, "query"),
])
def test_a_bad_search_is_refused_with_4003(server, trio, payload, reason):
    alice = connect(server, trio["alice"][0])
    alice.send_raw(json.dumps(
        {"type": "search", "payload": payload, "request_id": "bad"}))
    f = alice.recv()
    assert f["type"] == "error" and f["request_id"] == "bad", f
    assert f["payload"]["code"] == "4003" and reason in f["payload"]["reason"], f
    # The connection goes on.
    assert search(alice, "nothing")["results"] == []


def test_v1_does_not_know_search(server, trio):
    app = connect(server, trio["alice"][0], version=1)
    app.send("search", {"query": "pizza"})
    assert app.recv()["payload"]["code"] == "4002"
