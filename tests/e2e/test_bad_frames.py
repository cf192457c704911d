"""Hundreds of generated malformed frames on one connection: every one gets an error frame,
the server does not crash, heartbeats keep working and another user's chat is unaffected."""
import json
import random
import threading
import time

from conftest import FAST_ARGS, Client, create_user

KNOWN = ["heartbeat", "auth", "chat", "load", "mutual_users"]


def generated_frames(rng, n):
    """(label, frame text) pairs that must each be refused with an error frame."""
    valid = [
        {"type": "chat", "payload": {"type": "send", "chat_id": "123", "content": "hi"}},
        {"type": "load", "payload": {"type": "chat", "load_id": "5", "datetime": "MjAyNi0xLTE=",
                                     "count": 5}},
        {"type": "mutual_users", "payload": {"type": "request", "name": "nobody"}},
    ]
    wrong_values = [None, True, 1, -1, 1.5, 10 ** 30, "", "x" * 5000, [], {}, [1, [2]],
                    {"a": {"b": 1}}]
    makers = []

    def truncated():
        text = json.dumps(rng.choice(valid))
        return "truncated", text[:rng.randrange(1, len(text) - 1)]

    def not_object():
        return "not_object", json.dumps(rng.choice([[1, 2], "str", 42, None, True, []]))

    def no_type():
        f = dict(rng.choice(valid))
        f.pop("type")
        return "no_type", json.dumps(f)

    def type_not_string():
        f = dict(rng.choice(valid))
        f["type"] = rng.choice(wrong_values[:3] + wrong_values[7:])
        return "type_not_string", json.dumps(f)

    def unknown_type():
        return "unknown_type", json.dumps({"type": rng.choice(
            ["Heartbeat", "AUTH", "ping", "guild", "", "x" * 300, "chat ", "load\u0000"]),
            "payload": {}})

    def wrong_field_type():
        f = json.loads(json.dumps(rng.choice(valid)))
        key = rng.choice(list(f["payload"].keys()))
        f["payload"][key] = rng.choice(wrong_values)
        if key == "content" and f["payload"][key] in ("", None):
            f["payload"][key] = 5  # empty content is a valid (ignored) send
        return "wrong_field_type:" + key, json.dumps(f)

    def missing_field():
        f = json.loads(json.dumps(rng.choice(valid)))
        key = rng.choice([k for k in f["payload"].keys() if k != "content"])
        del f["payload"][key]
        return "missing_field:" + key, json.dumps(f)

    def payload_not_object():
        return "payload_not_object", json.dumps(
            {"type": rng.choice(["chat", "load", "mutual_users", "auth"]),
             "payload": rng.choice(wrong_values[:9])})

    def huge_number():
        f = json.loads(json.dumps(valid[1]))
        f["payload"]["count"] = rng.choice([10 ** 40, -(10 ** 40), 1e308, -0.0, 0])
        return "huge_number", json.dumps(f)

    def huge_string_id():
        f = json.loads(json.dumps(valid[0]))
        f["payload"]["chat_id"] = "9" * rng.randrange(20, 3000)
        return "huge_id", json.dumps(f)

    def deep_nesting():
        d = rng.randrange(17, 400)
        return "deep", '{"type":"chat","payload":' + "[" * d + "]" * d + "}"

    def bad_escape():
        return "bad_escape", rng.choice([
            '{"type":"chat","payload":{"type":"send","chat_id":"1","content":"\\ud800"}}',
            '{"type":"chat","payload":{"type":"send","chat_id":"1","content":"\\udc00x"}}',
            '{"type":"auth","payload":{"auth":"\\x41"}}',
            '{"type":"auth","payload":{"auth":"\\u12"}}'])

    def duplicate_key():
        return "duplicate_key", rng.choice([
            '{"type":"heartbeat","type":"chat","payload":1}',
            '{"type":"load","payload":{"type":"mutual_users","type":"chat"}}',
            '{"type":"chat","payload":{"type":"send","chat_id":"1","chat_id":"2","content":"x"}}'])

    def garbage():
        return "garbage", "".join(rng.choice('{}[]":,tfn0123456789.eE+- abc\\') for _ in
                                  range(rng.randrange(1, 200)))

    makers = [truncated, not_object, no_type, type_not_string, unknown_type, wrong_field_type,
              missing_field, payload_not_object, huge_number, huge_string_id, deep_nesting,
              bad_escape, duplicate_key, garbage]
    out = []
    while len(out) < n:
        label, text = rng.choice(makers)()
        try:  # garbage may by chance be valid JSON of a valid frame: skip those
            j = json.loads(text)
            if isinstance(j, dict) and j.get("type") == "heartbeat" and label == "garbage":
                continue
        except ValueError:
            pass
        out.append((label, text))
    return out


def test_500_generated_malformed_frames_each_get_an_error(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    server = start_server(args=["--invalid-frame-limit", "100000"], smtp=smtp)
    ta, ia = create_user(server, smtp.mailbox, "alice")
    tb, ib = create_user(server, smtp.mailbox, "bob")
    tm, _ = create_user(server, smtp.mailbox, "mallory")
    a, b = Client(server), Client(server)
    a.handshake(ta)
    b.handshake(tb)
    a.send("mutual_users", {"type": "request", "name": "bob"})
    a.recv_type("ok")
    b.send("mutual_users", {"type": "response", "name": "alice"})
    b.recv_type("ok")
    chat = str(int(ia) ^ int(ib))

    # Alice and Bob chat the whole time.
    delivered = []
    stop = threading.Event()

    def chatter():
        i = 0
        while not stop.is_set():
            a.send("chat", {"type": "send", "chat_id": chat, "content": f"m{i}"})
            f = b.recv_type("chat", timeout=10)
            delivered.append(f["payload"]["content"])
            i += 1

    t = threading.Thread(target=chatter)
    t.start()

    m = Client(server)
    m.handshake(tm)
    frames = generated_frames(random.Random(20261125), 600)
    codes = {}
    for i, (label, text) in enumerate(frames):
        m.send_raw(text)
        f = m.recv(10)
        assert f["type"] == "error", (label, text[:200], f)
        codes[f["payload"]["code"]] = codes.get(f["payload"]["code"], 0) + 1
        if i % 50 == 0:
            m.send("heartbeat", {"i": i})
            assert m.recv()["payload"] == {"i": i}
    deadline = time.time() + 15  # on a busy machine the chatter may still be warming up
    while len(delivered) < 20 and time.time() < deadline and t.is_alive():
        time.sleep(0.05)
    stop.set()
    t.join(15)
    assert delivered == [f"m{i}" for i in range(len(delivered))]
    assert len(delivered) >= 20
    assert server.proc.poll() is None
    print(f"\n{len(frames)} malformed frames: error codes {codes}; "
          f"{len(delivered)} messages between two other users meanwhile, all in order")
