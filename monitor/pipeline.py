"""One poll of one source: fetch -> sift (monitor/sift.py) -> articles -> stories -> store.

Reading `Pipeline.poll` top to bottom tells the whole story of a poll. A source's
failure is data (recorded on the source), never an exception out of `poll`.

A poll that found nothing new (not modified, or the same body) changes only its source's
state; those states are written in groups (`StateBatch`), not one transaction per poll.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor import decide
from monitor.batch import BATCH_DELAY, BATCH_SIZE, StateBatch
from monitor.classify import TopicClassifier
from monitor.commit import commit_poll
from monitor.config import SourceConfig
from monitor.errors import FetchError, ParseError, StoreError
from monitor.fetch import host_key
from monitor.parse.jobs import run_parse_job
from monitor.poll_commit import PollCommitter
from monitor.ports import ArticleStage, Fetcher, HostGate, Parser, RobotsPolicy, Sifter, Store
from monitor.sift import sift
from monitor.types import (
    FetchResult,
    ParseJob,
    Polled,
    PollOutcome,
    PollRecord,
    PollSettings,
    PollStatus,
    PollTail,
    Sifted,
    SiftJob,
    SourceState,
)
from monitor.urls import strip_credentials, without_credentials

log = logging.getLogger("monitor.poll")

# A page host's robots.txt Crawl-delay spaces our requests to it, up to this many seconds
# (a worker waits out the delay; a day-long one would hold it for a day).
MAX_CRAWL_DELAY = 60.0


class _Stopwatch:
    """How long the block it timed took, in seconds (None until it ran): a poll's fetch,
    without the wait for its host's slot."""

    seconds: float | None = None

    def __enter__(self) -> None:
        self._began = time.monotonic()

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.monotonic() - self._began


