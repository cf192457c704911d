"""End-to-end tests of how rewind-server serves its web client (web/, embedded in the
binary): paths, types, caching, security headers, and the small API it reads at start. The
client's behaviour in a real browser is tested in tests/browser."""
import os
import re
import socket

import requests

from conftest import ROOT

WEB_DIR = os.path.join(ROOT, "web")
ASSETS = sorted("/" + os.path.relpath(os.path.join(d, f), WEB_DIR).replace(os.sep, "/")
                for d, _, files in os.walk(WEB_DIR) for f in files if not f.startswith("."))
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def read(path):
    with open(os.path.join(WEB_DIR, path.lstrip("/")), "rb") as f:
        return f.read()


def test_root_is_the_web_client_with_strict_security_headers(server, smtp):
    r = requests.get(server.base + "/", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.content == read("/index.html")
    assert '<script type="module" src="/app.js">' in r.text
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-cache"
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["ETag"])


def test_every_file_of_web_is_served_with_its_type_and_bytes(server, smtp):
    assert "/index.html" in ASSETS and "/app.js" in ASSETS
    etags = set()
    for path in ASSETS:
        r = requests.get(server.base + path, timeout=10)
        assert r.status_code == 200, path
        assert r.content == read(path), path
        assert r.headers["Content-Type"] == TYPES[os.path.splitext(path)[1]], path
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        etags.add(r.headers["ETag"])
    assert len(etags) == len(ASSETS)


def test_the_client_loads_nothing_from_elsewhere():
    # Everything the client needs ships with the server: no absolute URLs in its files.
    for path in ASSETS:
        text = read(path).decode()
        for m in re.finditer(r"https?://[^\s'\"<>)]+", text):
            assert m.group(0).startswith("http://www.w3.org/"), (path, m.group(0))


def test_head_answers_the_headers_without_the_body(server, smtp):
    get = requests.get(server.base + "/app.js", timeout=10)
    head = requests.head(server.base + "/app.js", timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) == len(get.content)
    assert head.headers["ETag"] == get.headers["ETag"]


def test_a_matching_if_none_match_is_304_without_a_body(server, smtp):
    etag = requests.get(server.base + "/app.css", timeout=10).headers["ETag"]
    r = requests.get(server.base + "/app.css", headers={"If-None-Match": etag}, timeout=10)
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["ETag"] == etag
    r = requests.get(server.base + "/app.css", headers={"If-None-Match": '"stale"'}, timeout=10)
    assert r.status_code == 200 and r.content == read("/app.css")


def raw_get(server, target):
    """GET `target` exactly as written: requests (urllib3) would resolve `..` and `.` first."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_other_methods_and_unknown_files(server, smtp):
    r = requests.post(server.base + "/", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert requests.get(server.base + "/nope.js", timeout=10).status_code == 404
    assert raw_get(server, "/app.css") == (200, read("/app.css"))
    with open(os.path.join(ROOT, "CMakeLists.txt"), "rb") as f:
        outside = f.read()
    for target in ["/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt",
                   "/./../web/../CMakeLists.txt", "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
                   "/../../../../etc/passwd", "//etc/passwd", "/app.css/../../CMakeLists.txt"]:
        status, body = raw_get(server, target)
        assert status in (400, 404), target
        assert outside not in body and b"root:" not in body, target


def test_about_says_where_the_mail_goes(server, smtp, start_server):
    r = requests.get(server.base + "/api/v1/about", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"type": "about", "payload": {"mail": "smtp", "utc_offset": "+09:00"}}
    logged = start_server(args=["--utc-offset", "-05:30"])  # no SMTP server: the log
    r = requests.get(logged.base + "/api/v1/about", timeout=10)
    assert r.json() == {"type": "about", "payload": {"mail": "log", "utc_offset": "-05:30"}}


def test_the_verification_page_leads_back_to_the_client(server, smtp):
    requests.post(server.base + "/api/v1/auth/register",
                  data={"name": "dana", "email": "dana@example.test", "password": "password123"},
                  timeout=10)
    link = smtp.mailbox.link_for("dana@example.test")
    r = requests.get(link, headers={"Accept": "text/html"}, timeout=10)
    assert r.status_code == 200
    assert 'href="/"' in r.text
