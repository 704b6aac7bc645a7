"""The storage interface the pipeline, the delivery stage and the commands use.

SQLite (monitor/store/sqlite.py) and PostgreSQL (monitor/store/postgres.py) implement it;
monitor/store/__init__.py's open_store picks one. The store applies and reads; it decides
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from monitor.cluster import Heartbeat, Lease, NodeIdentity, NodeInfo, SourceClaim
from monitor.events import KnownEvent, LedgerEntry
from monitor.intents import Intent, PendingStory, SourceChange, StoryState
from monitor.outbox import Reschedule
from monitor.retention import Forgotten, RetentionPlan
from monitor.types import (
    ArticleCounts,
    CachedArticle,
    DatabaseCheck,
    DatabaseInfo,
    DeliveryStatus,
    Digest,
    EventKind,
    HealthFacts,
    Incident,
    KnownKeys,
    NewItem,
    ParsedItem,
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

    def lock_records(self) -> None:
        """Take the store's record lock (`Store.record_lock`) until this transaction ends,
        on the transaction itself (PostgreSQL: a transaction-level advisory lock, which
        excludes the session-level one too, released by the commit). Where transactions
        that write already exclude each other (SQLite), there is nothing more to take."""

    def insert_items(self, source: str, new_items: Sequence[NewItem], linked: Iterable[int],
                     now: datetime) -> frozenset[int]:
        """Insert the poll's new items (one already stored under its guid is skipped);
        of ``linked``, the indexes whose rows were inserted (intents refer to them)."""

    def item_ids(self, source: str, new_items: Sequence[NewItem],
                 indexes: Sequence[int]) -> frozenset[int]:
        """Keep the row ids of these items of the poll, inserted before in this transaction
        but not linked then (intents now refer to them); the indexes whose rows exist."""

    def record_only(self, source: str, guids: Sequence[str]) -> None:
        """These items of the source, inserted before in this transaction as alerting, are
        recorded only (found duplicates, or capped, since)."""

    def stories_of(self, items: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(stored item id, topic) -> the item's story of that topic, where it has one."""

    def story_states(self, ids: Iterable[int]) -> dict[int, StoryState]:
        """Whether each of these stored stories alerted, and its actors."""

    def known_events(self, keys: Iterable[tuple[str, EventKind]]
                     ) -> dict[tuple[str, EventKind], KnownEvent]:
        """The event ledger's entries of these (state, kind) keys, where it has them."""

    def pending_stories(self) -> list[PendingStory]:
        """The stories not yet placed in the event ledger (novelty 'pending': stored by a
        version without it), oldest (first_seen, then id) first, each with its verdict as
        stored and its first item (the lowest item id of its story_items, None if none)."""

    def apply(self, intents: Sequence[Intent], now: datetime) -> dict[int, tuple[str, ...]]:
        """Write the intents in order; returns the stories whose actors were widened
        (story id -> its actors now)."""


@runtime_checkable
class PollBatches(Protocol):
    """A store that takes several polls' commits in one transaction (SQLite: a worker's
    batch then empties the other processes' page caches once, not once a poll)."""

    def poll_batch(self, owner: str | None = None
                   ) -> AbstractContextManager[Callable[[], AbstractContextManager[PollWriter]]]:
        """One transaction for several polls' commits (`poll_transaction`'s rules for
        each): every call of the function it gives opens a poll's writes, in a savepoint:
        a poll whose block raises leaves nothing, the others are kept. If the transaction
        cannot commit, none is kept (StoreError)."""


