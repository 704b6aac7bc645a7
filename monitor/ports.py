"""The seams of a poll: what the pipeline needs of its collaborators, as protocols.

`Pipeline` is written against these, not against the concrete classes the app builds
(HttpFetcher, RobotsCache, HostLimiter, SqliteStore, the sift workers), so a test or
another backend can stand in for any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from monitor.store.base import Store
from monitor.types import FetchResult, ParsedFeed, ParseJob, Sifted, SiftJob

__all__ = ["Fetcher", "HostGate", "ItemKeys", "Parser", "RobotsPolicy", "Sifter", "Store"]


class Fetcher(Protocol):
    """Gets one URL's body. Raises FetchError on any failure."""

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None, *, public_only: bool = False
              ) -> FetchResult: ...


class RobotsPolicy(Protocol):
    """What robots.txt lets us fetch of a host, and how far apart."""

    def allowed(self, url: str, *, public_only: bool = False) -> bool: ...

    def crawl_delay(self, url: str) -> float | None: ...


class HostGate(Protocol):
    """Spaces and bounds the requests made to one host."""

    def slot(self, host: str, min_interval: float = 0.0) -> AbstractContextManager[None]: ...


# A fetched body's parser (monitor.parse.jobs.run_parse_job). Raises ParseError.
Parser = Callable[[ParseJob], ParsedFeed]

# Sifts a fetched body (monitor/sift.py) in worker processes (monitor.workers.SiftWorkers);
# without one, the pipeline sifts in its own process. Raises ParseError.
Sifter = Callable[[SiftJob], Sifted]


class ItemKeys(Protocol):
    """What sifting reads of the store: which guids and URLs it already knows (every Store
    has these; a worker process opens its own)."""

    def known_guids(self, source: str, guids: Sequence[str]) -> set[str]: ...

    def items_by_canonical_url(self, urls: Sequence[str]) -> dict[str, int]: ...

    def forgotten_urls(self, urls: Sequence[str]) -> set[str]: ...
