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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timedelta

from monitor import decide
from monitor.batch import BATCH_DELAY, BATCH_SIZE, StateBatch
from monitor.classify import TopicClassifier
from monitor.commit import commit_in, commit_poll, insert_early
from monitor.config import SourceConfig
from monitor.errors import FetchError, ParseError, StoreError
from monitor.fetch import host_key
from monitor.grouping import Grouping, StoryGrouper
from monitor.health import health_changes
from monitor.parse.jobs import run_parse_job
from monitor.ports import ArticleStage, Fetcher, HostGate, Parser, RobotsPolicy, Sifter, Store
from monitor.sift import sift
from monitor.types import (
    FetchResult,
    NewItem,
    ParseJob,
    PollOutcome,
    PollRecord,
    PollSettings,
    PollStatus,
    Sifted,
    SiftJob,
    SourceState,
    StoryDecision,
)
from monitor.urls import strip_credentials, without_credentials

log = logging.getLogger("monitor.poll")

# A page host's robots.txt Crawl-delay spaces our requests to it, up to this many seconds
# (a worker waits out the delay; a day-long one would hold it for a day).
MAX_CRAWL_DELAY = 60.0


def _capped(new_items: tuple[NewItem, ...], capped: frozenset[int]) -> tuple[NewItem, ...]:
    """The items with those of ``capped`` (indexes) marked capped: recorded, no alert."""
    if not capped:
        return new_items
    return tuple(replace(n, reason="capped") if i in capped else n
                 for i, n in enumerate(new_items))


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
        # Stories: each match is looked up outside the record lock; under it, only the
        # stories other polls committed meanwhile are checked, then the poll is committed.
        # So two outlets polled at once still make one story, and a poll with many matches
        # does not hold the others.
        self.grouper = StoryGrouper(store, settings.story_window, settings.max_new_per_poll)
        self._record_lock = threading.Lock()
        # PostgreSQL: how many polls may insert their items before taking those locks.
        self._early = (threading.BoundedSemaphore(store.items_before_lock)
                       if store.items_before_lock else None)
        self.batch = StateBatch(batch_size, batch_delay)
        # Source states are written by one commit at a time, so that a batch is never
        # committed after a newer write of one of its sources.
        self._commit_lock = threading.Lock()
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
            sifted = self._sift(source, state, fetched, now)
        except (FetchError, ParseError) as exc:
            return self._failed(source, state, started, exc, fetch.seconds)
        new_items, classified = sifted.new_items, list(sifted.decisions)
        if self.articles is not None:  # fetches: in this process, after the sifting
            read = self.articles.read(source, new_items, sifted.misses, now)
            classified = sorted([*classified, *read], key=lambda d: d.item)
        grouping = self.grouper.group(new_items, classified, now)
        new_items, stories, new_state, alerting = self._commit_polled(
            source, state, fetched, now, body_hash, sifted.items, grouping,
            _capped(new_items, grouping.capped))
        matched = len({d.item for d in stories if new_items[d.item].reason != "old"})
        return self._log(PollOutcome(source.name, "ok", sifted.items, new_state.last_new,
                                     matched, None, time.monotonic() - started,
                                     new_state.last_capped, fetch.seconds, alerting))

    def _commit_polled(self, source: SourceConfig, state: SourceState, fetched: FetchResult,
                       now: datetime, body_hash: str, items: int, grouping: Grouping,
                       new_items: tuple[NewItem, ...]
                       ) -> tuple[tuple[NewItem, ...], tuple[StoryDecision, ...], SourceState,
                                  tuple[tuple[str, str | None], ...]]:
        """Settle a poll's stories and commit it: its new items and stories as committed,
        its source's state, and the stories it opened that alert."""
        with ExitStack() as held:
            # The locks are released after the commit, so that a poll's commit ends before
            # another's settle begins. One writer (SQLite): taken first; PostgreSQL: once
            # the poll's items are in.
            held.enter_context(self._locked() if self._early is None else self._early)
            with self.store.poll_transaction(self.owner) as writer:
                early = None
                if self._early is not None:
                    # PostgreSQL: the rows are written while other polls commit; the
                    # decisions below may still make some of them duplicates, or capped.
                    early = insert_early(writer, source.name, new_items, grouping.decisions,
                                         now)
                    held.enter_context(self._locked())
                new_items = self._recheck_urls(new_items)
                settled = self.grouper.settle(grouping, now, frozenset(
                    i for i, n in enumerate(new_items) if n.reason == "new"))
                new_items = _capped(new_items, settled.capped)
                capped = sum(1 for n in new_items if n.reason == "capped")
                new_state = self._next_state(source, state, now, "ok", fetched,
                                             body_hash=body_hash, items=items,
                                             new=sum(1 for n in new_items if n.alert) + capped,
                                             capped=capped)
                record = self._with_health(
                    source, PollRecord(new_state, new_items, settled.decisions), now)
                self.batch.discard(source.name)
                committed = commit_in(writer, record, self.subscribers, now, early=early)
            self._committed_poll(source.name, new_state, committed.widened)
        return new_items, settled.decisions, new_state, committed.alerting

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
              now: datetime) -> Sifted:
        """Parse -> new items -> classify (monitor/sift.py): in worker processes when the
        pipeline has them, else here."""
        # Credentials stay with the fetcher: links resolved against the URL would carry them.
        job = SiftJob(source.name, ParseJob(
            kind=source.type, content=fetched.content or b"", url=strip_credentials(fetched.url),
            content_type=fetched.headers.get("content-type"),  # the fetcher lower-cases names
            item_selector=source.item_selector or "", link_selector=source.link_selector or "",
            title_selector=source.title_selector, summary_selector=source.summary_selector),
            state, now)
        if self.sifter is not None:
            return self.sifter(job)
        return sift(job, self.parser, self.store, self.classifiers, self.settings.max_age)

    def _recheck_urls(self, new_items: tuple[NewItem, ...]) -> tuple[NewItem, ...]:
        """Another source polled at the same time may have stored one of these URLs since
        the sifting looked: such items become duplicates of it (called under the lock)."""
        pending = [n.canonical_url for n in new_items
                   if n.reason != "duplicate" and n.canonical_url]
        late = self.store.items_by_canonical_url(pending) if pending else {}
        if not late:
            return new_items
        return tuple(replace(n, reason="duplicate", duplicate_of=late[n.canonical_url])
                     if n.reason != "duplicate" and n.canonical_url in late else n
                     for n in new_items)

    # -- outcomes ---------------------------------------------------------

    def _next_state(self, source: SourceConfig, state: SourceState, now: datetime,
                    status: PollStatus, fetched: FetchResult, **counts: object) -> SourceState:
        return decide.after_success(
            state, now, status=status, interval=self.settings.interval(source.interval),
            jitter=self.rng.random(), headers=fetched.headers, etag=fetched.etag,
            last_modified=fetched.last_modified, url=self._redirected(source, state, fetched),
            **counts)  # type: ignore[arg-type]

    def _redirected(self, source: SourceConfig, state: SourceState,
                    fetched: FetchResult) -> str | None:
        if fetched.permanent_redirect and fetched.permanent_redirect != state.url:
            log.warning("source %r moved permanently: %s -> %s", source.name,
                        without_credentials(state.url),
                        without_credentials(fetched.permanent_redirect))
            return fetched.permanent_redirect
        return None

    def _done(self, source: SourceConfig, state: SourceState, started: float, status: PollStatus,
              fetched: FetchResult, fetch_seconds: float | None) -> PollOutcome:
        now = self.clock()
        new_state = self._next_state(source, state, now, status, fetched)
        self._record(source, PollRecord(new_state), now, group=True)
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

    def _locked(self) -> ExitStack:
        """The locks a poll's stories are settled and committed under, entered: the
        pipeline's, the store's (of several nodes sharing the database, one commits
        stories at a time, so a poll's stories are checked against every node's committed
        ones), and the commit lock (source states)."""
        with ExitStack() as locks:   # a lock not taken gives back those taken
            locks.enter_context(self._record_lock)
            locks.enter_context(self.store.record_lock())
            locks.enter_context(self._commit_lock)
            return locks.pop_all()

    def _with_health(self, source: SourceConfig, record: PollRecord,
                     now: datetime) -> PollRecord:
        """The record with the source-health incidents its state opens or closes."""
        if not self.operators:
            return record
        changes = health_changes(record.state, now, self.settings.interval(source.interval),
                                 self.store.open_incidents(source.name), self.operators)
        return replace(record, health=changes)

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
