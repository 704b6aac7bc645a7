"""The storage interface the pipeline and the delivery stage use.

SQLite implements it today; a PostgreSQL backend implements the same methods.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from monitor.cluster import Heartbeat, Lease, NodeIdentity, NodeInfo, SourceClaim
from monitor.events import KnownEvent, LedgerEntry
from monitor.intents import Intent, SourceChange, StoryState
from monitor.retention import Forgotten, RetentionPlan
from monitor.types import (
    DatabaseInfo,
    Digest,
    EventKind,
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

    def known_events(self, keys: Iterable[tuple[str, EventKind]]
                     ) -> dict[tuple[str, EventKind], KnownEvent]:
        """The event ledger's entries of these (state, kind) keys, where it has them."""

    def apply(self, intents: Sequence[Intent], now: datetime) -> dict[int, tuple[str, ...]]:
        """Write the intents in order; returns the stories whose actors were widened
        (story id -> its actors now)."""


class Store(Protocol):
    path: str
    """The database as a person may read it (a URL without its password)."""

    shared: bool
    """Several processes may write the database at once (the nodes of a cluster: PostgreSQL);
    False when one process only can (SQLite: the daemon lock keeps a second one out)."""

    def stored_sources(self) -> dict[str, tuple[str, SourceState]]:
        """Every stored source: name -> (its URL as configured when stored, its state)."""

    def apply_sources(self, changes: Sequence[SourceChange]) -> None:
        """Write sources added to the config, those whose URL changed, those retired and
        those restored (one transaction)."""

    def retired_sources(self) -> frozenset[str]:
        """The stored sources no longer in the config (kept, never claimed)."""

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

    def poll_transaction(self, owner: str | None = None
                         ) -> AbstractContextManager[PollWriter]:
        """One poll's commit (monitor/commit.py): every write through the writer is
        committed when the block ends, or none if it raises. Writing the source's state
        releases its lease, and raises StoreError when a node other than ``owner`` holds
        it (None: whoever holds it)."""

    def record_lock(self) -> AbstractContextManager[object]:
        """Held while a poll checks its new items and stories against the stored ones and
        commits them: across every process that writes the database, so that their polls
        are checked and committed one at a time (ids then grow in commit order). A lock
        for nothing where one process writes (SQLite: the pipeline's own lock suffices)."""

    def record_states(self, states: Sequence[SourceState], owner: str | None = None) -> None:
        """Commit several sources' states in one transaction (polls that changed nothing
        else), each releasing its source's lease; a state whose source another node than
        ``owner`` holds is not written. Raises StoreError like every write."""

    def open_incidents(self, source: str) -> list[Incident]: ...

    def seed_events(self, entries: Sequence[KnownEvent]) -> None:
        """Add the shipped ledger entries whose (state, kind) the ledger lacks."""

    def ledger(self) -> list[LedgerEntry]:
        """The event ledger, oldest first report first, each entry with its reports."""

    def make_digest(self, notifier: str, now: datetime, digest_id: str) -> Digest | None: ...

    def add_delivery(self, digest: Digest, now: datetime) -> None: ...

    def due_deliveries(self, notifier: str, now: datetime) -> list[Digest]: ...

    def mark_sending(self, digest_id: str, now: datetime) -> int: ...

    def claim_delivery(self, digest_id: str, lease: Lease) -> int | None:
        """Record an attempt before it is made, the delivery leased to ``lease.owner``
        until ``lease.until``: the attempt number, or None when the delivery is not due at
        ``lease.now`` or another node holds its lease."""

    def mark_delivered(self, digest_id: str, now: datetime) -> None:
        """Delivered (its lease released)."""

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime) -> None:
        """A failed attempt, to be tried again at ``next_attempt_at``."""

    def mark_dead(self, digest_id: str, error: str, now: datetime) -> None:
        """A failed attempt, not to be tried again (kept, reported as dead)."""

    def matches(self, since: datetime) -> list[Story]: ...

    # -- nodes and their leases (decided by monitor/cluster.py) -----------------------

    def nodes(self, now: datetime) -> list[NodeInfo]:
        """Every node in the table, oldest first, with the leases it holds at ``now``."""

    def join(self, identity: NodeIdentity, now: datetime) -> list[NodeInfo]:
        """Add the node, alive at ``now``; the other nodes as they were when it joined
        (nodes joining at once are serialised: each sees those before it)."""

    def beat(self, heartbeat: Heartbeat) -> None:
        """A node's heartbeat: its row, and the leases of the work it still has in hand
        renewed (those it no longer owns are left alone)."""

    def forget_nodes(self, ids: Sequence[str]) -> None:
        """Remove these nodes and release every lease they hold."""

    def count_claimable(self, now: datetime) -> int:
        """How many sources not retired are due at ``now`` with a free lease."""

    def claim_sources(self, claim: SourceClaim) -> list[SourceState]:
        """Lease the sources ``claim`` describes to its owner, at once for each (of two
        nodes claiming together, each gets other sources); their states as stored."""

    def release_sources(self, owner: str, names: Sequence[str]) -> None:
        """Release the leases ``owner`` holds on these sources."""

    def hold_singleton(self, name: str) -> bool:
        """Whether this process holds the singleton ``name`` (taking it when free); it
        keeps it until it closes the store or loses its connection."""

    def close(self) -> None: ...
