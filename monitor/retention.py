"""Retention: what is old enough to delete, and the keys that outlive it.

``[monitor] retention`` (default 90 days; "off" keeps everything) bounds the database:
items, stories and delivered deliveries older than it are deleted, a small batch per
transaction so that polls are never held for long (SQLite has one writer). What
deduplication needs survives as compact keys (``dedup_key``): an item's (source, guid)
and its canonical URL, so that a feed still serving an old item, or another outlet's copy
of its link, never alerts again. Nothing waited for is deleted: a story an outbox row
still points to (pending, failed or dead delivery) stays, with its items.

``plan_retention``, ``dedup_key`` and ``kept_keys`` are PURE: they decide what may go and
what stays of it, as explicit parameters (statuses, cutoffs, keys); ``run_retention`` drives
the store's ``forget_batch``, which applies them, until nothing old is left.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from monitor.digest import seconds_utc
from monitor.types import DeliveryStatus

log = logging.getLogger("monitor.retention")

BATCH_SIZE = 500            # rows of each kind deleted per transaction
PAUSE_SECONDS = 0.05        # between two batches: the polls waiting for the writer go first
RUN_EVERY = timedelta(hours=1)   # how often the daemon looks for old rows


@dataclass(frozen=True)
class RetentionPlan:
    """What a retention pass deletes, ``batch_size`` rows of each kind per transaction.

    The store's ``forget_batch`` applies it as written, and on its own adds only what its
    references require (an outbox row goes with its delivery; a story an outbox row still
    names, and an item a story still lists, stay; the event ledger keeps its copies of a
    deleted story's reports, their story ids set to NULL):

    - deliveries whose status is in ``delivery_statuses``, delivered before
      ``delivered_before``, with their outbox rows;
    - stories first seen before ``stories_before`` none of whose reports (items) was first
      seen at or after ``reports_before``;
    - items first seen before ``items_before``; each leaves ``kept_keys`` of its source,
      guid and canonical URL in the kept keys;
    - cached article reads (monitor/articles.py) fetched before ``articles_before``.
    """

    delivered_before: datetime
    stories_before: datetime
    reports_before: datetime
    items_before: datetime
    articles_before: datetime
    delivery_statuses: tuple[DeliveryStatus, ...] = ("delivered",)
    batch_size: int = BATCH_SIZE


@dataclass(frozen=True)
class Forgotten:
    """What one batch (or a whole run) deleted."""

    deliveries: int = 0
    stories: int = 0
    items: int = 0
    articles: int = 0       # cached article reads (monitor/articles.py)

    @property
    def total(self) -> int:
        return self.deliveries + self.stories + self.items + self.articles

    def __add__(self, other: Forgotten) -> Forgotten:
        return Forgotten(self.deliveries + other.deliveries, self.stories + other.stories,
                         self.items + other.items, self.articles + other.articles)


class RetentionStore(Protocol):
    def forget_batch(self, plan: RetentionPlan) -> Forgotten: ...

    def optimize(self) -> None: ...


def plan_retention(retention: timedelta | None, now: datetime,
                   batch_size: int = BATCH_SIZE) -> RetentionPlan | None:
    """PURE: the plan for a retention pass at ``now``; None when retention is off.

    Everything older than ``now - retention`` goes, except what is still waited for: only
    delivered deliveries go (a pending, failed or dead one keeps its outbox rows, so its
    stories stay), and a story goes only when its newest report is old too (a copy that
    joined it later keeps it: else that copy, left without its story, would make the next
    copy of the URL open the old story anew and alert it).
    """
    if retention is None:
        return None
    cutoff = now - retention
    return RetentionPlan(delivered_before=cutoff, stories_before=cutoff,
                         reports_before=cutoff, items_before=cutoff, articles_before=cutoff,
                         delivery_statuses=("delivered",), batch_size=batch_size)


def dedup_key(kind: str, *parts: str) -> int:
    """PURE: the compact key that stands for a deleted item's guid or URL: the first 8 bytes
    of sha256 as a signed 64-bit integer (SQLite's INTEGER). ``kind`` is "guid" (parts:
    source, guid) or "url" (part: the canonical URL). A false match needs about 4 billion
    keys."""
    digest = hashlib.sha256("\0".join((kind, *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def kept_keys(source: str, guid: str, canonical_url: str) -> tuple[int, ...]:
    """PURE: the dedup keys a deleted item leaves: its (source, guid), and its canonical URL
    when it has one (the store's known_keys looks them up)."""
    keys = (dedup_key("guid", source, guid),)
    return keys + (dedup_key("url", canonical_url),) if canonical_url else keys


def run_retention(store: RetentionStore, plan: RetentionPlan | None,
                  stopping: Callable[[], bool] = lambda: False,
                  pause: float = PAUSE_SECONDS) -> Forgotten:
    """Delete everything the plan says is old, batch after batch, pausing between batches
    so that polls get the writer. Stops early when ``stopping()`` says so (the rest is
    deleted on the next run). Ends with the statistics refresh the backend needs."""
    done = Forgotten()
    if plan is None:
        return done
    started = time.monotonic()
    while not stopping():
        batch = store.forget_batch(plan)
        done += batch
        if max(batch.deliveries, batch.stories, batch.items, batch.articles) \
                < plan.batch_size:
            break
        if pause:
            time.sleep(pause)
    if done.total:
        store.optimize()
        log.info("retention: deleted %d items, %d stories, %d delivered deliveries older "
                 "than %s in %.1fs (their dedup keys kept)", done.items, done.stories,
                 done.deliveries, seconds_utc(plan.items_before),
                 time.monotonic() - started)
    return done
