"""A real SMTP server for the end-to-end tests: aiosmtpd on loopback, speaking implicit TLS
(as the seed's smtp.icmp.kr:465) or STARTTLS or plain, with AUTH, that stores every
message it receives as <n>.eml in a directory.

usage: smtp_sink.py --port N --dir DIR --cert CERT --key KEY [--tls implicit|starttls|none]
                    [--user U --password P] [--fail-first N]
Prints "ready" on stdout once it accepts connections.
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, directory, fail_first):
        self.directory = directory
        self.count = 0
        self.fail_left = fail_first
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return "451 temporary failure (test)"
            self.count += 1
            n = self.count
        path = os.path.join(self.directory, f"{n:05d}.eml")
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(f"X-Envelope-From: {envelope.mail_from}\r\n".encode())
            f.write(f"X-Envelope-To: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, path)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--tls", default="implicit")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--until-signal", action="store_true",
                   help="run until SIGTERM/SIGINT instead of until stdin closes (scripts)")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            auth_data.login.decode() == a.user and auth_data.password.decode() == a.password
        return AuthResult(success=ok)

    kwargs = dict(hostname="127.0.0.1", port=a.port)
    if a.user:
        kwargs.update(authenticator=authenticator, auth_require_tls=(a.tls != "none"),
                      auth_exclude_mechanism=["CRAM-MD5"])
    else:
        kwargs.update(auth_require_tls=False)
    if a.tls == "implicit":
        kwargs["ssl_context"] = ctx
    elif a.tls == "starttls":
        kwargs.update(tls_context=ctx, require_starttls=True)
    controller = Controller(Sink(a.dir, a.fail_first), **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        if a.until_signal:
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            while not stop.wait(1):
                pass
        else:
            sys.stdin.read()  # runs until the test closes our stdin or kills us
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
