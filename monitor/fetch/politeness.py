"""Per-host politeness: a cap on requests in flight and a least delay between starts.

    limiter = HostLimiter(max_per_host=2, min_interval=1.0)
    with limiter.slot(host_key(url)):
        fetcher.fetch(url)

Thread-safe: the pipeline runs fetches in a thread pool.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitor.config import MonitorSettings
from monitor.urls import DEFAULT_PORTS

# Parsed URLs kept: more than the sources of a large config, which a poll cycle visits in
# turn (an LRU cache smaller than the cycle would never hit).
URL_CACHE_SIZE = 65536


@functools.lru_cache(maxsize=URL_CACHE_SIZE)
def host_key(url: str) -> str:
    """``"host:port"`` of a URL, lower-case, the port defaulted by scheme.

    PURE, and cached: every poll asks it of its source's URL. This is how hosts are
    compared for politeness and robots.txt.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)}"


def _normalise(host: str) -> str:
    return host_key(host) if "://" in host else host.strip().lower()


@dataclass
class _HostState:
    in_flight: int = 0
    waiting: int = 0
    next_start: float = float("-inf")   # the earliest time the next request may start


class HostLimiter:
    """Caps in-flight requests per host and spaces the starts of requests to one host.

    ``slot(host)`` blocks while ``max_per_host`` requests to that host are in
    flight, then reserves the next start time (at least ``min_interval`` seconds
    after the previous start) and sleeps until it. Hosts are compared
    case-insensitively, port included; pass ``host_key(url)`` or a URL.
    ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(self, max_per_host: int, min_interval: float = 0.0, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if max_per_host < 1:
            raise ValueError("max_per_host must be at least 1")
        self.max_per_host = max_per_host
        self.min_interval = max(0.0, float(min_interval))
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._hosts: dict[str, _HostState] = {}
        self._prune_at = 1024

    @classmethod
    def from_settings(cls, settings: MonitorSettings) -> HostLimiter:
        return cls(settings.max_per_host, settings.min_host_interval.total_seconds())

    @contextmanager
    def slot(self, host: str, min_interval: float = 0.0) -> Iterator[None]:
        """Hold one of the host's slots; ``min_interval`` asks for a longer spacing than
        the limiter's own before this host's next start (a robots.txt Crawl-delay)."""
        key = _normalise(host)
        with self._cond:
            state = self._hosts.setdefault(key, _HostState())
            while state.in_flight >= self.max_per_host:
                state.waiting += 1
                try:
                    self._cond.wait()
                finally:
                    state.waiting -= 1
            state.in_flight += 1
            now = self._clock()
            start = max(now, state.next_start)
            state.next_start = start + max(self.min_interval, min_interval)
        try:
            if start > now:
                self._sleep(start - now)
            yield
        finally:
            with self._cond:
                state.in_flight -= 1
                self._prune()
                self._cond.notify_all()

    def in_flight(self, host: str) -> int:
        """Requests to ``host`` in flight now."""
        with self._cond:
            state = self._hosts.get(_normalise(host))
            return state.in_flight if state else 0

    def _prune(self) -> None:
        """Forget idle hosts whose spacing has elapsed, so memory stays bounded."""
        if len(self._hosts) < self._prune_at:
            return
        now = self._clock()
        for key in [k for k, s in self._hosts.items()
                    if s.in_flight == 0 and s.waiting == 0 and s.next_start <= now]:
            del self._hosts[key]
        self._prune_at = max(1024, 2 * len(self._hosts))
