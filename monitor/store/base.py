"""The storage interface the pipeline, the delivery stage and the commands use.

SQLite (monitor/store/sqlite.py) and PostgreSQL (monitor/store/postgres.py) implement it;
monitor/store/__init__.py's open_store picks one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from monitor.intents import AddSource, Intent, MoveSource, StoryState
from monitor.retention import Forgotten, RetentionPlan
from monitor.types import (
    DatabaseCheck,
    DatabaseInfo,
    DeliveryStatus,
    Digest,
    Incident,
    NewItem,
    SourceState,
    StoredItem,
    Story,
    StoryKey,
)


class PollWriter(Protocol):
    """A poll's commit inside one transaction: writes and the reads the planners need.

    SQL and row mapping only; what to write is decided by monitor/plan.py.
    """

    def write_state(self, state: SourceState) -> None:
        """The source's state after the poll."""

    def insert_items(self, source: str, new_items: Sequence[NewItem], linked: Iterable[int],
                     now: datetime) -> frozenset[int]:
        """Insert the poll's new items (one already stored under its guid is skipped);
        of ``linked``, the indexes whose rows were inserted (intents refer to them)."""

    def stories_of(self, items: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(stored item id, topic) -> the item's story of that topic, where it has one."""

    def story_states(self, ids: Iterable[int]) -> dict[int, StoryState]:
        """Whether each of these stored stories alerted, and its actors."""

    def apply(self, intents: Sequence[Intent], now: datetime) -> dict[int, tuple[str, ...]]:
        """Write the intents in order; returns the stories whose actors were widened
        (story id -> its actors now)."""


class Store(Protocol):
    path: str
    """The database as a person may read it (a URL without its password)."""

    def stored_sources(self) -> dict[str, tuple[str, SourceState]]:
        """Every stored source: name -> (its URL as configured when stored, its state)."""

    def apply_sources(self, changes: Sequence[AddSource | MoveSource]) -> None:
        """Write sources added to the config, and those whose URL changed (one
        transaction)."""

    def source_state(self, name: str) -> SourceState: ...

    def source_states(self) -> list[SourceState]: ...

    def source_urls(self) -> dict[str, str]: ...

    def due_sources(self, now: datetime) -> dict[str, str]: ...

    def known_guids(self, source: str, guids: Sequence[str]) -> set[str]: ...

    def items_by_canonical_url(self, urls: Sequence[str]) -> dict[str, int]: ...

    def forgotten_urls(self, urls: Sequence[str]) -> set[str]:
        """The canonical URLs of items deleted by retention (their keys were kept)."""

    def forget_batch(self, plan: RetentionPlan) -> Forgotten:
        """One retention batch in one transaction (see monitor.retention)."""

    def optimize(self) -> None:
        """Refresh the query planner's statistics after a retention pass."""

    def database_info(self) -> DatabaseInfo: ...

    def stored_items(self, since: datetime) -> list[StoredItem]:
        """The items first seen since ``since``, each with the stories it alerted in."""

    def recent_stories(self, topic: str, since: datetime, after_id: int = 0) -> list[StoryKey]:
        """The topic's stories first seen since ``since`` (with ids above ``after_id``), in
        id order. Ids grow in commit order."""

    def poll_transaction(self) -> AbstractContextManager[PollWriter]:
        """One poll's commit (monitor/commit.py): every write through the writer is
        committed when the block ends, or none if it raises."""

    def record_states(self, states: Sequence[SourceState]) -> None:
        """Commit several sources' states in one transaction (polls that changed nothing
        else); raises StoreError like every write."""

    def open_incidents(self, source: str) -> list[Incident]: ...

    def make_digest(self, notifier: str, now: datetime, digest_id: str) -> Digest | None: ...

    def add_delivery(self, digest: Digest, now: datetime) -> None: ...

    def due_deliveries(self, notifier: str, now: datetime) -> list[Digest]: ...

    def mark_sending(self, digest_id: str, now: datetime) -> int: ...

    def mark_delivered(self, digest_id: str, now: datetime) -> None: ...

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime) -> None:
        """A failed attempt, to be tried again at ``next_attempt_at``."""

    def mark_dead(self, digest_id: str, error: str, now: datetime) -> None:
        """A failed attempt, not to be tried again (kept, reported as dead)."""

    def delivery_rows(self, statuses: Sequence[DeliveryStatus]) -> list[dict[str, Any]]:
        """`monitor deliveries` and `status`: the deliveries in these states, oldest first,
        their times as ISO 8601 text."""

    def retry_deliveries(self, digest_id: str | None, now: datetime) -> int:
        """Make failed or dead deliveries due now (all when digest_id is None); how many."""

    def matches(self, since: datetime) -> list[Story]: ...

    def check_readable(self) -> None:
        """Raise StoreError unless the database can be read throughout (`monitor status`)."""

    def check(self) -> DatabaseCheck:
        """`monitor db check`: the schema version and the integrity checks' verdicts."""

    def close(self) -> None: ...
