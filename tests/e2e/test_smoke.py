from conftest import Client, create_user


def test_register_verify_login_and_auth_over_the_gateway(server, smtp):
    token, uid = create_user(server, smtp.mailbox, "alice")
    c = Client(server)
    payload = c.handshake(token)
    assert payload["self_user"] == {"id": uid, "name": "alice", "profile": None}
    assert payload["mutual_users"] == "[]"
