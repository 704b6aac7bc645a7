"""``type = "email"``: one multipart/alternative message (plain + HTML) per digest.

``Message-ID: <digest-id@news-monitor>`` is stable across retries, so a mail system
or a reader can drop a repeat. SMTP 4xx replies, connection errors and timeouts
are temporary; 5xx replies are permanent and keep the server's reason. The
password is used only for LOGIN and never appears in messages, logs or reprs.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from monitor.config import EmailNotifierConfig
from monitor.digest import DigestRenderer, one_line, render_subject, safe_id
from monitor.errors import NotifyError
from monitor.notify.base import ERROR_BODY_LIMIT, scrub
from monitor.types import Digest

log = logging.getLogger(__name__)

MESSAGE_ID_DOMAIN = "news-monitor"


def message_id(digest: Digest) -> str:
    """``<id@news-monitor>``, built only from characters legal in a Message-ID."""
    return f"<{safe_id(digest.id)}@{MESSAGE_ID_DOMAIN}>"


def build_message(digest: Digest, config: EmailNotifierConfig, now: datetime,
                  renderer: DigestRenderer | None = None) -> EmailMessage:
    """The complete message for ``digest``; every header value is a single line."""
    renderer = renderer or DigestRenderer(config.zone)
    message = EmailMessage()
    message["Subject"] = render_subject(digest)
    message["From"] = one_line(config.from_)
    message["To"] = ", ".join(one_line(address) for address in config.to)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = message_id(digest)
    message["X-Monitor-Delivery"] = safe_id(digest.id)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(renderer.text(digest))
    message.add_alternative(renderer.html(digest), subtype="html")
    return message


class EmailNotifier:
    """Sends each digest as one email over SMTP (``type = "email"``)."""

    type = "email"
    options = EmailNotifierConfig

    def __init__(self, config: EmailNotifierConfig, *,
                 clock: Callable[[], datetime] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = config.name
        self.config = config
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ssl_context = ssl_context
        self._renderer = DigestRenderer(config.zone)

    def __repr__(self) -> str:
        c = self.config
        return (f"EmailNotifier(name={self.name!r}, smtp={c.smtp_host}:{c.smtp_port}, "
                f"security={c.security!r}, username={c.username!r})")

    def send(self, digest: Digest) -> None:
        config = self.config
        try:
            message = build_message(digest, config, self._clock(), self._renderer)
        except (ValueError, TypeError) as exc:
            raise NotifyError(f"email {self.name}: cannot build the message: {exc}",
                              permanent=True) from exc
        password = config.password.get_secret_value() if config.password else None
        where = f"smtp {config.smtp_host}:{config.smtp_port}"
        try:
            refused = self._deliver(message, password)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            reasons = "; ".join(f"{rcpt}: {code} {_reason(text, password)}"
                                for rcpt, (code, text) in exc.recipients.items())
            raise NotifyError(f"{where}: all recipients refused: {reasons}",
                              permanent=all(code >= 500 for code in codes)) from None
        except smtplib.SMTPResponseException as exc:
            reason = _reason(exc.smtp_error, password)
            raise NotifyError(f"{where}: {exc.smtp_code} {reason}",
                              permanent=exc.smtp_code >= 500) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise NotifyError(f"{where}: {scrub(str(exc), password)}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            # disconnects, refused connections, timeouts, TLS failures: try again later
            detail = scrub(one_line(str(exc), ERROR_BODY_LIMIT), password) or "no detail"
            raise NotifyError(f"{where}: {type(exc).__name__}: {detail}") from None
        if refused:
            # Some recipients took it, some did not. Never drop the others silently: a
            # temporary refusal (greylisting) retries the digest, which the recipients who
            # took it receive again under the same Message-ID; a permanent one is
            # dead-lettered with the server's reason, visible in `monitor deliveries`.
            codes = [code for code, _ in refused.values()]
            reasons = "; ".join(f"{rcpt}: {code} {_reason(text, password)}"
                                for rcpt, (code, text) in refused.items())
            raise NotifyError(f"{where}: some recipients refused: {reasons}",
                              permanent=all(code >= 500 for code in codes))
        log.debug("email %s: digest %s sent", self.name, digest.id)

    def _tls_context(self) -> ssl.SSLContext:
        # built on first use: loading the system's CA store takes a noticeable moment
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _deliver(self, message: EmailMessage,
                 password: str | None) -> dict[str, tuple[int, bytes]]:
        config = self.config
        timeout = config.timeout.total_seconds()
        smtp: smtplib.SMTP
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(config.smtp_host, config.smtp_port, timeout=timeout,
                                    context=self._tls_context())
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout)
        try:
            if config.security == "starttls":
                smtp.starttls(context=self._tls_context())
            if config.username:
                smtp.login(config.username, password or "")
            refused = smtp.send_message(message, from_addr=one_line(config.from_),
                                        to_addrs=[one_line(a) for a in config.to])
        except BaseException:
            smtp.close()
            raise
        # The server has taken the message: an odd answer to QUIT must not make it a failure
        # (that would send the digest again).
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
        return dict(refused)


def _reason(reply: bytes | str, password: str | None) -> str:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else str(reply)
    return scrub(one_line(text, ERROR_BODY_LIMIT), password) or "no reason given"
