"""The SQLite backend of the Store: WAL mode, one connection guarded by a lock.

Every write happens in `_transaction()`; a poll's items, stories and outbox rows
are committed together or not at all (`poll_transaction`, or several polls in one
transaction, each in a savepoint: `poll_batch`; written through
monitor/store/sqlite_poll.py). SQL and row mapping only: what to write, what is due and
what may be deleted are decided by the pure planners (monitor/plan.py, monitor/outbox.py,
monitor/retention.py) and arrive as intents, statuses, ids and cutoffs.

One piece over 400 lines because it is one connection and one lock: the source states,
items, stories, deliveries, health incidents, retention batches and `monitor db` checks and
dumps it reads and writes share them (the poll's own writes are in sqlite_poll.py, the row
codec in codec.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from monitor.cluster import Heartbeat, Lease, NodeIdentity, NodeInfo, SourceClaim
from monitor.errors import StoreError
from monitor.events import LedgerEntry
from monitor.intents import AddSource, MoveSource, RestoreSource, RetireSource, SourceChange
from monitor.outbox import Reschedule
from monitor.retention import Forgotten, RetentionPlan, dedup_key, kept_keys
from monitor.store import sqlite_articles, sqlite_nodes
from monitor.store.checks import CONSISTENCY, TABLES
from monitor.store.codec import (
    STATE_COLUMNS,
    TIME_COLUMNS,
    as_json,
    digest_from_json,
    error_kind,
    health_facts,
    iso,
    ledger_entries,
    parse_iso,
    stored_items,
    story_from_row,
    story_key,
    story_source,
)
from monitor.store.schema import MIGRATIONS, SCHEMA_VERSION
from monitor.store.sqlite_poll import SqlitePollWriter, insert_delivery
from monitor.types import (
    ArticleCounts,
    CachedArticle,
    DatabaseCheck,
    DatabaseInfo,
    DeliveryStatus,
    Digest,
    HealthFacts,
    Incident,
    KnownKeys,
    ParsedItem,
    SourceState,
    StoredItem,
    Story,
    StoryKey,
    StorySource,
)


def acquire_daemon_lock(database: str) -> IO[str]:
    """Hold an exclusive lock beside the database so two daemons cannot share it.

    The lock file sits beside the resolved file (symlinks followed): a daemon started on a
    symlink to the database and one started on the file itself take the same lock.
    Returns the open lock file; the lock lasts while it stays open (or the process lives).
    A place where the lock cannot be written (read-only, not a folder) is a StoreError.
    """
    lock_path = Path(os.path.realpath(database) + ".lock")
    make_folder(lock_path.parent, database)
    try:
        handle = open(lock_path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process
    except OSError as exc:
        raise StoreError(f"database {database}: cannot write its lock file {lock_path}: "
                         f"{exc.strerror or exc}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StoreError(f"database {database} is in use by another monitor "
                         f"(pid {holder}); stop it first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def make_folder(folder: Path, database: str) -> None:
    """Create the database's folder if needed; a place that cannot hold it is a StoreError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise StoreError(f"database {database}: {folder} is not a folder") from exc
    except OSError as exc:
        raise StoreError(f"database {database}: cannot create the folder {folder}: "
                         f"{exc.strerror or exc}") from exc


# Read and written on every poll: built once.
_SELECT_STATE = f"SELECT {', '.join(STATE_COLUMNS)} FROM sources"
# What decide.health reads (types.HealthFacts), in the order source_health_facts unpacks.
_SELECT_HEALTH_FACTS = ("SELECT name, gone, consecutive_failures, last_success_at, "
                        "flooding_since, last_new_item_at, first_polled_at FROM sources "
                        "ORDER BY name")
_UPDATE_STATE = (f"UPDATE sources SET {', '.join(f'{c} = ?' for c in STATE_COLUMNS[1:])} "
                 f"WHERE name = ?")
# A poll's state: written, and the source's lease released, unless another node holds the
# lease (this node's lapsed and was taken over: the other node's poll is the one recorded).
# Parameters: the state's, its name, then the writing node twice (None: any lease).
_RECORD_STATE = (f"UPDATE sources SET {', '.join(f'{c} = ?' for c in STATE_COLUMNS[1:])}, "
                 f"lease_owner = NULL, lease_until = NULL WHERE name = ? "
                 f"AND (lease_owner IS NULL OR lease_owner = ? OR ? IS NULL)")
# What grouping reads of a story (StoryKey); its kind of step is its ledger event's.
_STORY_KEYS = ("SELECT id, topic, title, summary, category, actors, first_seen, event "
               "FROM stories ")


