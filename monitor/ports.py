"""The seams of a poll: what the pipeline needs of its collaborators, as protocols.

`Pipeline` is written against these, not against the concrete classes the app builds
(HttpFetcher, RobotsCache, HostLimiter, SqliteStore, the parse workers), so a test or
another backend can stand in for any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from monitor.config import SourceConfig
from monitor.store.base import Store
from monitor.types import FetchResult, NewItem, ParsedFeed, ParseJob, StoryDecision

__all__ = ["ArticleStage", "Fetcher", "HostGate", "PageFetcher", "Parser", "RobotsPolicy",
           "Store"]


class Fetcher(Protocol):
    """Gets one URL's body. Raises FetchError on any failure."""

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None, *, public_only: bool = False
              ) -> FetchResult: ...


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


# A fetched body's parser: in this process (monitor.parse.jobs.run_parse_job) or in worker
# processes (monitor.workers.ParseWorkers). Raises ParseError.
Parser = Callable[[ParseJob], ParsedFeed]
