"""Retention: what is old enough to delete, and the keys that outlive it.

``[monitor] retention`` (default 90 days; "off" keeps everything) bounds the database:
items, stories and delivered deliveries older than it are deleted, a small batch per
transaction so that polls are never held for long (SQLite has one writer). What
deduplication needs survives as compact keys (``dedup_key``): an item's (source, guid)
and its canonical URL, so that a feed still serving an old item, or another outlet's copy
of its link, never alerts again. Nothing waited for is deleted: a story an outbox row
still points to (pending, failed or dead delivery) stays, with its items.

``plan_retention`` and ``dedup_key`` are PURE; ``run_retention`` drives the store's
``forget_batch`` until nothing old is left.
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

log = logging.getLogger("monitor.retention")

BATCH_SIZE = 500            # rows of each kind deleted per transaction
PAUSE_SECONDS = 0.05        # between two batches: the polls waiting for the writer go first
RUN_EVERY = timedelta(hours=1)   # how often the daemon looks for old rows


@dataclass(frozen=True)
class RetentionPlan:
    """Delete what is older than ``cutoff``, ``batch_size`` rows of each kind at a time."""

    cutoff: datetime
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
    """PURE: the plan for a retention pass at ``now``; None when retention is off."""
    if retention is None:
        return None
    return RetentionPlan(cutoff=now - retention, batch_size=batch_size)


def dedup_key(kind: str, *parts: str) -> int:
    """PURE: the compact key that stands for a deleted item's guid or URL: the first 8 bytes
    of sha256 as a signed 64-bit integer (SQLite's INTEGER). ``kind`` is "guid" (parts:
    source, guid) or "url" (part: the canonical URL). A false match needs about 4 billion
    keys."""
    digest = hashlib.sha256("\0".join((kind, *parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


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
                 done.deliveries, seconds_utc(plan.cutoff),
                 time.monotonic() - started)
    return done
