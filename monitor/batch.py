"""The source states of unchanged polls, waiting to be committed together.

A poll that found nothing new (not modified, or the same body) changes only its source's
state; the pipeline keeps those states here and writes them in one transaction per batch
(see docs/crash-safety.md for what a crash costs).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from monitor.types import SourceState

BATCH_SIZE = 64      # unchanged polls written in one transaction ...
BATCH_DELAY = 0.5    # ... or once the oldest of them waited this many seconds


class StateBatch:
    """The source states of unchanged polls, waiting to be committed together.

    Thread-safe. The newest state of a source replaces an older one. A batch is due when it
    holds `size` states or its oldest waited `delay` seconds (`clock` is monotonic). Its
    writer moves it aside with `take` and calls `taken` once the commit is over; until then
    `get` still finds those states.
    """

    def __init__(self, size: int, delay: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.delay = delay
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, SourceState] = {}
        self._taken: dict[str, SourceState] = {}
        self._oldest = 0.0   # when the oldest pending state was added

    def get(self, name: str) -> SourceState | None:
        with self._lock:
            state = self._pending.get(name)
            return self._taken.get(name) if state is None else state

    def add(self, state: SourceState) -> bool:
        """Keep the state; True when the batch is now due."""
        with self._lock:
            if not self._pending:
                self._oldest = self._clock()
            self._pending[state.name] = state
            return self._due()

    def due(self) -> bool:
        with self._lock:
            return self._due()

    def _due(self) -> bool:
        return bool(self._pending) and (len(self._pending) >= self.size
                                        or self._clock() - self._oldest >= self.delay)

    def discard(self, name: str) -> None:
        """Forget the source's pending state: a newer write supersedes it."""
        with self._lock:
            self._pending.pop(name, None)

    def take(self) -> list[SourceState]:
        with self._lock:
            self._taken, self._pending = self._pending, {}
            return list(self._taken.values())

    def taken(self) -> None:
        """The states taken are committed, or lost with a failed commit."""
        with self._lock:
            self._taken = {}
