"""The server's texts that a person reads (the verification mail and page) in Korean or
English: chosen by the sign-up's `lang` field, else by Accept-Language."""
import requests

from conftest import register as register_in_english


def register(server, name, addr, language=None):
    if language is None:
        return register_in_english(server, name, addr)
    return requests.post(server.base + "/api/v1/auth/register",
                         data={"name": name, "email": addr, "password": "password123"},
                         headers={"Accept": "application/json", "Accept-Language": language},
                         timeout=10)


def mail_for(smtp, addr):
    return smtp.mailbox.wait_for(addr)[-1]


def test_a_korean_browser_gets_a_korean_mail_and_page(server, smtp):
    r = register(server, "민수", "minsu@example.test", "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7")
    assert r.status_code == 201, r.text
    # The API's JSON message stays the one the published app expects.
    assert r.json()["payload"]["message"] == "successfully created an account creation request."
    m = mail_for(smtp, "minsu@example.test")
    assert m["Subject"] == "REWIND 계정 인증"
    body = m.get_content()
    assert "민수님, 안녕하세요." in body and "24시간" in body, body
    link = smtp.mailbox.link_for("minsu@example.test")
    page = requests.get(link, headers={"Accept": "text/html", "Accept-Language": "ko"}, timeout=10)
    assert page.status_code == 200
    assert '<html lang="ko">' in page.text and "민수님, 환영합니다" in page.text, page.text
    again = requests.get(link, headers={"Accept": "text/html", "Accept-Language": "ko"},
                         timeout=10)
    assert again.status_code == 410
    assert "이 인증 링크는 유효하지 않거나" in again.text, again.text


def test_english_is_the_default(server, smtp):
    r = register(server, "alice", "alice@example.test")
    assert r.status_code == 201, r.text
    m = mail_for(smtp, "alice@example.test")
    assert m["Subject"] == "Verify your REWIND account"
    page = requests.get(smtp.mailbox.link_for("alice@example.test"),
                        headers={"Accept": "text/html", "Accept-Language": "fr-FR,de;q=0.5"},
                        timeout=10)
    assert '<html lang="en">' in page.text and "Welcome, alice" in page.text, page.text


def test_the_sign_up_field_lang_wins_over_the_header(server, smtp):
    r = requests.post(server.base + "/api/v1/auth/register",
                      data={"name": "bora", "email": "bora@example.test",
                            "password": "password123", "lang": "ko"},
                      headers={"Accept": "application/json", "Accept-Language": "en-US"},
                      timeout=10)
    assert r.status_code == 201, r.text
    assert mail_for(smtp, "bora@example.test")["Subject"] == "REWIND 계정 인증"


def test_the_notice_to_an_existing_account_follows_the_language_too(server, smtp):
    assert register(server, "carol", "carol@example.test").status_code == 201
    requests.get(smtp.mailbox.link_for("carol@example.test"), timeout=10)
    r = register(server, "carol2", "carol@example.test", "ko")
    assert r.status_code == 201
    notice = smtp.mailbox.wait_for("carol@example.test", count=2)[-1]
    assert notice["Subject"] == "누군가 이 주소로 REWIND 가입을 시도했습니다"


def test_a_link_lifetime_under_an_hour_is_said_in_minutes(start_server, smtp, test_ca):
    start_server.ca[0] = test_ca["ca"]
    s = start_server(args=["--verify-key-ttl", "0.25"], smtp=smtp)
    assert register(s, "dana", "dana@example.test").status_code == 201
    assert "expires in 15 minutes." in mail_for(smtp, "dana@example.test").get_content()
    assert register(s, "다나", "dana2@example.test", "ko").status_code == 201
    assert "15분 뒤에 만료됩니다" in mail_for(smtp, "dana2@example.test").get_content()
