"""The SQLite backend of the Store: WAL mode, one connection guarded by a lock.

Every write happens in `_transaction()`; a poll's items, stories and outbox rows
are committed together or not at all (`poll_transaction`, written through
monitor/store/sqlite_poll.py). SQL and row mapping only: what to write is decided by the
pure planners (monitor/plan.py, monitor/outbox.py).

One piece over 400 lines because it is one connection and one lock: the source states,
items, stories, deliveries, health incidents and retention batches it reads and writes
share them (the poll's own writes are in sqlite_poll.py, the row codec in codec.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from monitor.cluster import Heartbeat, Lease, NodeIdentity, NodeInfo, SourceClaim
from monitor.errors import StoreError
from monitor.events import EventReport, KnownEvent, LedgerEntry
from monitor.intents import AddSource, MoveSource, RestoreSource, RetireSource, SourceChange
from monitor.retention import Forgotten, RetentionPlan, dedup_key
from monitor.store import sqlite_nodes
from monitor.store.codec import (
    digest_from_json,
    error_kind,
    event_from_json,
    iso,
    novelty,
    parse_iso,
)
from monitor.store.schema import MIGRATIONS, SCHEMA_VERSION
from monitor.store.sqlite_poll import (
    SqlitePollWriter,
    event_row,
    insert_delivery,
    insert_event,
)
from monitor.types import (
    DatabaseInfo,
    DeliveryStatus,
    Digest,
    Incident,
    PastMatch,
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


_STATE_COLUMNS = tuple(f.name for f in fields(SourceState))
_TIME_COLUMNS = frozenset(c for c in _STATE_COLUMNS if c.endswith(("_at", "_since")))
assert _STATE_COLUMNS[0] == "name" and _STATE_COLUMNS[-1] == "gone"  # _state relies on it
# Read and written on every poll: built once.
_SELECT_STATE = f"SELECT {', '.join(_STATE_COLUMNS)} FROM sources"
_UPDATE_STATE = (f"UPDATE sources SET {', '.join(f'{c} = ?' for c in _STATE_COLUMNS[1:])} "
                 f"WHERE name = ?")
# A poll's state: written, and the source's lease released, unless another node holds the
# lease (this node's lapsed and was taken over: the other node's poll is the one recorded).
# Parameters: the state's, its name, then the writing node twice (None: any lease).
_RECORD_STATE = (f"UPDATE sources SET {', '.join(f'{c} = ?' for c in _STATE_COLUMNS[1:])}, "
                 f"lease_owner = NULL, lease_until = NULL WHERE name = ? "
                 f"AND (lease_owner IS NULL OR lease_owner = ? OR ? IS NULL)")


class SqliteStore:
    """Store on one SQLite file. Thread-safe: one connection, serialised by a lock."""

    shared = False   # one process writes it: the daemon lock keeps a second one out

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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- sources ----------------------------------------------------------

    def stored_sources(self) -> dict[str, tuple[str, SourceState]]:
        """Every stored source: name -> (its URL as configured when stored, its state)."""
        rows = self._query(f"SELECT s.config_url, {', '.join(f's.{c}' for c in _STATE_COLUMNS)} "
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
        values: dict[str, Any] = {c: parse_iso(v) if c in _TIME_COLUMNS else v
                                  for c, v in zip(_STATE_COLUMNS, row, strict=True)}
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

    def source_urls(self) -> dict[str, str]:
        """Every source's URL to fetch (after permanent redirects): name -> URL."""
        return {r["name"]: r["url"] for r in self._query("SELECT name, url FROM sources")}

    def due_sources(self, now: datetime) -> dict[str, str]:
        """The sources whose next poll time has come: name -> URL to fetch."""
        rows = self._query("SELECT name, url FROM sources WHERE next_poll_at IS NULL OR "
                           "next_poll_at <= ?", (iso(now),))
        return {r["name"]: r["url"] for r in rows}

    # -- items and stories ------------------------------------------------

    def known_guids(self, source: str, guids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(guids), 500):
            chunk = list(guids[start:start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._query(f"SELECT guid FROM items WHERE source = ? AND guid IN ({marks})",
                               [source, *chunk])
            known.update(r["guid"] for r in rows)
        fresh = {dedup_key("guid", source, g): g for g in guids if g not in known}
        if fresh:  # the guids of items deleted by retention are still known
            known |= self._known_keys(fresh)
        return known

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
            rows = self._query("SELECT id, topic, title, summary, category, actors, "
                               "first_seen FROM stories WHERE id > ? AND +topic = ? AND "
                               "+first_seen >= ? ORDER BY id", (after_id, topic, iso(since)))
        else:
            rows = self._query("SELECT id, topic, title, summary, category, actors, "
                               "first_seen FROM stories WHERE topic = ? AND first_seen >= ? "
                               "ORDER BY id", (topic, iso(since)))
        return [StoryKey(id=r["id"], topic=r["topic"], title=r["title"], summary=r["summary"],
                         category=r["category"], actors=tuple(json.loads(r["actors"])),
                         seen_at=datetime.fromisoformat(r["first_seen"])) for r in rows]

    @contextmanager
    def poll_transaction(self, owner: str | None = None) -> Iterator[SqlitePollWriter]:
        """A poll's commit (monitor/commit.py): its writes, all or nothing. The source's
        state releases its lease; when another node than ``owner`` holds the lease, the
        state write raises StoreError and nothing of the poll is kept."""
        with self._transaction() as db:
            def write_state(state: SourceState) -> None:
                if not db.execute(_RECORD_STATE, [*self._state_row(state), owner,
                                                  owner]).rowcount:
                    raise StoreError(f"source {state.name!r} is leased to another node "
                                     f"(this node's lease lapsed): this poll is not recorded")

            yield SqlitePollWriter(db, write_state)

    def record_lock(self) -> AbstractContextManager[object]:
        """One process writes a SQLite database: the pipeline's own lock suffices."""
        return nullcontext()

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
        values: list[Any] = [iso(v) if c in _TIME_COLUMNS else v
                             for c in _STATE_COLUMNS[1:] for v in (getattr(state, c),)]
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
            sources[s["story_id"]].append(StorySource(s["source"], s["url"], s["title"],
                                                      parse_iso(s["published"])))
        return [Story(id=r["id"], topic=r["topic"], title=r["title"], url=r["url"],
                      published=parse_iso(r["published"]), category=r["category"], score=r["score"],
                      actors=tuple(json.loads(r["actors"])), evidence=r["evidence"],
                      sources=tuple(sources[r["id"]]), summary=r["summary"],
                      first_seen=parse_iso(r["first_seen"]), novelty=novelty(r["novelty"]),
                      event=event_from_json(json.loads(r["event"]) if r["event"] else None))
                for r in rows]

    # -- the event ledger ---------------------------------------------------

    def seed_events(self, entries: Sequence[KnownEvent]) -> None:
        with self._transaction() as db:
            for entry in entries:
                insert_event(db, entry, None)

    def ledger(self) -> list[LedgerEntry]:
        reports: dict[int, list[EventReport]] = {}
        for r in self._query("SELECT r.event_id, s.id, s.title, s.url, s.first_seen "
                             "FROM event_reports r JOIN stories s ON s.id = r.story_id "
                             "ORDER BY s.first_seen, s.id"):
            reports.setdefault(r[0], []).append(
                EventReport(r[1], r[2], r[3], datetime.fromisoformat(r[4])))
        entries = []
        for r in self._query("SELECT e.id, e.state, e.kind, e.title, e.first_seen, e.url, "
                             "e.origin, e.source, s.id, s.title, s.url, s.first_seen "
                             "FROM events e LEFT JOIN stories s ON s.id = e.story_id "
                             "ORDER BY e.first_seen, e.id"):
            first = (EventReport(r[8], r[9], r[10], datetime.fromisoformat(r[11]))
                     if r[8] is not None else None)
            entries.append(LedgerEntry(event_row(tuple(r)[1:8]), first,
                                       tuple(reports.get(r[0], ()))))
        return entries

    def stored_items(self, since: datetime) -> list[StoredItem]:
        """The items first seen since ``since``, oldest first, each with its stories."""
        rows = self._query("SELECT id, source, url, title, summary, published, first_seen, "
                           "alert FROM items WHERE first_seen >= ? ORDER BY first_seen, id",
                           (iso(since),))
        matches: dict[int, list[PastMatch]] = {}
        for r in self._query("SELECT si.item_id, s.id, s.topic, s.alert, s.evidence "
                             "FROM items i JOIN story_items si ON si.item_id = i.id "
                             "JOIN stories s ON s.id = si.story_id WHERE i.first_seen >= ? "
                             "ORDER BY s.id", (iso(since),)):
            matches.setdefault(r["item_id"], []).append(
                PastMatch(r["topic"], r["id"], bool(r["alert"]), r["evidence"]))
        return [StoredItem(id=r["id"], source=r["source"], url=r["url"], title=r["title"],
                           summary=r["summary"], published=parse_iso(r["published"]),
                           first_seen=datetime.fromisoformat(r["first_seen"]),
                           alert=bool(r["alert"]), matches=tuple(matches.get(r["id"], ())))
                for r in rows]

    def matches(self, since: datetime) -> list[Story]:
        return self._stories("first_seen >= ?", (iso(since),))

    # -- outbox and deliveries -------------------------------------------

    def make_digest(self, notifier: str, now: datetime, digest_id: str) -> Digest | None:
        """Freeze the notifier's unassigned outbox rows into one pending delivery."""
        with self._transaction() as db:
            rows = db.execute("SELECT story_id FROM outbox WHERE notifier = ? AND "
                              "delivery_id IS NULL ORDER BY id", (notifier,)).fetchall()
            if not rows:
                return None
            story_ids = [r["story_id"] for r in rows]
            marks = ",".join("?" * len(story_ids))
            stories = self._stories(f"id IN ({marks})", story_ids)
            digest = Digest(id=digest_id, notifier=notifier, created_at=now,
                            stories=tuple(stories))
            insert_delivery(db, digest, now)
            db.execute(f"UPDATE outbox SET delivery_id = ? WHERE notifier = ? AND "
                       f"delivery_id IS NULL AND story_id IN ({marks})",
                       [digest_id, notifier, *story_ids])
            return digest

    def add_delivery(self, digest: Digest, now: datetime) -> None:
        with self._transaction() as db:
            insert_delivery(db, digest, now)

    def due_deliveries(self, notifier: str, now: datetime) -> list[Digest]:
        """Deliveries to attempt now; a 'sending' one was interrupted by a crash: resend it."""
        rows = self._query("SELECT payload FROM deliveries WHERE notifier = ? AND status IN "
                           "('pending', 'sending', 'failed') AND next_attempt_at <= ? "
                           "AND (lease_until IS NULL OR lease_until < ?) "
                           "ORDER BY created_at, id", (notifier, iso(now), iso(now)))
        return [digest_from_json(json.loads(r["payload"])) for r in rows]

    def mark_sending(self, digest_id: str, now: datetime) -> int:
        """Record an attempt before it is made; returns the attempt number."""
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET status = 'sending', attempts = attempts + 1, "
                       "last_attempt_at = ? WHERE id = ?", (iso(now), digest_id))
            attempts: int = db.execute("SELECT attempts FROM deliveries WHERE id = ?",
                                       (digest_id,)).fetchone()[0]
            return attempts

    def claim_delivery(self, digest_id: str, lease: Lease) -> int | None:
        """Record an attempt before it is made, the delivery leased to ``lease.owner``: the
        attempt number, or None when it is no longer due or another node is sending it."""
        with self._transaction() as db:
            return sqlite_nodes.claim_delivery(db, digest_id, lease)

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

    def delivery_rows(self, statuses: Sequence[DeliveryStatus]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(statuses))
        rows = self._query(f"SELECT id, notifier, kind, created_at, status, attempts, "
                           f"next_attempt_at, last_attempt_at, last_error, delivered_at, "
                           f"json_array_length(payload, '$.stories') AS stories "
                           f"FROM deliveries WHERE status IN ({marks}) ORDER BY created_at, id",
                           list(statuses))
        return [dict(r) for r in rows]

    def retry_deliveries(self, digest_id: str | None, now: datetime) -> int:
        """Make failed or dead deliveries due now (all of them when digest_id is None)."""
        with self._transaction() as db:
            where = "status IN ('pending', 'failed', 'dead', 'sending')"
            params: list[Any] = [iso(now)]
            if digest_id is not None:
                where += " AND id = ?"
                params.append(digest_id)
            return db.execute(f"UPDATE deliveries SET status = CASE status WHEN 'dead' THEN "
                              f"'failed' ELSE status END, next_attempt_at = ?, attempts = "
                              f"CASE status WHEN 'dead' THEN 0 ELSE attempts END "
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
            rows = sqlite_nodes.claim_sources(db, claim, _STATE_COLUMNS)
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
        """One retention batch, in one transaction: up to ``plan.batch_size`` delivered
        deliveries, stories and items older than ``plan.cutoff``.

        A delivery's outbox rows go with it. A story stays while an outbox row points to it
        (its digest is not made, not delivered, or dead) and while any of its items is not
        older than the cutoff. An item stays while a kept story lists it; a deleted item
        leaves its guid and URL keys in seen_keys.
        """
        cutoff, limit = iso(plan.cutoff), plan.batch_size
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute(
                "SELECT id FROM deliveries WHERE status = 'delivered' AND delivered_at < ? "
                "LIMIT ?", (cutoff, limit))]
            marks = ",".join("?" * len(ids))
            if ids:
                db.execute(f"DELETE FROM outbox WHERE delivery_id IN ({marks})", ids)
                db.execute(f"DELETE FROM deliveries WHERE id IN ({marks})", ids)
            # A story goes when its newest report is old too: a copy that joined it later
            # keeps it (else that copy, left without its story, would make the next copy of
            # the URL open the old story anew and alert it).
            stories = [r["id"] for r in db.execute(
                "SELECT id FROM stories s WHERE first_seen < ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox o WHERE o.story_id = s.id) AND NOT EXISTS "
                "(SELECT 1 FROM story_items si JOIN items i ON i.id = si.item_id "
                "WHERE si.story_id = s.id AND i.first_seen >= ?) LIMIT ?",
                (cutoff, cutoff, limit))]
            if stories:
                marks = ",".join("?" * len(stories))
                db.execute(f"DELETE FROM story_items WHERE story_id IN ({marks})", stories)
                db.execute(f"DELETE FROM stories WHERE id IN ({marks})", stories)
            items = db.execute(
                "SELECT id, source, guid, canonical_url FROM items i WHERE first_seen < ? AND "
                "NOT EXISTS (SELECT 1 FROM story_items si WHERE si.item_id = i.id) LIMIT ?",
                (cutoff, limit)).fetchall()
            if items:
                keys = [(dedup_key("guid", r["source"], r["guid"]),) for r in items]
                keys += [(dedup_key("url", r["canonical_url"]),) for r in items
                         if r["canonical_url"]]
                db.executemany("INSERT OR IGNORE INTO seen_keys (key) VALUES (?)", keys)
                marks = ",".join("?" * len(items))
                db.execute(f"DELETE FROM items WHERE id IN ({marks})", [r["id"] for r in items])
        return Forgotten(len(ids), len(stories), len(items))

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
