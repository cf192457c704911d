"""End-to-end tests of a send's nonce (docs/PROTOCOL.md, "No duplicate on retry"): a v2
`chat send` may carry a nonce of the client's choosing; the echo on the connection that sent
it carries the nonce back, and the same nonce sent again (a retry after a lost connection, on
a new one, even after a restart) is answered with the message the first send stored, and
nothing new is stored or announced. v1 never reads the field."""
import base64
import json

import pytest
import requests

from conftest import Client, befriend, create_user, free_port


@pytest.fixture(autouse=True)
def _close_clients(close_clients_at_teardown):
    """Every test here closes its clients before its servers stop (see conftest)."""


@pytest.fixture
def admin_server(start_server, smtp, test_ca):
    """A server with its admin listener (for /metrics) on a free port."""
    start_server.ca[0] = test_ca["ca"]
    admin = free_port()
    server = start_server(smtp=smtp, args=["--admin-port", str(admin)])
    server.admin_port = admin
    return server


@pytest.fixture
def pair(admin_server, smtp):
    """alice and bob, friends: tokens, ids and their DM's chat id."""
    alice = create_user(admin_server, smtp.mailbox, "alice")
    bob = create_user(admin_server, smtp.mailbox, "bob")
    befriend(admin_server, alice[0], bob[0], "bob")
    return {"alice": alice, "bob": bob, "dm": str(int(alice[1]) ^ int(bob[1]))}


def connect(server, token, version=2):
    c = Client(server, version=version)
    c.handshake(token)
    return c


def send(client, payload, request_id=None):
    frame = {"type": "chat", "payload": payload}
    if request_id is not None:
        frame["request_id"] = request_id
    client.send_raw(json.dumps(frame))


def history(server, token, chat_id):
    """The chat's live messages as v2 payloads, oldest first, read on a new connection (so no
    live event is mistaken for history)."""
    client = connect(server, token)
    cursor = base64.b64encode(b"2100-1-1 00:00:00.0000").decode()
    client.send("load", {"type": "chat", "load_id": chat_id, "datetime": cursor, "count": 100})
    out = []
    while True:
        f = client.recv(5)
        if f["type"] == "load":
            client.close()
            return out
        assert f["type"] == "chat", f
        out.append(f["payload"])


def deduplicated(server):
    r = requests.get(f"http://127.0.0.1:{server.admin_port}/metrics", timeout=5)
    for line in r.text.splitlines():
        if line.startswith("rewind_sends_deduplicated_total "):
            return float(line.split()[1])
    raise AssertionError("no rewind_sends_deduplicated_total")


def test_a_retry_with_the_nonce_answers_the_first_message_even_after_a_restart(
        admin_server, pair):
    server = admin_server
    mine = connect(server, pair["alice"][0])
    my_other = connect(server, pair["alice"][0])
    bob = connect(server, pair["bob"][0])
    send(mine, {"type": "send", "chat_id": pair["dm"], "content": "once", "nonce": "n-1"}, "s-1")
    echo = mine.recv()
    assert echo["type"] == "chat" and echo["payload"]["content"] == "once", echo
    assert echo["payload"]["nonce"] == "n-1" and echo["request_id"] == "s-1", echo
    first = dict(echo["payload"])
    del first["nonce"]
    # Everyone else gets the event as ever: no nonce, no request id.
    for other in (my_other, bob):
        assert other.recv() == {"type": "chat", "payload": first}
    # A retry is answered with the message as it is now, which is no change: no seq.
    del first["seq"]

    # The answer was lost; the client retries on a new connection, with a new request id.
    retry = connect(server, pair["alice"][0])
    send(retry, {"type": "send", "chat_id": pair["dm"], "content": "once", "nonce": "n-1"}, "s-2")
    again = retry.recv()
    assert again == {"type": "chat", "payload": dict(first, nonce="n-1"), "request_id": "s-2"}
    # Without a request id, the answer still carries the nonce.
    send(retry, {"type": "send", "chat_id": pair["dm"], "content": "once", "nonce": "n-1"})
    assert retry.recv() == {"type": "chat", "payload": dict(first, nonce="n-1")}
    for other in (mine, my_other, bob):
        other.expect_silence()
    assert [m["id"] for m in history(server, pair["bob"][0], pair["dm"])] == [first["id"]]
    assert deduplicated(server) == 2

    # Another nonce, or none, is another message.
    send(retry, {"type": "send", "chat_id": pair["dm"], "content": "once", "nonce": "n-2"})
    second = retry.recv()
    assert second["payload"]["id"] != first["id"] and second["payload"]["nonce"] == "n-2"
    send(retry, {"type": "send", "chat_id": pair["dm"], "content": "once"})
    third = retry.recv()
    assert "nonce" not in third["payload"], third
    assert len(history(server, pair["bob"][0], pair["dm"])) == 3

    for c in (mine, my_other, bob, retry):
        c.close()
    server.restart()
    after = connect(server, pair["alice"][0])
    bob = connect(server, pair["bob"][0])
    send(after, {"type": "send", "chat_id": pair["dm"], "content": "once", "nonce": "n-1"}, "s-3")
    assert after.recv() == {"type": "chat", "payload": dict(first, nonce="n-1"),
                            "request_id": "s-3"}
    bob.expect_silence()
    assert len(history(server, pair["bob"][0], pair["dm"])) == 3


