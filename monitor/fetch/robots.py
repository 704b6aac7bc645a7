"""robots.txt for page sources: fetched once per scheme + host per ttl, parsed by protego.

What an answer means (RFC 9309, with the common stricter reading of 401/403):

- 2xx: the rules in the file apply (to our User-Agent, else ``*``);
- 401 / 403: everything is disallowed;
- 404, 410 and other 4xx: no rules, everything is allowed;
- 429, 5xx and network errors (timeout, refused, unresolvable, oversized):
  everything is allowed, and the answer is kept only ``error_ttl`` seconds so
  the file is asked for again soon. We choose to allow here so that a flaky
  robots.txt does not silence a source; the page fetch itself will fail if the
  server is really down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

from monitor.errors import FetchError
from monitor.fetch.politeness import host_key
from monitor.ports import Fetcher

MAX_ROBOTS_BYTES = 500 * 1024   # RFC 9309: parse at least the first 500 KiB


@dataclass(frozen=True)
class RobotsRules:
    """The rules of one robots.txt: a parsed file, or allow-all / disallow-all."""

    parser: Protego | None = None
    allow_all: bool = True
    reason: str = ""

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return float(delay) if delay is not None else None


def rules_from_body(content: bytes) -> RobotsRules:
    """PURE. Parse a robots.txt body (the first 500 KiB, undecodable bytes replaced)."""
    text = content[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
    return RobotsRules(parser=Protego.parse(text), reason="robots.txt")


def rules_from_error(error: FetchError) -> tuple[RobotsRules, bool]:
    """PURE. (rules, transient) for a failed robots.txt fetch; see the module docstring."""
    status = error.status
    if status in (401, 403):
        return RobotsRules(allow_all=False, reason=f"robots.txt answered HTTP {status}"), False
    if status is not None and 400 <= status < 500 and status != 429:
        return RobotsRules(allow_all=True, reason=f"robots.txt answered HTTP {status}"), False
    return RobotsRules(allow_all=True, reason=f"robots.txt unavailable: {error}"), True


def robots_url(url: str) -> str:
    """PURE. The robots.txt URL governing ``url`` (same scheme, host and port)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host.lower()}{port}/robots.txt"


@dataclass(frozen=True)
class _Entry:
    rules: RobotsRules
    expires: float


def product_token(user_agent: str) -> str:
    """"news-monitor/0.1 (+https://...)" -> "news-monitor" (RFC 9309's product token)."""
    words = user_agent.strip().split()
    return words[0].split("/")[0] if words else user_agent


class RobotsCache:
    """Answers "may we fetch this URL?" from robots.txt, cached per scheme + host.

    ``fetcher`` is an HttpFetcher (or any object with the same ``fetch``);
    ``clock`` returns seconds (monotonic) and is injectable for tests. Thread-safe:
    concurrent questions about one host fetch its robots.txt once.
    """

    def __init__(self, fetcher: Fetcher, user_agent: str, ttl: float = 24 * 3600.0, *,
                 error_ttl: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetcher = fetcher
        self.user_agent = user_agent
        # robots.txt groups name a product token ("news-monitor"), matched as a substring
        # by protego: the full User-Agent string (with its contact URL) would also match
        # groups meant for others ("github", "example").
        self.agent_token = product_token(user_agent)
        self.ttl = ttl
        self.error_ttl = min(error_ttl, ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._fetching: dict[str, threading.Lock] = {}

    def allowed(self, url: str, *, public_only: bool = False) -> bool:
        """True when robots.txt lets our User-Agent fetch ``url``. ``public_only``: the host
        is not the operator's choice (a source moved there), so robots.txt is fetched as
        such a source is (see HttpFetcher.fetch)."""
        return self.rules(url, public_only=public_only).allowed(url, self.agent_token)

    def crawl_delay(self, url: str) -> float | None:
        """The Crawl-delay robots.txt asks of us for ``url``'s host, if any."""
        return self.rules(url).crawl_delay(self.agent_token)

    def rules(self, url: str, *, public_only: bool = False) -> RobotsRules:
        key = f"{urlsplit(url).scheme.lower()}://{host_key(url)}"
        entry = self._fresh(key)
        if entry is not None:
            return entry.rules
        with self._lock:
            key_lock = self._fetching.setdefault(key, threading.Lock())
        with key_lock:
            entry = self._fresh(key)
            if entry is not None:
                return entry.rules
            rules, lifetime = self._load(robots_url(url), public_only)
            with self._lock:
                self._entries[key] = _Entry(rules, self._clock() + lifetime)
                self._fetching.pop(key, None)
            return rules

    def _fresh(self, key: str) -> _Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires > self._clock():
                return entry
            return None

    def _load(self, url: str, public_only: bool) -> tuple[RobotsRules, float]:
        try:
            result = self._fetcher.fetch(url, public_only=True) if public_only \
                else self._fetcher.fetch(url)
        except FetchError as exc:
            rules, transient = rules_from_error(exc)
            return rules, self.error_ttl if transient else self.ttl
        return rules_from_body(result.content or b""), self.ttl
