"""smtptest.py - a real SMTP server for the worker tests: Debian's
python3-aiosmtpd on 127.0.0.1, with STARTTLS (a test certificate) and
AUTH PLAIN/LOGIN required after it, or (implicit_tls) TLS from the start. Messages land in .messages as
(rcpt list, email.message.EmailMessage, raw bytes). hold() makes the next
DATA wait before answering (to kill a worker mid-send); stop()/start()
take it down and bring it back on the same port."""
import asyncio
import email
import email.policy
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = 'sikhnas', 's3cret-pass'


class Handler:
    def __init__(self, box):
        self.box = box

    async def handle_DATA(self, server, session, envelope):
        hold = self.box.take_hold()
        if hold:
            self.box.data_started.set()
            await asyncio.sleep(hold)
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self.box.lock:
            self.box.messages.append((list(envelope.rcpt_tos), msg, raw))
        return '250 OK queued'


def _auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and \
        data.password == PASSWORD.encode()
    return AuthResult(success=ok)


class Smtp:
    def __init__(self, port, cert, key, implicit_tls=False):
        self.implicit_tls = implicit_tls
        self.port = port
        self.lock = threading.Lock()
        self.messages = []
        self.hold_s = 0
        self.data_started = threading.Event()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.ctx = ctx
        self.ctl = None

    def take_hold(self):
        with self.lock:
            h, self.hold_s = self.hold_s, 0
            return h

    def hold(self, seconds):
        self.data_started.clear()
        with self.lock:
            self.hold_s = seconds

    def start(self):
        if self.implicit_tls:       # smtps: TLS from the first byte
            self.ctl = Controller(Handler(self), hostname='127.0.0.1', port=self.port,
                                  ssl_context=self.ctx, authenticator=_auth,
                                  auth_require_tls=False, ready_timeout=10)
        else:
            self.ctl = Controller(Handler(self), hostname='127.0.0.1', port=self.port,
                                  tls_context=self.ctx, require_starttls=True,
                                  authenticator=_auth, auth_require_tls=True,
                                  ready_timeout=10)
        self.ctl.start()
        return self

    def stop(self):
        if self.ctl:
            self.ctl.stop()
            self.ctl = None

    def snapshot(self):
        with self.lock:
            return list(self.messages)
