"""A poll's tail, after its sifting: its stories settled, the poll committed.

The matches are grouped into stories outside the record lock (monitor/grouping.py); under
it, the links are re-checked against what other polls stored meanwhile, the stories
settled, the source's next state computed and all of it committed in one transaction
(monitor/commit.py). Every process that commits polls takes the store's record lock,
which spans processes (SQLite: a lock on the file `<database>.commit.lock`, before the
transaction; PostgreSQL: an advisory lock across the nodes, taken on the poll's own
transaction once its items are in, and released by its commit).

The daemon's pipeline (monitor/pipeline.py) runs the tail when it sifts in its own process,
and when a poll's articles are to be read (they are fetched in the daemon's process, past
its per-host gate). Otherwise the worker process that sifted the body runs it
(monitor/worker_task.py): a first poll's commit was most of what a poll cost the daemon,
and in the workers it is spread over the cores. Either way a `PollCommitter` does it, and its
grouper keeps up with the stories the other processes commit (``shared``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor import decide
from monitor.commit import EarlyItems, commit_in, insert_early
from monitor.errors import StoreError
from monitor.grouping import Grouping, StoryGrouper
from monitor.health import health_changes
from monitor.ports import Store
from monitor.store.base import PollBatches, PollWriter
from monitor.types import (
    FetchResult,
    NewItem,
    Polled,
    PollRecord,
    PollSettings,
    PollStatus,
    SourceState,
    StoryDecision,
)

__all__ = ["PollCommitter", "PollToCommit", "capped"]


@dataclass(frozen=True)
class PollToCommit:
    """A sifted poll, to be settled and committed (`PollCommitter.commit_polls`)."""

    name: str
    interval: timedelta
    state: SourceState
    fetched: FetchResult
    now: datetime
    body_hash: str
    items: int                                  # items in the body
    new_items: tuple[NewItem, ...]
    classified: tuple[StoryDecision, ...]       # the matches, in item order


def capped(new_items: tuple[NewItem, ...], indexes: frozenset[int]) -> tuple[NewItem, ...]:
    """The items with those of ``indexes`` marked capped: recorded, no alert."""
    if not indexes:
        return new_items
    return tuple(replace(n, reason="capped") if i in indexes else n
                 for i, n in enumerate(new_items))


class PollCommitter:
    """Settles and commits polls; safe to call from several threads of one process.

    ``shared``: other processes commit polls to the store too (the nodes of a cluster, or
    the workers of one node), so the grouper reads again what its index cannot learn.
    """

    def __init__(self, settings: PollSettings, store: Store,
                 subscribers: Mapping[str, Sequence[str]], rng: random.Random,
                 operators: Mapping[str, timedelta], owner: str | None, *,
                 shared: bool) -> None:
        self.settings = settings
        self.store = store
        self.subscribers = subscribers
        self.rng = rng
        self.operators = dict(operators)   # operator notifier -> alert_after
        self.owner = owner    # the node whose source leases the commits release (None: any)
        # Stories: each match is looked up outside the record lock; under it, only the
        # stories other polls committed meanwhile are checked, then the poll is committed.
        # So two outlets polled at once still make one story, and a poll with many matches
        # does not hold the others.
        self.grouper = StoryGrouper(store, settings.story_window, settings.max_new_per_poll,
                                    shared=shared)
        self._record_lock = threading.Lock()
        # PostgreSQL: how many polls may insert their items before taking those locks.
        self._early = (threading.BoundedSemaphore(store.items_before_lock)
                       if store.items_before_lock else None)
        # Source states are written by one commit at a time, so that a batch of them
        # (monitor/batch.py) is never committed after a newer write of one of its sources.
        self.commit_lock = threading.Lock()

    def commit(self, name: str, interval: timedelta, state: SourceState,
               fetched: FetchResult, now: datetime, body_hash: str, items: int,
               new_items: tuple[NewItem, ...], classified: Sequence[StoryDecision]) -> Polled:
        """Group the poll's matches (``classified``, in item order), then settle its
        stories and commit it."""
        return self.commit_one(PollToCommit(name, interval, state, fetched, now, body_hash,
                                            items, new_items, tuple(classified)))

    def commit_one(self, poll: PollToCommit) -> Polled:
        """`commit` of a sifted poll."""
        grouping = self.grouper.group(poll.new_items, poll.classified, poll.now)
        with ExitStack() as held:
            # The locks are released after the commit, so that a poll's commit ends before
            # another's settle begins. One writer (SQLite): taken first; PostgreSQL: once
            # the poll's items are in.
            held.enter_context(self.locked() if self._early is None else self._early)
            with self.store.poll_transaction(self.owner) as writer:
                early = None
                if self._early is not None:
                    # PostgreSQL: the rows are written while other polls commit; the
                    # decisions below may still make some of them duplicates, or capped.
                    early = insert_early(writer, poll.name,
                                         capped(poll.new_items, grouping.capped),
                                         grouping.decisions, poll.now)
                    held.enter_context(self.locked(writer))
                polled, widened = self._settle_and_write(writer, poll, grouping, early)
            if widened:   # before the locks go: the next settle sees them
                self.grouper.widen(widened)
        return polled

    def commit_polls(self, polls: Sequence[PollToCommit],
                     next_poll: Callable[[], None] = lambda: None
                     ) -> list[Polled | Exception]:
        """Several polls committed together, each as `commit` would, in its order: its
        Polled, or the exception that kept it out (the others are kept). Where the store
        takes several polls in one transaction (SQLite's `poll_batch`), they share it and
        the locks; else (PostgreSQL, whose polls insert their items before the lock) each
        is committed alone, ``next_poll`` called before each but the first (a worker then
        tells the daemon, whose commit timeout bounds each poll, not the batch)."""
        if self._early is not None or not isinstance(self.store, PollBatches):
            alone: list[Polled | Exception] = []
            for index, poll in enumerate(polls):
                if index:
                    next_poll()
                alone.append(self._one(poll))
            return alone
        store: PollBatches = self.store
        groupings: list[Grouping | Exception] = []
        for poll in polls:
            try:
                groupings.append(self.grouper.group(poll.new_items, poll.classified, poll.now))
            except Exception as exc:  # noqa: BLE001 - this poll's failure, not the others'
                groupings.append(exc)
        results: list[Polled | Exception] = []
        try:
            with self.locked(), store.poll_batch(self.owner) as in_savepoint:
                for poll, grouping in zip(polls, groupings, strict=True):
                    if isinstance(grouping, Exception):
                        results.append(grouping)
                        continue
                    try:
                        with in_savepoint() as writer:
                            polled, widened = self._settle_and_write(writer, poll, grouping)
                    except Exception as exc:  # noqa: BLE001 - this poll's, rolled back alone
                        results.append(exc)
                        continue
                    results.append(polled)
                    if widened:   # the next poll's settle sees them
                        self.grouper.widen(widened)
        except BaseException as exc:
            # Nothing of the batch was kept, but its settles may have indexed the stories
            # its polls opened: the index is read afresh.
            self.grouper.forget()
            if not isinstance(exc, StoreError):
                raise
            return [exc] * len(polls)
        return results

    def _one(self, poll: PollToCommit) -> Polled | Exception:
        try:
            return self.commit_one(poll)
        except Exception as exc:  # noqa: BLE001 - this poll's failure, not the others'
            return exc

    def _settle_and_write(self, writer: PollWriter, poll: PollToCommit, grouping: Grouping,
                          early: EarlyItems | None = None
                          ) -> tuple[Polled, Mapping[int, tuple[str, ...]]]:
        """Under the locks, in the poll's transaction: its links re-checked, its stories
        settled, its source's next state computed, all of it written; the poll as
        committed, and the stories it widened."""
        new_items = self._recheck_urls(capped(poll.new_items, grouping.capped))
        settled = self.grouper.settle(grouping, poll.now, frozenset(
            i for i, n in enumerate(new_items) if n.reason == "new"))
        new_items = capped(new_items, settled.capped)
        count = sum(1 for n in new_items if n.reason == "capped")
        new_state = self.next_state(poll.state, poll.now, "ok", poll.fetched, poll.interval,
                                    body_hash=poll.body_hash, items=poll.items,
                                    new=sum(1 for n in new_items if n.alert) + count,
                                    capped=count)
        record = self.with_health(PollRecord(new_state, new_items, settled.decisions),
                                  poll.now, poll.interval)
        committed = commit_in(writer, record, self.subscribers, poll.now, early=early)
        matched = len({d.item for d in settled.decisions if new_items[d.item].reason != "old"})
        return Polled(new_state, poll.items, matched, committed.alerting), committed.widened

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

    def next_state(self, state: SourceState, now: datetime, status: PollStatus,
                   fetched: FetchResult, interval: timedelta, **counts: object) -> SourceState:
        """The source's state after a poll that got a body, or was told it had not changed."""
        return decide.after_success(
            state, now, status=status, interval=interval, jitter=self.rng.random(),
            headers=fetched.headers, etag=fetched.etag, last_modified=fetched.last_modified,
            url=self._redirected(state, fetched), **counts)  # type: ignore[arg-type]

    @staticmethod
    def _redirected(state: SourceState, fetched: FetchResult) -> str | None:
        if fetched.permanent_redirect and fetched.permanent_redirect != state.url:
            return fetched.permanent_redirect
        return None

    def with_health(self, record: PollRecord, now: datetime,
                    interval: timedelta) -> PollRecord:
        """The record with the source-health incidents its state opens or closes."""
        if not self.operators:
            return record
        changes = health_changes(record.state, now, interval,
                                 self.store.open_incidents(record.state.name), self.operators)
        return replace(record, health=changes)

    def locked(self, writer: PollWriter | None = None) -> ExitStack:
        """The locks a poll's stories are settled and committed under, entered: the
        process's, the store's record lock (of every process that commits polls to the
        database, one commits stories at a time, so a poll's stories are checked against
        every process's committed ones), and the commit lock (source states). With the
        poll's ``writer``, the record lock is taken on its transaction, which holds it until
        it ends (PostgreSQL: no session of its own, no round trip to release it)."""
        with ExitStack() as locks:   # a lock not taken gives back those taken
            locks.enter_context(self._record_lock)
            if writer is None:
                locks.enter_context(self.store.record_lock())
            else:
                writer.lock_records()
            locks.enter_context(self.commit_lock)
            return locks.pop_all()