class Store(Protocol):
    """The state of one monitor: sources, items, stories, the outbox and deliveries.

    A backend writes SQL and maps rows; every rule (what is due, what a digest takes,
    what retention deletes, what a poll writes) reaches it as explicit arguments or intent
    records decided elsewhere (monitor/plan.py, outbox.py, retention.py). Every method
    raises StoreError when the database fails; a write that fails leaves nothing behind.
    """

    path: str
    """The database as a person may read it (a URL without its password)."""

    shared: bool
    """Several nodes may write the database at once (the nodes of a cluster: PostgreSQL);
    False when one node only can (SQLite: the daemon lock keeps a second one out; its
    worker processes still commit polls, under `record_lock`)."""

    items_before_lock: int
    """How many polls at once may open their transaction and insert their items before
    they take the record lock, each holding a connection while it waits (PostgreSQL: the
    rows are written while other polls commit). 0: a poll's commit is made whole under
    the lock (SQLite: one writer at a time anyway)."""

    def stored_sources(self) -> dict[str, tuple[str, SourceState]]:
        """Every stored source: name -> (its URL as configured when stored, its state)."""

    def apply_sources(self, changes: Sequence[SourceChange]) -> None:
        """Write sources added to the config, those whose URL changed, those retired and
        those restored (one transaction)."""

    def retired_sources(self) -> frozenset[str]:
        """The stored sources no longer in the config (kept, never claimed)."""

    def source_state(self, name: str) -> SourceState:
        """The stored state of one source; StoreError when there is none."""

    def source_states(self) -> list[SourceState]:
        """Every source's state, by name."""

    def source_health_facts(self) -> list[HealthFacts]:
        """Every source's state as far as monitor.decide.health reads it, by name: the
        metrics' gauge of sources by health reads it at every scrape."""

    def source_urls(self) -> dict[str, str]:
        """Every source's URL to fetch (after permanent redirects): name -> URL."""

    def due_sources(self, now: datetime) -> dict[str, str]:
        """The sources whose next poll time is not after ``now`` (or not set): name ->
        URL to fetch."""

    def known_guids(self, source: str, guids: Sequence[str]) -> set[str]:
        """Those of ``guids`` the source delivered before: stored in its items, or kept as
        a key (monitor.retention.dedup_key("guid", source, guid)) after retention."""

    def known_keys(self, source: str, items: Sequence[ParsedItem],
                   canonical: Callable[[str], str]) -> KnownKeys:
        """What sifting a body of the source needs to know of its items: the guids it
        delivered (`known_guids`); of the other items, each URL's canonical form (made
        by ``canonical``), the first stored item holding it (`items_by_canonical_url`),
        and those retention forgot (`forgotten_urls`)."""

    def items_by_canonical_url(self, urls: Sequence[str]) -> dict[str, int]:
        """For each of ``urls`` ("" ignored) held by a stored item: the lowest such item
        id."""

    def forgotten_urls(self, urls: Sequence[str]) -> set[str]:
        """The canonical URLs of items deleted by retention (their keys were kept)."""

    def forget_batch(self, plan: RetentionPlan) -> Forgotten:
        """One retention batch in one transaction: up to ``plan.batch_size`` deliveries,
        stories and items, chosen exactly as monitor.retention.RetentionPlan says (its
        statuses, cutoffs and kept keys); returns how many of each were deleted. The
        event ledger's story ids (events.story_id, event_reports.story_id) of the stories
        deleted are set to NULL: the ledger keeps the reports, and a later story may be
        given a deleted one's id."""

    def optimize(self) -> None:
        """Refresh the query planner's statistics after a retention pass."""

    def check_readable(self) -> None:
        """Raise StoreError unless every table and index of the database reads and is well
        formed (`monitor status` must not show a damaged database as healthy)."""

    def check(self) -> DatabaseCheck:
        """`monitor db check`: the schema version and the integrity checks' verdicts."""

    def database_info(self) -> DatabaseInfo:
        """Its size, item count, oldest item and kept keys, for `monitor status`."""

    def stored_items(self, since: datetime) -> list[StoredItem]:
        """The items first seen since ``since``, each with the stories it alerted in."""

    def recent_stories(self, topic: str, since: datetime, after_id: int = 0) -> list[StoryKey]:
        """The topic's stories first seen since ``since`` (with ids above ``after_id``), in
        id order. Ids grow in commit order. A story's ``kind`` is the ``kind`` of its stored
        ledger event (the ``event`` column's JSON; None when it has none): reports of one
        step in two languages are grouped by it."""

    def story_actors(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """The acting states of these stories as committed now (another node may have
        widened them since this process read them); a story not found is left out."""

    def poll_transaction(self, owner: str | None = None
                         ) -> AbstractContextManager[PollWriter]:
        """One poll's commit, or the event ledger's start (monitor/commit.py): every write
        through the writer is committed when the block ends, or none if it raises. Writing
        a source's state releases its lease, and raises StoreError when a node other than
        ``owner`` holds it (None: whoever holds it)."""

    def record_lock(self) -> AbstractContextManager[object]:
        """Held while a poll checks its new items and stories against the stored ones and
        commits them (or taken on the poll's transaction: `PollWriter.lock_records`):
        across every process that writes the database (the nodes, the
        workers of each), so that their polls are checked and committed one at a time
        (ids then grow in commit order)."""

    def record_states(self, states: Sequence[SourceState], owner: str | None = None) -> None:
        """Commit several sources' states in one transaction (polls that changed nothing
        else), each releasing its source's lease; a state whose source another node than
        ``owner`` holds is not written. Raises StoreError like every write."""

    def open_incidents(self, source: str) -> list[Incident]:
        """The source's incidents not yet closed, each with the notifiers told of it."""

    def cached_articles(self, urls: Sequence[str]) -> dict[str, CachedArticle]:
        """The cached reads of these article URLs (canonical), by URL."""

    def record_articles(self, articles: Sequence[CachedArticle], counts: ArticleCounts,
                        now: datetime) -> None:
        """Cache the articles a poll read (replacing older reads of the same URLs) and add
        its counts to those of ``now``'s hour, in one transaction."""

    def article_counts(self, since: datetime) -> ArticleCounts:
        """The article reads counted since ``since`` (by the hour)."""

    def ledger(self) -> list[LedgerEntry]:
        """The event ledger, oldest first report first (first_seen, then id), each entry
        with its reports (first_seen, then id) as the ledger keeps them: never joined to
        the stories, which retention may have deleted (their ids NULL) or given to others.
        An entry's first report is its own copy when the monitor opened it, None when
        shipped."""

    def queued_stories(self, notifier: str) -> list[int]:
        """The story ids of the notifier's outbox rows in no digest yet, in queue order."""

    def make_digest(self, notifier: str, story_ids: Sequence[int], now: datetime,
                    digest_id: str) -> Digest | None:
        """In one transaction: freeze those of ``story_ids`` still queued for the notifier
        (in no digest yet when the transaction runs) into one pending delivery with id
        ``digest_id``, and mark their outbox rows as in it. None (nothing written) when
        none of them is. Which stories to claim is monitor.outbox.digest_stories's."""

    def add_delivery(self, digest: Digest, now: datetime) -> None:
        """A pending delivery of ``digest`` (a health notice), due at ``now``."""

    def due_deliveries(self, notifier: str, statuses: Sequence[DeliveryStatus],
                       now: datetime) -> list[Digest]:
        """The notifier's deliveries whose status is in ``statuses`` and whose next attempt
        time is not after ``now``, oldest (created_at, then id) first. Which statuses are
        due is monitor.outbox.DUE_STATUSES."""

    def reschedule_deliveries(self, plan: Reschedule) -> int:
        """Apply a monitor.outbox.Reschedule in one transaction (see its fields); returns
        the number of deliveries it matched."""

    def delivery_rows(self, statuses: Sequence[DeliveryStatus],
                      limit: int | None = None) -> list[dict[str, Any]]:
        """The deliveries whose status is in ``statuses``, oldest (created_at, then id)
        first, at most ``limit`` of them (None: all), for `monitor status` and `monitor
        deliveries`: dicts with the keys id, notifier, kind, created_at, status, attempts,
        next_attempt_at, last_attempt_at, last_error, delivered_at (ISO strings or None)
        and stories (the number of stories in the payload)."""

    def delivery_counts(self, statuses: Sequence[DeliveryStatus]
                        ) -> dict[tuple[str, DeliveryStatus], int]:
        """How many deliveries each (notifier, status) has, for the statuses in
        ``statuses``; a pair with none is absent. A count, not a read of each row: the
        metrics' gauge reads it at every scrape, and dead deliveries are kept until
        retried."""

    def mark_sending(self, digest_id: str, now: datetime) -> int:
        """Record an attempt before it is made (status sending, attempts + 1, last attempt
        at ``now``); returns the attempt number."""

    def claim_delivery(self, digest_id: str, statuses: Sequence[DeliveryStatus],
                       lease: Lease) -> int | None:
        """Record an attempt before it is made, as mark_sending does, the delivery leased
        to ``lease.owner`` until ``lease.until``: the attempt number, or None (nothing
        written) unless its status is in ``statuses``, its next attempt time is not after
        ``lease.now`` and its lease is free (no owner, or ended before ``lease.now``)."""

    def mark_delivered(self, digest_id: str, now: datetime) -> None:
        """Delivered at ``now``; its error cleared, its lease released."""

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime) -> None:
        """A failed attempt, to be tried again at ``next_attempt_at``; its lease released.
        Not written over a delivery already delivered (by another node meanwhile)."""

    def mark_dead(self, digest_id: str, error: str, now: datetime) -> None:
        """A failed attempt, not to be tried again (kept, reported as dead); its lease
        released. Not written over a delivery already delivered."""

    def matches(self, since: datetime) -> list[Story]:
        """The stories first seen since ``since`` (oldest first), each with its reports."""

    def source_items(self, source: str, limit: int) -> list[StoredItem]:
        """The source's ``limit`` items seen last, newest first, each with its stories
        (the HTTP face's page of one source)."""

    def ping(self) -> None:
        """A cheap read that proves the database answers; StoreError when it does not."""

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

    def close(self) -> None:
        """Close the connection; the store is not used after."""