# Beside the database, the file of `SqliteStore.record_lock` (not the daemon's lock file:
# where flock is emulated with fcntl's locks, as on NFS, two kinds of lock on one file
# would meet).
RECORD_LOCK_SUFFIX = ".commit.lock"


class SqliteStore:
    """Store on one SQLite file. Thread-safe: one connection, serialised by a lock."""

    shared = False   # one daemon (node) writes it: the daemon lock keeps a second one out
    items_before_lock = 0   # one writer at a time: a poll's commit is made whole in the lock

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            make_folder(Path(path).parent, path)
        try:
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA busy_timeout = 30000")
        except sqlite3.DatabaseError as exc:
            folder = Path(path).parent
            hint = "" if path == ":memory:" or os.access(folder, os.W_OK) else (
                f" ({folder} is not writable: SQLite keeps its journal beside the database)")
            raise StoreError(f"cannot open database {path}: {exc}{hint}") from exc
        self._lock = threading.RLock()
        self._records: IO[str] | None = None    # the file of `record_lock`
        self._records_held = threading.Lock()    # `record_lock`, in this process
        self._migrate()

    # -- plumbing ---------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; any database error (disk full, I/O, a store closed under
        a caller) becomes a StoreError, and what the transaction wrote is rolled back."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"database {self.path}: {exc}") from exc
                raise

    def _rollback(self) -> None:
        """Roll back what is open, if the connection still can (a closed one cannot)."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from exc

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"database {self.path} has schema version {version}, newer "
                                 f"than this news-monitor ({SCHEMA_VERSION}); upgrade the code")
            for number in range(version + 1, SCHEMA_VERSION + 1):
                try:
                    self._db.executescript(
                        f"BEGIN IMMEDIATE; {MIGRATIONS[number - 1]}; "
                        f"PRAGMA user_version = {number}; COMMIT;")
                except sqlite3.DatabaseError as exc:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise StoreError(f"migration {number} of {self.path} failed: {exc}") from exc

    def check_readable(self) -> None:
        """Raise StoreError unless SQLite's quick_check passes: every page of every table and
        index reads and is well formed.

        `monitor status` reads a few small tables; a database damaged elsewhere must not
        look healthy there while the polls that reach the damaged pages fail.
        """
        with self._lock:
            try:
                problems = [row[0] for row in self._db.execute("PRAGMA quick_check(3)")]
            except sqlite3.DatabaseError as exc:
                problems = [str(exc)]
        if problems != ["ok"]:
            found = "; ".join(" ".join(p.split()) for p in problems)
            raise StoreError(f"cannot read the state: database {self.path} is damaged "
                             f"({found}); restore it from a backup")

    def ping(self) -> None:
        """A cheap read that proves the database answers (GET /readyz): one page of the
        sources table. StoreError when it does not."""
        self._query("SELECT 1 FROM sources LIMIT 1")

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._records is not None:
                self._records.close()

    # -- sources ----------------------------------------------------------

    def stored_sources(self) -> dict[str, tuple[str, SourceState]]:
        """Every stored source: name -> (its URL as configured when stored, its state)."""
        rows = self._query(f"SELECT s.config_url, {', '.join(f's.{c}' for c in STATE_COLUMNS)} "
                           f"FROM sources s")
        return {r["name"]: (r["config_url"], self._state(r[1:])) for r in rows}

    def apply_sources(self, changes: Sequence[SourceChange]) -> None:
        """Write the sources added to the config, those whose URL changed, those gone from
        it (retired) and those back in it (restored), in one transaction."""
        with self._transaction() as db:
            for change in changes:
                match change:
                    case AddSource(name, url, next_poll_at):
                        db.execute("INSERT INTO sources (name, config_url, url, next_poll_at) "
                                   "VALUES (?, ?, ?, ?)", (name, url, url, iso(next_poll_at)))
                    case MoveSource(config_url, state):
                        db.execute("UPDATE sources SET config_url = ? WHERE name = ?",
                                   (config_url, state.name))
                        db.execute(_UPDATE_STATE, self._state_row(state))
                    case RetireSource(name, at):
                        db.execute("UPDATE sources SET retired_at = ?, lease_owner = NULL, "
                                   "lease_until = NULL WHERE name = ?", (iso(at), name))
                    case RestoreSource(name):
                        db.execute("UPDATE sources SET retired_at = NULL WHERE name = ?",
                                   (name,))

    def retired_sources(self) -> frozenset[str]:
        """The stored sources no longer in the config (kept, not polled)."""
        return frozenset(r["name"] for r in self._query(
            "SELECT name FROM sources WHERE retired_at IS NOT NULL"))

    @staticmethod
    def _state(row: Sequence[Any]) -> SourceState:
        values: dict[str, Any] = {c: parse_iso(v) if c in TIME_COLUMNS else v
                                  for c, v in zip(STATE_COLUMNS, row, strict=True)}
        values["gone"] = bool(values["gone"])
        values["last_error_kind"] = error_kind(values["last_error_kind"])
        return SourceState(**values)

    def source_state(self, name: str) -> SourceState:
        rows = self._query(f"{_SELECT_STATE} WHERE name = ?", (name,))
        if not rows:
            raise StoreError(f"unknown source {name!r}")
        return self._state(rows[0])

    def source_states(self) -> list[SourceState]:
        return [self._state(r) for r in self._query(f"{_SELECT_STATE} ORDER BY name")]

    def source_health_facts(self) -> list[HealthFacts]:
        # the lock is held for this read only
        return [health_facts(r) for r in self._query(_SELECT_HEALTH_FACTS)]

    def source_urls(self) -> dict[str, str]:
        """Every source's URL to fetch (after permanent redirects): name -> URL."""
        return {r["name"]: r["url"] for r in self._query("SELECT name, url FROM sources")}

    def due_sources(self, now: datetime) -> dict[str, str]:
        """The sources whose next poll time has come: name -> URL to fetch."""
        rows = self._query("SELECT name, url FROM sources WHERE next_poll_at IS NULL OR "
                           "next_poll_at <= ?", (iso(now),))
        return {r["name"]: r["url"] for r in rows}

    # -- items and stories ------------------------------------------------

    def known_keys(self, source: str, items: Sequence[ParsedItem],
                   canonical: Callable[[str], str]) -> KnownKeys:
        """Read one after another, each only for what the one before left: in the same
        process, a read costs no round trip, and a changed body's known items need no
        canonical URL."""
        known = self.known_guids(source, [item.guid for item in items])
        urls = {item.url: canonical(item.url) for item in items if item.guid not in known}
        found = self.items_by_canonical_url(list(urls.values()))
        return KnownKeys(known, urls, found,
                         self.forgotten_urls([u for u in urls.values() if u not in found]))

    def known_guids(self, source: str, guids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        # A source's first poll: one probe of the index instead of one per guid.
        stored = self._query("SELECT 1 FROM items WHERE source = ? LIMIT 1", (source,))
        for start in range(0, len(guids) if stored else 0, 500):
            chunk = list(guids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT guid FROM items WHERE source = ? AND guid IN ({marks})",
                               [source, *chunk])
            known.update(r["guid"] for r in rows)
        if self._keeps_keys():  # the guids of items deleted by retention are still known
            fresh = {dedup_key("guid", source, g): g for g in guids if g not in known}
            known |= self._known_keys(fresh)
        return known

    def _keeps_keys(self) -> bool:
        """Whether retention has kept any dedup key (until it has, none needs hashing)."""
        return bool(self._query("SELECT 1 FROM seen_keys LIMIT 1"))

    def _known_keys(self, keys: Mapping[int, str]) -> set[str]:
        """The values of ``keys`` (dedup key -> guid or URL) whose key retention kept."""
        found: set[str] = set()
        wanted = list(keys)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT key FROM seen_keys WHERE key IN ({marks})", chunk)
            found.update(keys[r["key"]] for r in rows)
        return found

    def forgotten_urls(self, urls: Sequence[str]) -> set[str]:
        """The canonical URLs delivered by an item that retention has since deleted."""
        if not self._keeps_keys():
            return set()
        return self._known_keys({dedup_key("url", u): u for u in dict.fromkeys(urls) if u})

    def items_by_canonical_url(self, urls: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        wanted = [u for u in dict.fromkeys(urls) if u]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            # "!= ''" lets SQLite use the partial index items_canonical_url.
            rows = self._query(f"SELECT canonical_url, MIN(id) AS id FROM items "
                               f"WHERE canonical_url IN ({marks}) AND canonical_url != '' "
                               f"GROUP BY canonical_url", chunk)
            found.update((r["canonical_url"], r["id"]) for r in rows)
        return found

    def recent_stories(self, topic: str, since: datetime, after_id: int = 0) -> list[StoryKey]:
        """The topic's stories first seen since ``since``, in id order; with ``after_id``,
        only those above it (what was committed since a reader last looked)."""
        if after_id:
            # The rowid range, not stories_topic_seen: the index would walk every story of
            # the window to return the few new ones ("+" keeps SQLite off the index).
            rows = self._query(_STORY_KEYS + "WHERE id > ? AND +topic = ? AND "
                               "+first_seen >= ? ORDER BY id", (after_id, topic, iso(since)))
        else:
            rows = self._query(_STORY_KEYS + "WHERE topic = ? AND first_seen >= ? ORDER BY id",
                               (topic, iso(since)))
        return [story_key(r) for r in rows]

    def story_actors(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        rows = self._query("SELECT id, actors FROM stories WHERE id IN "
                           "(SELECT value FROM json_each(?))", (json.dumps(list(ids)),))
        return {r["id"]: tuple(as_json(r["actors"])) for r in rows}

    @contextmanager
    def poll_transaction(self, owner: str | None = None) -> Iterator[SqlitePollWriter]:
        """A poll's commit (monitor/commit.py): its writes, all or nothing. The source's
        state releases its lease; when another node than ``owner`` holds the lease, the
        state write raises StoreError and nothing of the poll is kept."""
        with self._transaction() as db:
            yield SqlitePollWriter(db, self._state_writer(db, owner))

    @contextmanager
    def poll_batch(self, owner: str | None = None
                   ) -> Iterator[Callable[[], AbstractContextManager[SqlitePollWriter]]]:
        """Several polls' commits in one transaction (a worker's batch: one commit, and one
        emptying of the other processes' page caches, for several polls). Each poll
        writes through ``poll()``, in a savepoint of its own: a poll that raises leaves
        nothing and the others are kept. If the transaction's commit fails, none is kept
        (StoreError); so is it when a poll's failure rolled the whole transaction back
        (SQLite does so on a full disk or an I/O error): the commit then finds none."""
        with self._transaction() as db:
            write_state = self._state_writer(db, owner)

            @contextmanager
            def poll() -> Iterator[SqlitePollWriter]:
                if not db.in_transaction:   # outside it, a savepoint would commit alone
                    raise StoreError(f"database {self.path}: the transaction of this "
                                     "poll's batch was rolled back")
                try:
                    db.execute("SAVEPOINT poll")
                except sqlite3.Error as exc:
                    raise StoreError(f"database {self.path}: {exc}") from exc
                try:
                    yield SqlitePollWriter(db, write_state)
                    db.execute("RELEASE poll")
                except BaseException as exc:
                    try:
                        db.execute("ROLLBACK TO poll")
                        db.execute("RELEASE poll")
                    except sqlite3.Error:
                        pass    # the transaction was rolled back whole: its commit fails
                    if isinstance(exc, sqlite3.Error):
                        raise StoreError(f"database {self.path}: {exc}") from exc
                    raise

            yield poll

    def _state_writer(self, db: sqlite3.Connection,
                      owner: str | None) -> Callable[[SourceState], None]:
        """A poll's write of its source's state, which releases the source's lease."""
        def write_state(state: SourceState) -> None:
            if not db.execute(_RECORD_STATE, [*self._state_row(state), owner,
                                              owner]).rowcount:
                raise StoreError(f"source {state.name!r} is leased to another node "
                                 f"(this node's lease lapsed): this poll is not recorded")
        return write_state

    @contextmanager
    def record_lock(self) -> Iterator[None]:
        """Across the processes that commit polls to the file (the daemon and its workers,
        monitor/poll_commit.py): an exclusive lock on a file of its own beside the
        database (RECORD_LOCK_SUFFIX), which the kernel releases when a process holding it
        dies; the threads of this process take it one at a time. A database in memory has
        one process: its threads take a lock of this store's."""
        with self._records_held:
            if self.path == ":memory:":
                yield
                return
            handle = self._record_file()
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
            except OSError as exc:
                raise StoreError(f"database {self.path}: cannot lock {handle.name}: "
                                 f"{exc.strerror or exc}") from exc
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _record_file(self) -> IO[str]:
        """The record lock's file, opened once by this store (with `_records_held`
        held)."""
        if self._records is None:
            path = Path(os.path.realpath(self.path) + RECORD_LOCK_SUFFIX)
            try:
                self._records = open(path, "a+", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise StoreError(f"database {self.path}: cannot write its lock file "
                                 f"{path}: {exc.strerror or exc}") from exc
        return self._records

    def record_states(self, states: Sequence[SourceState], owner: str | None = None) -> None:
        """Commit the states of several sources in one transaction: the polls that changed
        nothing but their source's state (not modified, unchanged), written as a group.
        Each releases its source's lease; one whose lease another node than ``owner``
        holds is left to that node's poll."""
        with self._transaction() as db:
            db.executemany(_RECORD_STATE, [[*self._state_row(s), owner, owner]
                                           for s in states])

    @staticmethod
    def _state_row(state: SourceState) -> list[Any]:
        """The parameters of _UPDATE_STATE for this state."""
        values: list[Any] = [iso(v) if c in TIME_COLUMNS else v
                             for c in STATE_COLUMNS[1:] for v in (getattr(state, c),)]
        values.append(state.name)
        return values

    def open_incidents(self, source: str) -> list[Incident]:
        rows = self._query("SELECT i.*, group_concat(a.notifier, char(10)) AS alerted "
                           "FROM health_incidents i LEFT JOIN health_alerts a "
                           "ON a.incident_id = i.id WHERE i.source = ? AND i.closed_at IS NULL "
                           "GROUP BY i.id", (source,))
        return [Incident(id=r["id"], source=r["source"], kind=r["kind"],
                         opened_at=datetime.fromisoformat(r["opened_at"]), detail=r["detail"],
                         alerted=frozenset((r["alerted"] or "").split("\n")) - {""})
                for r in rows]

    def _stories(self, where: str, params: Sequence[Any]) -> list[Story]:
        rows = self._query(f"SELECT * FROM stories WHERE {where} ORDER BY first_seen, id", params)
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        sources: dict[int, list[StorySource]] = {i: [] for i in ids}
        for s in self._query(f"SELECT si.story_id, i.source, i.url, i.title, i.published "
                             f"FROM story_items si JOIN items i ON i.id = si.item_id "
                             f"WHERE si.story_id IN ({marks}) ORDER BY i.id", ids):
            sources[s["story_id"]].append(story_source(s))
        return [story_from_row(r, sources[r["id"]]) for r in rows]

    # -- the event ledger ---------------------------------------------------

    def ledger(self) -> list[LedgerEntry]:
        """The event ledger from its own copies of the reports: the stories they name may
        be gone (their ids NULL)."""
        return ledger_entries(
            self._query("SELECT id, state, kind, title, first_seen, url, origin, source, "
                        "story_id FROM events ORDER BY first_seen, id"),
            self._query("SELECT event_id, story_id, title, url, first_seen "
                        "FROM event_reports ORDER BY first_seen, id"))

    def stored_items(self, since: datetime) -> list[StoredItem]:
        """The items first seen since ``since``, oldest first, each with its stories."""
        rows = self._query("SELECT id, source, url, title, summary, published, first_seen, "
                           "alert FROM items WHERE first_seen >= ? ORDER BY first_seen, id",
                           (iso(since),))
        return stored_items(rows, self._query(
            "SELECT si.item_id, s.id, s.topic, s.alert, s.evidence "
            "FROM items i JOIN story_items si ON si.item_id = i.id "
            "JOIN stories s ON s.id = si.story_id WHERE i.first_seen >= ? "
            "ORDER BY s.id", (iso(since),)))

    def source_items(self, source: str, limit: int) -> list[StoredItem]:
        """The source's ``limit`` items seen last, newest first, each with its stories."""
        rows = self._query("SELECT id, source, url, title, summary, published, first_seen, "
                           "alert FROM items WHERE source = ? ORDER BY id DESC LIMIT ?",
                           (source, limit))
        ids = [r["id"] for r in rows]
        marks = ",".join("?" * len(ids))
        return stored_items(rows, self._query(
            f"SELECT si.item_id, s.id, s.topic, s.alert, s.evidence "
            f"FROM story_items si JOIN stories s ON s.id = si.story_id "
            f"WHERE si.item_id IN ({marks}) ORDER BY s.id", ids) if ids else [])

    def matches(self, since: datetime) -> list[Story]:
        return self._stories("first_seen >= ?", (iso(since),))

    # -- articles (monitor/articles.py) ----------------------------------

    def cached_articles(self, urls: Sequence[str]) -> dict[str, CachedArticle]:
        """The cached reads of these article URLs (canonical), by URL."""
        with self._lock:
            try:
                return sqlite_articles.cached_articles(self._db, urls)
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from exc

    def record_articles(self, articles: Sequence[CachedArticle], counts: ArticleCounts,
                        now: datetime) -> None:
        """Cache the articles a poll read, and count its reads, in one transaction."""
        with self._transaction() as db:
            sqlite_articles.record_articles(db, articles, counts, now)

    def article_counts(self, since: datetime) -> ArticleCounts:
        """The article reads counted since ``since`` (by the hour)."""
        with self._lock:
            try:
                return sqlite_articles.article_counts(self._db, since)
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from exc

    # -- outbox and deliveries -------------------------------------------

    def queued_stories(self, notifier: str) -> list[int]:
        """The story ids of the notifier's outbox rows not yet in a digest, in queue order."""
        rows = self._query("SELECT story_id FROM outbox WHERE notifier = ? AND "
                           "delivery_id IS NULL ORDER BY id", (notifier,))
        return [r["story_id"] for r in rows]

    def make_digest(self, notifier: str, story_ids: Sequence[int], now: datetime,
                    digest_id: str) -> Digest | None:
        """Freeze those of ``story_ids`` that are still queued for the notifier (in no
        digest yet) into one pending delivery; None when none of them is."""
        with self._transaction() as db:
            queued: list[int] = []
            for start in range(0, len(story_ids), 500):
                chunk = list(story_ids[start:start + 500])
                marks = ",".join("?" * len(chunk))
                queued += [r["story_id"] for r in db.execute(
                    f"SELECT story_id FROM outbox WHERE notifier = ? AND delivery_id IS NULL "
                    f"AND story_id IN ({marks}) ORDER BY id", [notifier, *chunk])]
            if not queued:
                return None
            marks = ",".join("?" * len(queued))
            stories = self._stories(f"id IN ({marks})", queued)
            digest = Digest(id=digest_id, notifier=notifier, created_at=now,
                            stories=tuple(stories))
            insert_delivery(db, digest, now)
            db.execute(f"UPDATE outbox SET delivery_id = ? WHERE notifier = ? AND "
                       f"delivery_id IS NULL AND story_id IN ({marks})",
                       [digest_id, notifier, *queued])
            return digest

    def add_delivery(self, digest: Digest, now: datetime) -> None:
        with self._transaction() as db:
            insert_delivery(db, digest, now)

    def due_deliveries(self, notifier: str, statuses: Sequence[DeliveryStatus],
                       now: datetime) -> list[Digest]:
        """The notifier's deliveries in ``statuses`` whose next attempt time has come and
        that no node is sending (lease free), oldest first."""
        marks = ",".join("?" * len(statuses))
        rows = self._query(f"SELECT payload FROM deliveries WHERE notifier = ? AND status IN "
                           f"({marks}) AND next_attempt_at <= ? AND (lease_until IS NULL OR "
                           f"lease_until < ?) ORDER BY created_at, id",
                           (notifier, *statuses, iso(now), iso(now)))
        return [digest_from_json(json.loads(r["payload"])) for r in rows]

    def mark_sending(self, digest_id: str, now: datetime) -> int:
        """Record an attempt before it is made; returns the attempt number."""
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET status = 'sending', attempts = attempts + 1, "
                       "last_attempt_at = ? WHERE id = ?", (iso(now), digest_id))
            attempts: int = db.execute("SELECT attempts FROM deliveries WHERE id = ?",
                                       (digest_id,)).fetchone()[0]
            return attempts

    def claim_delivery(self, digest_id: str, statuses: Sequence[DeliveryStatus],
                       lease: Lease) -> int | None:
        """Record an attempt before it is made, the delivery leased to ``lease.owner``: the
        attempt number, or None when it is no longer due or another node is sending it."""
        with self._transaction() as db:
            return sqlite_nodes.claim_delivery(db, digest_id, statuses, lease)

    def mark_delivered(self, digest_id: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET status = 'delivered', delivered_at = ?, "
                       "last_error = NULL, lease_owner = NULL, lease_until = NULL "
                       "WHERE id = ?", (iso(now), digest_id))

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime) -> None:
        with self._transaction() as db:
            # Not over 'delivered': another node may have sent it meanwhile.
            db.execute("UPDATE deliveries SET status = 'failed', last_error = ?, "
                       "next_attempt_at = ?, lease_owner = NULL, lease_until = NULL "
                       "WHERE id = ? AND status != 'delivered'",
                       (error, iso(next_attempt_at), digest_id))

    def mark_dead(self, digest_id: str, error: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET status = 'dead', last_error = ?, "
                       "lease_owner = NULL, lease_until = NULL "
                       "WHERE id = ? AND status != 'delivered'", (error, digest_id))

    def delivery_rows(self, statuses: Sequence[DeliveryStatus],
                      limit: int | None = None) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(statuses))
        rows = self._query(f"SELECT id, notifier, kind, created_at, status, attempts, "
                           f"next_attempt_at, last_attempt_at, last_error, delivered_at, "
                           f"json_array_length(payload, '$.stories') AS stories "
                           f"FROM deliveries WHERE status IN ({marks}) ORDER BY created_at, id "
                           f"LIMIT ?", [*statuses, -1 if limit is None else limit])
        return [dict(r) for r in rows]

    def delivery_counts(self, statuses: Sequence[DeliveryStatus]
                        ) -> dict[tuple[str, DeliveryStatus], int]:
        # Served by the index deliveries_due (notifier, status, ...) alone: no row is read.
        marks = ",".join("?" * len(statuses))
        rows = self._query(f"SELECT notifier, status, count(*) FROM deliveries "
                           f"WHERE status IN ({marks}) GROUP BY 1, 2", list(statuses))
        return {(r[0], r[1]): r[2] for r in rows}

    def reschedule_deliveries(self, plan: Reschedule) -> int:
        """Apply ``plan`` (monitor.outbox.Reschedule) in one transaction; returns how many
        deliveries it made due."""
        if not plan.statuses:
            return 0
        marks = ",".join("?" * len(plan.statuses))
        restart = ",".join("?" * len(plan.restart)) or "NULL"
        where = f"status IN ({marks})"
        params: list[Any] = [*plan.restart, plan.restart_as, iso(plan.due_at), *plan.restart,
                             *plan.statuses]
        if plan.digest_id is not None:
            where += " AND id = ?"
            params.append(plan.digest_id)
        with self._transaction() as db:
            return db.execute(f"UPDATE deliveries SET status = CASE WHEN status IN ({restart}) "
                              f"THEN ? ELSE status END, next_attempt_at = ?, attempts = "
                              f"CASE WHEN status IN ({restart}) THEN 0 ELSE attempts END "
                              f"WHERE {where}", params).rowcount

    # -- nodes and leases (monitor/cluster.py) -------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads outside a transaction; errors become StoreError."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from exc

    def nodes(self, now: datetime) -> list[NodeInfo]:
        """Every node in the table, with the unexpired leases it holds at ``now``."""
        with self._reading() as db:
            return sqlite_nodes.node_rows(db, now)

    def join(self, identity: NodeIdentity, now: datetime) -> list[NodeInfo]:
        """Add the node (alive at ``now``); the other nodes as they were when it joined."""
        with self._transaction() as db:
            others = [n for n in sqlite_nodes.node_rows(db, now) if n.id != identity.id]
            sqlite_nodes.upsert_node(db, identity, now)
            return others

    def beat(self, heartbeat: Heartbeat) -> None:
        with self._transaction() as db:
            sqlite_nodes.beat(db, heartbeat)

    def forget_nodes(self, ids: Sequence[str]) -> None:
        """Remove these nodes and release every lease they hold (a node leaving, or nodes
        known to be gone)."""
        if ids:
            with self._transaction() as db:
                sqlite_nodes.forget_nodes(db, ids)

    def count_claimable(self, now: datetime) -> int:
        """How many configured sources are due at ``now`` with a free lease."""
        with self._reading() as db:
            return sqlite_nodes.count_claimable(db, now)

    def claim_sources(self, claim: SourceClaim) -> list[SourceState]:
        """Lease the sources ``claim`` describes to its owner; their states."""
        with self._transaction() as db:
            rows = sqlite_nodes.claim_sources(db, claim, STATE_COLUMNS)
        return [self._state(tuple(r)) for r in rows]

    def release_sources(self, owner: str, names: Sequence[str]) -> None:
        """Release the leases ``owner`` holds on these sources."""
        if names:
            with self._transaction() as db:
                sqlite_nodes.release_sources(db, owner, names)

    def hold_singleton(self, name: str) -> bool:
        """One node writes a SQLite database: every singleton is its own."""
        return True

    # -- retention and size ------------------------------------------------

    def forget_batch(self, plan: RetentionPlan) -> Forgotten:
        """One retention batch of ``plan`` (monitor.retention.RetentionPlan), in one
        transaction: deliveries, then the stories they freed, then the items."""
        limit = plan.batch_size
        with self._transaction() as db:
            statuses = ",".join("?" * len(plan.delivery_statuses)) or "NULL"
            ids = [r["id"] for r in db.execute(
                f"SELECT id FROM deliveries WHERE status IN ({statuses}) AND delivered_at < ? "
                f"LIMIT ?", (*plan.delivery_statuses, iso(plan.delivered_before), limit))]
            marks = ",".join("?" * len(ids))
            if ids:
                db.execute(f"DELETE FROM outbox WHERE delivery_id IN ({marks})", ids)
                db.execute(f"DELETE FROM deliveries WHERE id IN ({marks})", ids)
            stories = [r["id"] for r in db.execute(
                "SELECT id FROM stories s WHERE first_seen < ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox o WHERE o.story_id = s.id) AND NOT EXISTS "
                "(SELECT 1 FROM story_items si JOIN items i ON i.id = si.item_id "
                "WHERE si.story_id = s.id AND i.first_seen >= ?) LIMIT ?",
                (iso(plan.stories_before), iso(plan.reports_before), limit))]
            if stories:
                marks = ",".join("?" * len(stories))
                db.execute(f"DELETE FROM story_items WHERE story_id IN ({marks})", stories)
                db.execute(f"DELETE FROM stories WHERE id IN ({marks})", stories)
                # The ledger keeps its reports, not their ids: a later story may get one.
                for table in ("events", "event_reports"):
                    db.execute(f"UPDATE {table} SET story_id = NULL "
                               f"WHERE story_id IN ({marks})", stories)
            items = db.execute(
                "SELECT id, source, guid, canonical_url FROM items i WHERE first_seen < ? AND "
                "NOT EXISTS (SELECT 1 FROM story_items si WHERE si.item_id = i.id) LIMIT ?",
                (iso(plan.items_before), limit)).fetchall()
            if items:
                db.executemany("INSERT OR IGNORE INTO seen_keys (key) VALUES (?)",
                               [(key,) for r in items for key in kept_keys(
                                   r["source"], r["guid"], r["canonical_url"])])
                marks = ",".join("?" * len(items))
                db.execute(f"DELETE FROM items WHERE id IN ({marks})", [r["id"] for r in items])
            articles = sqlite_articles.forget_articles(db, plan.articles_before, limit)
        return Forgotten(len(ids), len(stories), len(items), articles)

    def optimize(self) -> None:
        """After a retention pass: refresh the planner's statistics where they went stale
        (PRAGMA optimize runs ANALYZE as needed). No VACUUM: SQLite reuses the freed pages
        for new rows, so the file stops growing instead of shrinking and growing again."""
        with self._lock:
            try:
                self._db.execute("PRAGMA optimize")
            except sqlite3.Error as exc:
                raise StoreError(f"database {self.path}: {exc}") from exc

    def database_info(self) -> DatabaseInfo:
        """The database's size (its file and write-ahead log) and its oldest item."""
        size = 0
        if self.path != ":memory:":
            for suffix in ("", "-wal"):
                try:
                    size += os.path.getsize(self.path + suffix)
                except OSError:
                    pass
        row = self._query("SELECT MIN(first_seen) AS oldest, COUNT(*) AS items FROM items")[0]
        keys = self._query("SELECT COUNT(*) AS n FROM seen_keys")[0]["n"]
        return DatabaseInfo(path=self.path, size=size, items=row["items"],
                            oldest_item=parse_iso(row["oldest"]), kept_keys=keys)

    # -- `monitor db` ------------------------------------------------------

    def check(self) -> DatabaseCheck:
        """`monitor db check`: the schema version, every page (quick_check), the foreign
        keys, and the rows the constraints allow but the program never writes."""
        checked = ["schema version", "every page (quick_check)", "foreign keys"]
        problems: list[str] = []
        rows: tuple[tuple[str, int], ...] = ()
        with self._lock:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            try:
                self.check_readable()
                orphans = self._db.execute("PRAGMA foreign_key_check").fetchall()
                if orphans:
                    problems.append(f"{len(orphans)} rows refer to rows that are not there "
                                    f"(foreign_key_check)")
                for what, sql in CONSISTENCY:
                    checked.append(what)
                    found = int(self._db.execute(sql).fetchone()[0])
                    if found:
                        problems.append(f"{found} {what}")
                rows = tuple((t, int(self._db.execute(f"SELECT COUNT(*) FROM {t}")
                                     .fetchone()[0])) for t in TABLES)
            except (StoreError, sqlite3.DatabaseError) as exc:
                problems.append(str(exc))
        return DatabaseCheck(self.path, f"SQLite {sqlite3.sqlite_version}", version,
                             SCHEMA_VERSION, tuple(problems), tuple(checked), rows)

    def dump(self) -> Iterator[tuple[str, list[str], Iterator[tuple[Any, ...]]]]:
        """`monitor db copy`: each table (checks.TABLES order) with its column names and its
        rows as stored (times as ISO text, flags as 0/1, lists as JSON text), all read in one
        transaction. Hold the daemon lock meanwhile: nothing else writes."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for table in TABLES:
                    columns = [r["name"] for r in self._db.execute(
                        f"SELECT name FROM pragma_table_info('{table}')")]
                    cursor = self._db.execute(f"SELECT {', '.join(columns)} FROM {table}")
                    yield table, columns, (tuple(row) for row in cursor)
            finally:
                self._rollback()
