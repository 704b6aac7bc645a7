"""What the running daemon knows of itself beyond the store, for the HTTP face.

`Heartbeat`: when the scheduler's tick last completed (GET /healthz says 503 once it is
stale). `PollLog`: each source's latest polls in this process (the page of one source
shows them; the store keeps only a source's state after its last poll). Both thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from monitor.types import PollOutcome, PollStatus

HEARTBEAT_STALE = 60.0    # seconds without a completed tick before /healthz says 503
RECENT_POLLS = 5          # polls kept per source: about 1 KB a source (benchmarks/web.py)


class Heartbeat:
    """When the daemon's tick last completed, on a monotonic clock."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._last: float | None = None
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            self._last = self._clock()

    def problem(self, stale_after: float = HEARTBEAT_STALE) -> str | None:
        """None while the tick ran within ``stale_after`` seconds, else why not, in words."""
        now = self._clock()
        with self._lock:
            last = self._last
        if last is None:
            return f"the scheduler has not ticked yet (started {now - self._started:.0f}s ago)"
        if now - last > stale_after:
            return (f"the scheduler last ticked {now - last:.0f}s ago "
                    f"(more than {stale_after:.0f}s)")
        return None


@dataclass(frozen=True, slots=True)
class RecentPoll:
    """One poll as the page of its source lists it."""

    at: datetime          # when it ended
    status: PollStatus
    items: int
    new: int
    matched: int
    duration: float
    error: str | None


class PollLog:
    """Each source's latest ``keep`` polls, newest last."""

    def __init__(self, keep: int = RECENT_POLLS) -> None:
        self._keep = keep
        self._polls: dict[str, list[RecentPoll]] = {}   # a list: a deque's block is 600 B
        self._lock = threading.Lock()

    def record(self, at: datetime, outcome: PollOutcome) -> None:
        entry = RecentPoll(at, outcome.status, outcome.items, outcome.new, outcome.matched,
                           outcome.duration, outcome.error)
        with self._lock:
            polls = self._polls.setdefault(outcome.source, [])
            polls.append(entry)
            if len(polls) > self._keep:
                del polls[0]

    def recent(self, source: str) -> list[RecentPoll]:
        """The source's latest polls in this process, newest first."""
        with self._lock:
            return list(reversed(self._polls.get(source, ())))
