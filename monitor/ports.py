"""The seams of a poll: what the pipeline needs of its collaborators, as protocols.

`Pipeline` is written against these, not against the concrete classes the app builds
(HttpFetcher, RobotsCache, HostLimiter, SqliteStore, the sift workers), so a test or
another backend can stand in for any of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from monitor.config import SourceConfig
from monitor.store.base import Store
from monitor.types import (
    AttemptResult,
    Digest,
    FetchResult,
    KnownKeys,
    NewItem,
    ParsedFeed,
    ParsedItem,
    ParseJob,
    Polled,
    PollOutcome,
    Sifted,
    SiftJob,
    StoryDecision,
)

__all__ = ["ArticleStage", "Fetcher", "HostGate", "ItemKeys", "NoObserver", "Observer",
           "PageFetcher", "Parser", "RobotsPolicy", "SafeObserver", "Sifter", "Store"]

log = logging.getLogger("monitor.observer")


class Fetcher(Protocol):
    """Gets one URL's body. Raises FetchError on any failure.

    ``public_only``: ``url`` (and every hop after it) must resolve to public addresses
    (a host the operator did not configure); ``purpose`` names what ``url`` is in the
    refusal's message ("feed link to private address 10.0.0.1 refused").
    """

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None, *, public_only: bool = False,
              purpose: str = ...) -> FetchResult: ...

    def close(self) -> None:
        """Release its connections; it is not used after."""


class PageFetcher(Protocol):
    """A Fetcher that names what it fetched in a refusal ("article at private address
    10.0.0.1 refused")."""

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None, *, public_only: bool = False,
              purpose: str = ...) -> FetchResult: ...


class ArticleStage(Protocol):
    """Reads the articles of a poll's items whose headlines were not enough
    (monitor/articles.py): the matches their openings settle."""

    def read(self, source: SourceConfig, new_items: Sequence[NewItem],
             misses: Sequence[tuple[int, str]], now: datetime) -> list[StoryDecision]: ...


class RobotsPolicy(Protocol):
    """What robots.txt lets us fetch of a host, and how far apart."""

    def allowed(self, url: str, *, public_only: bool = False) -> bool: ...

    def crawl_delay(self, url: str) -> float | None: ...


class HostGate(Protocol):
    """Spaces and bounds the requests made to one host."""

    def slot(self, host: str, min_interval: float = 0.0) -> AbstractContextManager[None]: ...


# A fetched body's parser (monitor.parse.jobs.run_parse_job). Raises ParseError.
Parser = Callable[[ParseJob], ParsedFeed]


class Observer(Protocol):
    """What the daemon tells its watchers (the metrics, monitor/metrics.py) of its work.

    Called in the daemon's main process, where poll outcomes and delivery results arrive
    (monitor/scheduler.py, monitor/deliver.py), never inside a worker process: a count
    kept in a worker would be lost with it. Calls must be cheap and must not raise; the
    scheduler and the delivery stage call them through a SafeObserver all the same.
    """

    def poll_done(self, outcome: PollOutcome) -> None:
        """One poll of one source ended (committed, or failed and recorded)."""

    def delivery_attempted(self, digest: Digest, result: AttemptResult, at: datetime) -> None:
        """One attempt to send ``digest`` ended at ``at``: accepted, failed or dead."""

    def cycle_done(self, at: datetime) -> None:
        """The scheduler looked for due sources (a daemon tick), or a batch of polls
        (`monitor once`) ended, at ``at``."""


class NoObserver:
    """The default observer: watches nothing."""

    def poll_done(self, outcome: PollOutcome) -> None:
        pass

    def delivery_attempted(self, digest: Digest, result: AttemptResult, at: datetime) -> None:
        pass

    def cycle_done(self, at: datetime) -> None:
        pass


class SafeObserver:
    """An observer's calls, guarded: whatever a watcher raises is logged, never raised into
    the poll or the delivery that reported to it (a poll is committed, a digest accepted,
    before they are told). The first failure of each method is logged at WARNING with its
    traceback, the next ones at DEBUG, so that a broken watcher does not flood the log.

    The scheduler and the Deliverer hold their observer through one (``around``), so no
    call site needs its own ``try``. Thread-safe.
    """

    def __init__(self, inner: Observer) -> None:
        self.inner = inner
        self._failed: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def around(cls, observer: Observer) -> SafeObserver:
        """``observer`` guarded; one already guarded is returned as it is."""
        return observer if isinstance(observer, SafeObserver) else cls(observer)

    def poll_done(self, outcome: PollOutcome) -> None:
        try:
            self.inner.poll_done(outcome)
        except Exception:  # noqa: BLE001 - a watcher's bug is logged, never raised
            self._log_failure("poll_done")

    def delivery_attempted(self, digest: Digest, result: AttemptResult, at: datetime) -> None:
        try:
            self.inner.delivery_attempted(digest, result, at)
        except Exception:  # noqa: BLE001 - a watcher's bug is logged, never raised
            self._log_failure("delivery_attempted")

    def cycle_done(self, at: datetime) -> None:
        try:
            self.inner.cycle_done(at)
        except Exception:  # noqa: BLE001 - a watcher's bug is logged, never raised
            self._log_failure("cycle_done")

    def _log_failure(self, method: str) -> None:
        """Called in an ``except`` block: logs the exception being handled."""
        with self._lock:
            first = method not in self._failed
            self._failed.add(method)
        log.log(logging.WARNING if first else logging.DEBUG,
                "observer %s.%s failed%s", type(self.inner).__name__, method,
                "; its later failures are logged at DEBUG" if first else "", exc_info=True)


# Sifts a fetched body (monitor/sift.py) in worker processes (monitor.workers.SiftWorkers);
# without one, the pipeline sifts in its own process. A job with a tail may come back
# committed (Polled). Raises ParseError, or StoreError when the commit failed.
Sifter = Callable[[SiftJob], Sifted | Polled]


class ItemKeys(Protocol):
    """What sifting reads of the store: which guids and URLs it already knows (every Store
    has these; a worker process opens its own)."""

    def known_keys(self, source: str, items: Sequence[ParsedItem],
                   canonical: Callable[[str], str]) -> KnownKeys: ...
