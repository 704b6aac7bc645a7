"""What every notifier is, and small helpers they share.

A notifier takes a Digest and delivers it, or raises NotifyError saying whether a
retry can help (``permanent``) and, when the receiver asked, after how long
(``retry_after``). Notifiers never decide about retries themselves: the delivery
stage does, from the outbox.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from monitor.types import Digest

ERROR_BODY_LIMIT = 500


@runtime_checkable
class Notifier(Protocol):
    """Delivers digests to one configured destination."""

    name: str

    def send(self, digest: Digest) -> None:
        """Deliver ``digest`` once; raise monitor.errors.NotifyError on failure."""
        ...


def redact_url(url: str) -> str:
    """Scheme and host only: webhook paths (Slack, Discord) carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a URL that may be credentials (path, query, user info), for ``scrub``."""
    parts = urlsplit(url)
    path_query = parts.path + (f"?{parts.query}" if parts.query else "")
    found = [path_query, parts.path, parts.query, parts.password or "", parts.username or ""]
    return tuple(p for p in found if len(p) > 1)


def scrub(text: str, *secrets: str | None) -> str:
    """Remove every given secret from ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
