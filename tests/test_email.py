"""Email notifier against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.config import EmailNotifierConfig
from monitor.errors import NotifyError
from monitor.notify import EmailNotifier, build_notifier
from monitor.notify.email import build_message
from monitor.types import Digest, Story, StorySource

NOW = datetime(2025, 7, 3, 13, 0, tzinfo=UTC)
USER = "monitor@desk.example"
PASSWORD = "pw-Zq8!never-show-this"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """An aiosmtpd handler that stores messages or answers with a fixed reply."""

    reply: str = "250 Message accepted"
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply.startswith("250"):
            message = email.message_from_bytes(envelope.content, _class=EmailMessage,
                                               policy=email.policy.default)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return self.reply

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            self.logins.append((login, password))
            if (login, password) == (USER, PASSWORD):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(handler: Recorder, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


@pytest.fixture
def smtp():
    handler = Recorder()
    controller = start(handler)
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def auth_smtp():
    handler = Recorder()
    controller = start(handler, auth_require_tls=False, authenticator=handler.authenticate)
    yield handler, controller.port
    controller.stop()


def config(port: int, **extra: Any) -> EmailNotifierConfig:
    data = {"name": "desk-email", "type": "email", "smtp_host": "127.0.0.1", "smtp_port": port,
            "security": "none", "from": "monitor@desk.example",
            "to": ["analyst@desk.example", "editor@desk.example"], "timeout": "5s", **extra}
    return EmailNotifierConfig.model_validate(data)


def story(n: int, title: str | None = None, source: str = "Wire One") -> Story:
    when = datetime(2025, 7, 3, 12, 0, tzinfo=UTC)
    return Story(id=n, topic="taliban-recognition",
                 title=title or f"Ruritania accepts an envoy's credentials ({n})",
                 url=f"https://news.example/{n}", published=when,
                 category="recognition_granted", score=0.9, actors=("Ruritania",),
                 evidence="Ruritania accepted the envoy's credentials on Thursday.",
                 sources=(StorySource(source, f"https://news.example/{n}", "t", when),))


def digest(*stories: Story, digest_id: str = "desk-email-42") -> Digest:
    return Digest(id=digest_id, notifier="desk-email", created_at=NOW, stories=stories)


def test_sends_one_multipart_alternative_message(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    EmailNotifier(config(port), clock=lambda: NOW).send(digest(story(1), story(2)))
    (got,) = handler.received
    assert got.mail_from == "monitor@desk.example"
    assert got.rcpt_tos == ["analyst@desk.example", "editor@desk.example"]
    message = got.message
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "Ruritania accepts an envoy's credentials (2)" in plain.get_content()
    assert "https://news.example/1" in html.get_content()
    assert message["Message-ID"] == "<desk-email-42@news-monitor>"
    assert message["From"] == "monitor@desk.example"
    assert "analyst@desk.example" in message["To"] and "editor@desk.example" in message["To"]
    assert message["Subject"].startswith("[news-monitor] 2 stories")
    assert message["Date"] is not None


def test_message_id_is_stable_across_retries(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    notifier = EmailNotifier(config(port))
    notifier.send(digest(story(1)))
    notifier.send(digest(story(1)))
    notifier.send(digest(story(1), digest_id="desk-email-43"))
    ids = [r.message["Message-ID"] for r in handler.received]
    assert ids[0] == ids[1] != ids[2]


def test_hostile_titles_never_reach_headers(smtp: tuple[Recorder, int]) -> None:
    handler, port = smtp
    hostile = story(1, title="Envoy news\r\nBcc: victim@evil.example\r\n\r\n<script>x</script>",
                    source="Wire\r\nX-Injected: yes")
    EmailNotifier(config(port)).send(digest(hostile, digest_id="id with\r\nspace"))
    (got,) = handler.received
    message = got.message
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "victim@evil.example" not in got.rcpt_tos
    for name, value in message.items():
        assert "\r" not in str(value) and "\n" not in str(value), name
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_login_is_used(auth_smtp: tuple[Recorder, int]) -> None:
    handler, port = auth_smtp
    cfg = config(port, username=USER, password=PASSWORD)
    EmailNotifier(cfg).send(digest(story(1)))
    assert handler.logins == [(USER, PASSWORD)]
    assert len(handler.received) == 1


def test_password_from_env_and_never_in_failed_login(
        auth_smtp: tuple[Recorder, int], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    handler, port = auth_smtp
    wrong = PASSWORD + "-wrong"
    monkeypatch.setenv("TEST_SMTP_PASSWORD", wrong)
    cfg = config(port, username=USER, password_env="TEST_SMTP_PASSWORD")
    notifier = build_notifier(cfg)
    with pytest.raises(NotifyError) as caught:
        notifier.send(digest(story(1)))
    assert handler.logins and handler.logins[0][1] == wrong   # the login really was tried
    assert caught.value.permanent is True
    assert "535" in str(caught.value)
    texts = [str(caught.value), repr(caught.value), repr(notifier), repr(cfg), caplog.text,
             str(caught.value.__cause__), str(caught.value.__context__)]
    assert not any(wrong in text for text in texts)
    assert handler.received == []


def send_refused(handler: Recorder) -> NotifyError:
    """Send one digest through a server run by `handler`; the NotifyError it must raise."""
    controller = start(handler)
    try:
        with pytest.raises(NotifyError) as caught:
            EmailNotifier(config(controller.port)).send(digest(story(1)))
    finally:
        controller.stop()
    return caught.value


@pytest.mark.parametrize(("reply", "permanent"), [
    ("451 4.3.0 Mailbox busy, try again later", False),
    ("421 4.7.0 Too many connections", False),
    ("550 5.7.1 Message refused by policy", True),
    ("554 5.6.0 Content rejected", True),
])
def test_smtp_replies_classified(reply: str, permanent: bool) -> None:
    error = send_refused(Recorder(reply=reply))
    assert error.permanent is permanent
    assert reply.split(" ", 2)[2] in str(error)   # the server's reason is kept
    assert reply[:3] in str(error)


def test_connection_refused_is_temporary() -> None:
    with pytest.raises(NotifyError) as caught:
        EmailNotifier(config(free_port())).send(digest(story(1)))
    assert caught.value.permanent is False


def test_build_message_subject_single_line() -> None:
    cfg = config(25)
    message = build_message(digest(story(1, title="a\nb\rc" + "x" * 400)), cfg, NOW)
    subject = message["Subject"]
    assert "\n" not in subject and "\r" not in subject and len(subject) <= 200
    assert message.is_multipart()
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


# --- TLS: a self-signed certificate for 127.0.0.1, made with the openssl command ---

@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    result = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)], capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {result.stderr[-200:]!r}")
    return cert, key


def _contexts(cert: Path, key: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def test_starttls_then_login(tls_files: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = _contexts(*tls_files)
    handler = Recorder()
    controller = start(handler, tls_context=server_ctx, require_starttls=True,
                       authenticator=handler.authenticate)
    try:
        cfg = config(controller.port, security="starttls", username=USER, password=PASSWORD)
        EmailNotifier(cfg, ssl_context=client_ctx).send(digest(story(1)))
    finally:
        controller.stop()
    assert handler.logins == [(USER, PASSWORD)] and len(handler.received) == 1


def test_implicit_tls(tls_files: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = _contexts(*tls_files)
    handler = Recorder()
    controller = start(handler, ssl_context=server_ctx)
    try:
        cfg = config(controller.port, security="ssl")
        EmailNotifier(cfg, ssl_context=client_ctx).send(digest(story(1)))
    finally:
        controller.stop()
    assert len(handler.received) == 1


def test_untrusted_certificate_is_refused(tls_files: tuple[Path, Path]) -> None:
    server_ctx, _ = _contexts(*tls_files)
    controller = start(Recorder(), tls_context=server_ctx)
    try:
        with pytest.raises(NotifyError) as caught:
            EmailNotifier(config(controller.port, security="starttls")).send(digest(story(1)))
    finally:
        controller.stop()
    assert caught.value.permanent is False
    assert "SSL" in str(caught.value) or "certificate" in str(caught.value).lower()


@dataclass
class Greylister(Recorder):
    """Refuses one recipient at RCPT with a fixed reply; accepts the others."""

    refuse: str = "editor@desk.example"
    rcpt_reply: str = "450 4.2.0 Greylisted, try again later"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address == self.refuse:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.mark.parametrize("rcpt_reply, permanent", [
    ("450 4.2.0 Greylisted, try again later", False),
    ("550 5.1.1 No such user", True),
])
def test_a_refused_recipient_is_never_dropped_silently(rcpt_reply: str,
                                                       permanent: bool) -> None:
    handler = Greylister(rcpt_reply=rcpt_reply)
    error = send_refused(handler)
    assert [r.rcpt_tos for r in handler.received] == [["analyst@desk.example"]]
    assert error.permanent is permanent
    assert "editor@desk.example" in str(error) and rcpt_reply[:3] in str(error)


def test_an_odd_answer_to_quit_after_the_message_was_taken_is_not_a_failure() -> None:
    class OddQuit(Recorder):
        async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 bye"

    handler = OddQuit()
    controller = start(handler)
    try:
        EmailNotifier(config(controller.port)).send(digest(story(1)))
    finally:
        controller.stop()
    assert len(handler.received) == 1