class Pipeline:
    """Polls sources. Built once by the app; safe to call from several threads.

    Unchanged polls are committed in groups: call `flush` before reading the sources' states
    from the store (the scheduler does, and `App.close`).
    """

    def __init__(self, settings: PollSettings, store: Store, fetcher: Fetcher,
                 limiter: HostGate, robots: RobotsPolicy,
                 classifiers: Mapping[str, TopicClassifier],
                 subscribers: Mapping[str, Sequence[str]],
                 clock: Callable[[], datetime], rng: random.Random | None = None,
                 operators: Mapping[str, timedelta] | None = None,
                 parser: Parser = run_parse_job, *, sifter: Sifter | None = None,
                 batch_size: int = BATCH_SIZE, batch_delay: float = BATCH_DELAY,
                 articles: ArticleStage | None = None, owner: str | None = None) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.limiter = limiter
        self.robots = robots
        self.classifiers = classifiers
        self.subscribers = subscribers
        self.clock = clock
        self.rng = rng or random.Random()
        self.operators = dict(operators or {})   # operator notifier -> alert_after
        self.parser = parser                      # used when sifting in this process
        self.sifter = sifter                      # worker processes, if any
        self.articles = articles                  # reads articles when headlines are not enough
        self.owner = owner    # the node whose source leases the commits release (None: any)
        # Settles and commits polls (monitor/poll_commit.py): those sifted here, and those
        # whose articles are read here; the worker processes, if any, commit the others.
        self.committer = PollCommitter(settings, store, subscribers, self.rng, self.operators,
                                       owner, shared=store.shared or sifter is not None)
        self.grouper = self.committer.grouper
        self.batch = StateBatch(batch_size, batch_delay)
        # Source states are written by one commit at a time (the committer's lock), so
        # that a batch is never committed after a newer write of one of its sources.
        self._commit_lock = self.committer.commit_lock
        # The last state committed of each source polled, so that a poll need not read back
        # what the previous one wrote. Other nodes may poll the source in between: a claim
        # brings the stored states (`adopt`).
        self._committed: dict[str, SourceState] = {}

    def poll(self, source: SourceConfig) -> PollOutcome:
        """Poll one source; its failures are recorded on it, never raised."""
        started = time.monotonic()
        try:
            state = self._state(source.name)
            try:
                return self._poll(source, state, started)
            except StoreError:
                raise
            except Exception as exc:  # a bug, not a bad source: loud, but the cycle goes on
                log.exception("poll of source %r crashed", source.name)
                return self._failed(source, state, started, exc)
        except StoreError as exc:  # disk full, locked, I/O error: nothing of this poll was kept
            # (or, its worker stopped while it committed, perhaps all of it: the next poll
            # reads the source's state as stored)
            with self._commit_lock:
                self._committed.pop(source.name, None)
            log.error("poll of source %r not recorded: %s", source.name, exc)
            return PollOutcome(source.name, "error", error=f"StoreError: {exc}",
                               duration=time.monotonic() - started)

    def adopt(self, states: Sequence[SourceState]) -> None:
        """The states as stored when this node claimed their sources: another node may
        have polled them since this one last did."""
        with self._commit_lock:
            self._committed.update((state.name, state) for state in states)

    def known_state(self, name: str) -> SourceState | None:
        """The newest state this pipeline wrote of the source (committed or waiting in the
        batch), None before its first poll here. Never reads the store."""
        return self.batch.get(name) or self._committed.get(name)

    def _state(self, name: str) -> SourceState:
        state = self.known_state(name)
        return state if state is not None else self.store.source_state(name)

    def _poll(self, source: SourceConfig, state: SourceState, started: float) -> PollOutcome:
        fetch = _Stopwatch()
        try:
            fetched = self._fetch(source, state, fetch)
            if fetched.not_modified:
                return self._done(source, state, started, "not_modified", fetched, fetch.seconds)
            body_hash = hashlib.sha256(fetched.content or b"").hexdigest()
            if body_hash == state.body_hash:
                return self._done(source, state, started, "unchanged", fetched, fetch.seconds)
            # One reading for every decision after the fetch, so that they agree on the
            # time: what is too old, the story window, and the times the poll records.
            now = self.clock()
            # This poll's state is written by its commit, here or in a worker: an older one
            # of this source waiting in the batch must not be written after it.
            with self._commit_lock:
                self.batch.discard(source.name)
            sifted = self._sift(source, state, fetched, now, body_hash)
        except (FetchError, ParseError) as exc:
            return self._failed(source, state, started, exc, fetch.seconds)
        polled = sifted if isinstance(sifted, Polled) else self._commit_sifted(
            source, state, fetched, now, body_hash, sifted)   # else a worker committed it
        with self._commit_lock:
            self._committed[source.name] = polled.state
        self._note_redirect(source, state, fetched)
        return self._log(PollOutcome(source.name, "ok", polled.items, polled.state.last_new,
                                     polled.matched, None, time.monotonic() - started,
                                     polled.state.last_capped, fetch.seconds, polled.alerting))

    def _commit_sifted(self, source: SourceConfig, state: SourceState, fetched: FetchResult,
                       now: datetime, body_hash: str, sifted: Sifted) -> Polled:
        """Read the poll's articles if it wants some, then settle and commit it."""
        classified = list(sifted.decisions)
        if self.articles is not None:  # fetches: in this process, after the sifting
            read = self.articles.read(source, sifted.new_items, sifted.misses, now)
            classified = sorted([*classified, *read], key=lambda d: d.item)
        return self.committer.commit(source.name, self.settings.interval(source.interval),
                                     state, fetched, now, body_hash, sifted.items,
                                     sifted.new_items, classified)

    # -- stages -----------------------------------------------------------

    def _fetch(self, source: SourceConfig, state: SourceState,
               stopwatch: _Stopwatch) -> FetchResult:
        host = host_key(state.url)
        # A host reached by a permanent redirect is not the operator's choice: it must still
        # resolve to public addresses at every poll, and the fetch goes to those it checked.
        moved = state.url != source.url and host != host_key(source.url)
        spacing = 0.0
        if source.type == "page":
            if not self.robots.allowed(state.url, public_only=moved):
                raise FetchError("disallowed by robots.txt")
            spacing = min(self.robots.crawl_delay(state.url) or 0.0, MAX_CRAWL_DELAY)
        with self.limiter.slot(host, spacing), stopwatch:
            if moved:
                return self.fetcher.fetch(state.url, etag=state.etag,
                                          last_modified=state.last_modified, public_only=True)
            return self.fetcher.fetch(state.url, etag=state.etag,
                                      last_modified=state.last_modified)

    def _sift(self, source: SourceConfig, state: SourceState, fetched: FetchResult,
              now: datetime, body_hash: str) -> Sifted | Polled:
        """Parse -> new items -> classify (monitor/sift.py): in worker processes when the
        pipeline has them, else here. A worker also commits the poll (Polled), unless
        its articles are to be read (Sifted: they are fetched in this process)."""
        # Credentials stay with the fetcher: links resolved against the URL would carry them.
        parse = ParseJob(
            kind=source.type, content=fetched.content or b"", url=strip_credentials(fetched.url),
            content_type=fetched.headers.get("content-type"),  # the fetcher lower-cases names
            item_selector=source.item_selector or "", link_selector=source.link_selector or "",
            title_selector=source.title_selector, summary_selector=source.summary_selector)
        if self.sifter is None:
            return sift(SiftJob(source.name, parse, state, now), self.parser, self.store,
                        self.classifiers, self.settings.max_age)
        tail = PollTail(self.settings.interval(source.interval), source.type == "page",
                        replace(fetched, content=None), body_hash)
        return self.sifter(SiftJob(source.name, parse, state, now, tail))

    # -- outcomes ---------------------------------------------------------

    def _next_state(self, source: SourceConfig, state: SourceState, now: datetime,
                    status: PollStatus, fetched: FetchResult) -> SourceState:
        return self.committer.next_state(state, now, status, fetched,
                                         self.settings.interval(source.interval))

    @staticmethod
    def _note_redirect(source: SourceConfig, state: SourceState, fetched: FetchResult) -> None:
        if fetched.permanent_redirect and fetched.permanent_redirect != state.url:
            log.warning("source %r moved permanently: %s -> %s", source.name,
                        without_credentials(state.url),
                        without_credentials(fetched.permanent_redirect))

    def _done(self, source: SourceConfig, state: SourceState, started: float, status: PollStatus,
              fetched: FetchResult, fetch_seconds: float | None) -> PollOutcome:
        now = self.clock()
        new_state = self._next_state(source, state, now, status, fetched)
        self._record(source, PollRecord(new_state), now, group=True)
        self._note_redirect(source, state, fetched)
        return self._log(PollOutcome(source.name, status, state.last_items, 0, 0, None,
                                     time.monotonic() - started, fetch_seconds=fetch_seconds))

    def _failed(self, source: SourceConfig, state: SourceState, started: float,
                exc: Exception, fetch_seconds: float | None = None) -> PollOutcome:
        now = self.clock()
        error = f"{type(exc).__name__}: {exc}"
        gone = isinstance(exc, FetchError) and exc.gone
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        new_state = decide.after_failure(
            state, now, error=error, interval=self.settings.interval(source.interval),
            max_backoff=self.settings.max_backoff, jitter=self.rng.random(),
            retry_after=retry_after, gone=gone,
            kind=exc.kind if isinstance(exc, (FetchError, ParseError)) else "crash")
        self._record(source, PollRecord(new_state), now)
        return self._log(PollOutcome(source.name, new_state.last_status or "error", 0, 0, 0,
                                     error, time.monotonic() - started,
                                     fetch_seconds=fetch_seconds))

    def _with_health(self, source: SourceConfig, record: PollRecord,
                     now: datetime) -> PollRecord:
        return self.committer.with_health(record, now, self.settings.interval(source.interval))

    def _committed_poll(self, name: str, state: SourceState,
                        widened: Mapping[int, tuple[str, ...]]) -> None:
        """After a poll's commit (with the commit lock held): its state is the source's
        newest, and the stories it widened are indexed under their new states."""
        self._committed[name] = state
        if widened:
            self.grouper.widen(widened)

    def _record(self, source: SourceConfig, record: PollRecord, now: datetime,
                group: bool = False) -> tuple[tuple[str, str | None], ...]:
        """Commit the poll, with the source-health incidents it opens or closes; returns
        (topic, category) of each story it opened that alerts.

        With `group`, a record that holds nothing but the source's state joins the batch.
        """
        record = self._with_health(source, record, now)
        if group and not (record.new_items or record.stories or record.health):
            if self.batch.add(record.state):
                self._flush_if_due()
            return ()
        with self._commit_lock:
            self.batch.discard(source.name)
            committed = commit_poll(self.store, record, self.subscribers, now,
                                    owner=self.owner)
            self._committed_poll(source.name, record.state, committed.widened)
        return committed.alerting

    def flush(self) -> None:
        """Commit the batch of unchanged polls' states now.

        Never raises StoreError: a failed commit is logged, and its sources are polled
        again when their stored next poll time comes.
        """
        with self._commit_lock:
            self._commit_batch()

    def _flush_if_due(self) -> None:
        # While another commit runs, do not wait for it: the next unchanged poll, or the
        # next flush point (a daemon tick at the latest), commits the batch.
        if not self._commit_lock.acquire(blocking=False):
            return
        try:
            if self.batch.due():
                self._commit_batch()
        finally:
            self._commit_lock.release()

    def _commit_batch(self) -> None:
        """Called with the commit lock held."""
        states = self.batch.take()
        if not states:
            return
        try:
            self.store.record_states(states, self.owner)
            self._committed.update((state.name, state) for state in states)
        except StoreError as exc:
            log.error("%d source states of unchanged polls not saved (those sources are "
                      "polled again when due): %s", len(states), exc)
        finally:
            self.batch.taken()

    @staticmethod
    def _log(outcome: PollOutcome) -> PollOutcome:
        level = logging.WARNING if outcome.error else logging.INFO
        log.log(level, "poll source=%r status=%s items=%d new=%d matched=%d duration=%.3fs%s%s",
                outcome.source, outcome.status, outcome.items, outcome.new, outcome.matched,
                outcome.duration, f" capped={outcome.capped}" if outcome.capped else "",
                f" error={outcome.error!r}" if outcome.error else "")
        return outcome
