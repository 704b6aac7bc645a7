"""Fakes the tests share: clocks, a recording notifier, a programmable fetcher, a store.

They stand in for the parts a unit test does not exercise; end-to-end tests keep real
HTTP servers on loopback (tests/loopback.py), real SQLite files, a real PostgreSQL server
(`postgres_database`) and a real SMTP server.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from monitor.commit import sync_sources
from monitor.errors import FetchError
from monitor.store import Store, open_store
from monitor.types import Digest, FetchResult

POSTGRES_ENV = "MONITOR_TEST_POSTGRES_URL"


class FixedClock:
    """A datetime clock that stands where the test puts it (``now``) until moved.

    It starts at ``start``, or at the real time when none is given (for tests whose
    servers or files speak of the real date).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start if start is not None else datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


class MonotonicClock:
    """Float seconds, like time.monotonic, that move only when slept on or advanced.

    ``sleep`` records each wait (``sleeps``) and moves the clock by it; thread-safe, for
    the HostLimiter and RobotsCache, which take a clock and a sleep function.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


class RecordingNotifier:
    """A notifier that keeps the digests it is sent (``sent``).

    ``failures`` are raised one per send, in order, before any digest is kept: a
    NotifyError (temporary or permanent) or any other exception, as a broken notifier
    would raise.
    """

    def __init__(self, name: str = "n", failures: Iterable[Exception] = ()) -> None:
        self.name = name
        self.failures = list(failures)
        self.sent: list[Digest] = []

    def send(self, digest: Digest) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(digest)


@dataclass(frozen=True)
class FetchCall:
    """One call a FakeFetcher received, with the validators and checks it was asked for."""

    url: str
    etag: str | None
    last_modified: str | None
    public_only: bool
    purpose: str


@dataclass(frozen=True)
class Answer:
    """What a FakeFetcher gives for one fetch: a body, a 304, or an error to raise."""

    body: bytes | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    error: Exception | None = None
    final_url: str | None = None          # after redirects
    permanent_redirect: str | None = None


class FakeFetcher:
    """Answers fetches from a program per URL, and records each call (``calls``).

    ``body`` / ``not_modified`` / ``status`` / ``raises`` set what a URL answers; given
    several answers (``answers``), the URL gives them in order and then keeps the last.
    Header names are lower-cased as HttpFetcher's are. A URL with no program raises
    FetchError like an unreachable host. Same ``fetch`` signature as HttpFetcher.
    """

    def __init__(self) -> None:
        self.calls: list[FetchCall] = []
        self._answers: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()

    # -- programming ----------------------------------------------------------------

    def answers(self, url: str, *answers: Answer) -> None:
        self._answers[url] = list(answers)

    def body(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.answers(url, Answer(body=body, headers=dict(headers or {})))

    def not_modified(self, url: str, headers: Mapping[str, str] | None = None) -> None:
        self.answers(url, Answer(status=304, headers=dict(headers or {})))

    def status(self, url: str, status: int, retry_after: float | None = None) -> None:
        """An HTTP error status, raised as HttpFetcher raises it (410 is ``gone``)."""
        error = FetchError(f"HTTP {status}", status=status, retry_after=retry_after,
                           gone=status == 410)
        self.answers(url, Answer(status=status, error=error))

    def raises(self, url: str, error: Exception) -> None:
        self.answers(url, Answer(error=error))

    # -- the fetcher ----------------------------------------------------------------

    def fetch(self, url: str, etag: str | None = None,
              last_modified: str | None = None, *, public_only: bool = False,
              purpose: str = "moved source at") -> FetchResult:
        with self._lock:
            self.calls.append(FetchCall(url, etag, last_modified, public_only, purpose))
            queue = self._answers.get(url)
            if not queue:
                raise FetchError(f"connection refused: no answer programmed for {url}")
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer.error is not None:
            raise answer.error
        headers = {k.lower(): v for k, v in answer.headers.items()}
        modified = answer.status != 304
        return FetchResult(
            url=answer.final_url or url, status=answer.status,
            content=answer.body if modified else None,
            etag=headers.get("etag") or (None if modified else etag),
            last_modified=headers.get("last-modified") or (None if modified else last_modified),
            headers=headers, permanent_redirect=answer.permanent_redirect)

    def calls_to(self, url: str) -> list[FetchCall]:
        return [c for c in self.calls if c.url == url]

    def close(self) -> None:
        pass


# The stores temp_store opened on each PostgreSQL test database: postgres_database closes
# them before it drops the database, so that no pool outlives it to be closed by the
# garbage collector, in whatever thread happens to collect it (psycopg_pool's __del__
# then joins its own worker thread and fails).
_OPENED_ON: dict[str, list[Store]] = {}


def temp_store(directory: Path, sources: Iterable[tuple[str, str]] = (),
               now: datetime | None = None, database: str | None = None) -> Store:
    """A store on a new SQLite file in ``directory`` (a test's tmp_path), or on
    ``database`` (the `database` fixture's SQLite path or PostgreSQL URL), sources synced."""
    store = open_store(database or str(directory / "m.db"))
    if database in _OPENED_ON:
        _OPENED_ON[database].append(store)
    listed = list(sources)
    if listed:
        sync_sources(store, listed, now or datetime.now(UTC))
    return store


@contextmanager
def postgres_database(icu_locale: str | None = None) -> Iterator[str]:
    """The URL of a new, empty database on the test server (``$MONITOR_TEST_POSTGRES_URL``,
    e.g. postgresql://postgres@127.0.0.1:5432/postgres), dropped afterwards; the test is
    skipped when the variable is not set. ``icu_locale`` (e.g. "en-US"): its text sorts by
    that ICU collation, as a database made by the official Docker image sorts by en_US."""
    import psycopg

    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"PostgreSQL backend: set {POSTGRES_ENV} to a server's URL, like "
                    "postgresql://postgres@127.0.0.1:5432/postgres (.ci/run does)")
    name = f"monitor_test_{secrets.token_hex(6)}"
    collation = "" if icu_locale is None else (
        f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}' LOCALE 'C.UTF-8'")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"{collation}')
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    _OPENED_ON[url] = []
    try:
        yield url
    finally:
        for store in _OPENED_ON.pop(url):
            store.close()     # a second close does nothing
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