def test_a_retry_answers_the_message_as_it_is_now(admin_server, pair):
    mine = connect(admin_server, pair["alice"][0])
    bob = connect(admin_server, pair["bob"][0])
    send(mine, {"type": "send", "chat_id": pair["dm"], "content": "draft", "nonce": "n-e"})
    sent = mine.recv()["payload"]
    bob.recv()
    mine.send("chat", {"type": "edit", "chat_id": pair["dm"], "id": sent["id"],
                       "content": "final"})
    edited = mine.recv()["payload"]
    bob.recv()
    send(mine, {"type": "send", "chat_id": pair["dm"], "content": "draft", "nonce": "n-e"}, "r")
    f = mine.recv()
    now = {k: v for k, v in edited.items() if k != "seq"}  # the message now: no change's seq
    assert f == {"type": "chat", "payload": dict(now, type="send", nonce="n-e"),
                 "request_id": "r"}, f
    assert f["payload"]["edited_at"] is not None
    # Deleted since: answered as its deletion (an edit to empty content), so a client drops
    # the pending copy instead of showing it again.
    mine.send("chat", {"type": "edit", "chat_id": pair["dm"], "id": sent["id"], "content": ""})
    deleted = mine.recv()["payload"]
    bob.recv()
    send(mine, {"type": "send", "chat_id": pair["dm"], "content": "draft", "nonce": "n-e"})
    f = mine.recv()
    now = {k: v for k, v in deleted.items() if k != "seq"}
    assert f == {"type": "chat", "payload": dict(now, nonce="n-e")}, f
    assert f["payload"]["type"] == "edit" and f["payload"]["content"] == ""
    bob.expect_silence()
    assert history(admin_server, pair["bob"][0], pair["dm"]) == []


def test_a_nonce_is_the_senders_own_in_one_chat(admin_server, pair, smtp):
    """bob's send with alice's nonce, and alice's in another chat, are messages of their own;
    nothing is deduplicated across them."""
    carol = create_user(admin_server, smtp.mailbox, "carol")
    befriend(admin_server, pair["alice"][0], carol[0], "carol")
    other_dm = str(int(pair["alice"][1]) ^ int(carol[1]))
    alice = connect(admin_server, pair["alice"][0])
    bob = connect(admin_server, pair["bob"][0])
    send(alice, {"type": "send", "chat_id": pair["dm"], "content": "a", "nonce": "same"})
    a = alice.recv()["payload"]
    bob.recv()
    send(bob, {"type": "send", "chat_id": pair["dm"], "content": "b", "nonce": "same"})
    b = bob.recv()["payload"]
    assert alice.recv()["payload"]["id"] == b["id"]
    send(alice, {"type": "send", "chat_id": other_dm, "content": "c", "nonce": "same"})
    c = alice.recv()["payload"]
    assert len({a["id"], b["id"], c["id"]}) == 3
    assert deduplicated(admin_server) == 0


def test_v1_never_reads_a_nonce(admin_server, pair):
    app = connect(admin_server, pair["alice"][0], version=1)
    bob = connect(admin_server, pair["bob"][0])
    for _ in range(2):
        send(app, {"type": "send", "chat_id": pair["dm"], "content": "app", "nonce": "n-1"})
        f = app.recv()
        assert "nonce" not in f["payload"] and "edited_at" not in f["payload"], f
        assert bob.recv()["payload"]["content"] == "app"
    assert len(history(admin_server, pair["bob"][0], pair["dm"])) == 2
