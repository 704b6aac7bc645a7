"""The PostgreSQL backend of the Store: psycopg 3 behind a connection pool.

Every write happens in `_transaction()` on a connection of the pool; a poll's items,
stories and outbox rows are committed together or not at all (`poll_transaction`, written
through monitor/store/postgres_poll.py). SQL and row mapping only: what to write is decided
by the pure planners (monitor/plan.py, monitor/outbox.py), as for SQLite.

Several threads use the store at once (the polls, the delivery thread, the scheduler's
jobs), each on its own connection: PostgreSQL, not a lock here, orders their writes. A
connection found broken is replaced by the pool; a statement that fails raises StoreError,
and its transaction is rolled back. Several `monitor run` processes may share a database
(the schema is migrated under an advisory lock; a digest's stories are claimed with
``FOR UPDATE SKIP LOCKED``): each is a node, which claims its sources and deliveries with
leases, commits stories under the cluster's record lock and runs a singleton only while it
holds its advisory lock (the SQL in postgres_nodes.py).

One piece over 400 lines because it is one pool serving the source states, items, stories,
deliveries, health incidents, retention batches and `monitor db` checks, as sqlite.py is
one connection for the same (the poll's own writes are in postgres_poll.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, TypeVar
from urllib.parse import unquote

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool
from psycopg_pool.base import AttemptWithBackoff

from monitor.cluster import Heartbeat, Lease, NodeIdentity, NodeInfo, SourceClaim
from monitor.errors import StoreError
from monitor.events import LedgerEntry
from monitor.intents import AddSource, MoveSource, RestoreSource, RetireSource, SourceChange
from monitor.outbox import Reschedule
from monitor.retention import Forgotten, RetentionPlan, kept_keys
from monitor.store import postgres_nodes
from monitor.store.checks import CONSISTENCY, TABLES
from monitor.store.codec import (
    STATE_COLUMNS,
    as_json,
    cached_article,
    digest_from_json,
    error_kind,
    health_facts,
    hour_key,
    ledger_entries,
    stored_items,
    story_from_row,
    story_key,
    story_source,
)
from monitor.store.postgres_nodes import RecordLock, SingletonLocks
from monitor.store.postgres_poll import PostgresPollWriter, insert_delivery
from monitor.store.postgres_schema import IDENTITIES, MIGRATIONS, SCHEMA_VERSION
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
from monitor.urls import shown_database

log = logging.getLogger("monitor.store")
T = TypeVar("T")

Connection = psycopg.Connection[DictRow]

POOL_SIZE = 4             # connections of a command's store (the daemon's: open_store)
# Polls that may hold a connection of the pool in an open transaction, their items
# inserted, while they wait for the record lock: a few keep the lock busy; the others
# connections stay for the reads of the one that holds it, and the other threads'.
ITEMS_BEFORE_LOCK = 8
CONNECT_TIMEOUT = 10      # seconds to reach the server
POOL_TIMEOUT = 30.0       # seconds a caller waits for a free connection
RECONNECT_EVERY = 2.0     # seconds at most between two tries to reach a server gone
CLIENT_CHECK = "1s"        # how often a server process, in a statement, checks its client
# pg_advisory_xact_lock key of the migrations ("news-monitor schema" in 8 bytes).
MIGRATION_LOCK = int.from_bytes(b"nm-schem", "big", signed=True)

_SELECT_STATE = f"SELECT {', '.join(STATE_COLUMNS)} FROM sources"
_UPDATE_STATE = (f"UPDATE sources SET {', '.join(f'{c} = %s' for c in STATE_COLUMNS[1:])} "
                 f"WHERE name = %s")
# What decide.health reads (types.HealthFacts).
_SELECT_HEALTH_FACTS = ("SELECT name, gone, consecutive_failures, last_success_at, "
                        "flooding_since, last_new_item_at, first_polled_at FROM sources "
                        'ORDER BY name COLLATE "C"')
# What grouping reads of a story (StoryKey); its kind of step is its ledger event's.
_STORY_KEYS = ("SELECT id, topic, title, summary, category, actors, first_seen, event "
               "FROM stories ")
_ITEMS = "SELECT id, source, url, title, summary, published, first_seen, alert FROM items "
_DELIVERY_TIMES = ("created_at", "next_attempt_at", "last_attempt_at", "delivered_at")
# A poll's state: written, and the source's lease released, unless another node holds the
# lease. Parameters: the state's, its name, then the writing node (None: any lease).
_RECORD_STATE = (f"UPDATE sources SET {', '.join(f'{c} = %s' for c in STATE_COLUMNS[1:])}, "
                 f"lease_owner = NULL, lease_until = NULL WHERE name = %s "
                 f"AND (lease_owner IS NULL OR lease_owner = %s::text "
                 f"OR %s::text IS NULL)")


class ReconnectAttempt(AttemptWithBackoff):
    """psycopg_pool's attempts to replace a connection the server closed, waiting 1 s, then
    2 s, and never longer than RECONNECT_EVERY between two (psycopg_pool doubles the wait
    each time: after an outage of 40 s the polls resumed only 20 s after the server was
    back). It still gives up after the pool's reconnect_timeout."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_EVERY)


class ReconnectingPool(ConnectionPool[Connection]):
    """The connection pool, whose attempts to reconnect are ReconnectAttempt's. It
    overrides psycopg_pool's private ``_add_connection``, which takes the attempt (None for
    a new one) in psycopg_pool 3.3; tests/test_postgres.py checks the pool uses it."""

    def _add_connection(self, attempt: AttemptWithBackoff | None,
                        growing: bool = False) -> None:
        if attempt is None:
            attempt = ReconnectAttempt(timeout=self.reconnect_timeout)
        super()._add_connection(attempt, growing)


def _configure(conn: Connection) -> None:
    """Every new connection reads and writes times in UTC, and compiles no query (JIT):
    the store's statements are short, and a table without statistics yet (a new database,
    or autovacuum off) made the planner's estimates large enough to compile a tick's read
    of the nodes table, 28 ms of its 60 at 100,000 sources.

    On PostgreSQL 14 and newer, the server also checks every CLIENT_CHECK that the client
    is still there while a statement runs: a worker process stopped while its poll waited
    for the record lock (past parse_timeout) would otherwise leave its server process in
    the lock's queue, its transaction open, until its turn came; and that source's next
    poll would wait on the transaction's uncommitted items meanwhile. A server that cannot
    tell on its platform (14 outside Linux; Windows) refuses the setting: it is then left
    off."""
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET jit = off")
    if conn.info.server_version >= 140000:
        try:   # the connections are in autocommit: a refusal leaves no failed transaction
            conn.execute(f"SET client_connection_check_interval = '{CLIENT_CHECK}'")
        except psycopg.errors.InvalidParameterValue:
            pass


def _state(row: DictRow) -> SourceState:
    values = {c: row[c] for c in STATE_COLUMNS}
    values["last_error_kind"] = error_kind(values["last_error_kind"])
    return SourceState(**values)


def _state_row(state: SourceState) -> list[Any]:
    """The parameters of _UPDATE_STATE for this state."""
    return [*(getattr(state, c) for c in STATE_COLUMNS[1:]), state.name]


# The oldest server this store runs on: sha256() (`_dedup_key`) came with PostgreSQL 11.
OLDEST_SERVER = 110000


def refuse_old_server(version: int, shown: str) -> None:
    """StoreError for a server older than OLDEST_SERVER (``version`` as libpq gives it:
    150019 for 15.19, 90624 for 9.6.24), which a poll's lookups would fail on."""
    if version < OLDEST_SERVER:
        major = (f"{version // 10000}" if version >= 100000
                 else f"{version // 10000}.{version // 100 % 100}")
        raise StoreError(f"database {shown}: PostgreSQL {major} is too old; news-monitor "
                         "needs PostgreSQL 11 or newer")


def refuse_other_encoding(encoding: str | None, shown: str) -> None:
    """StoreError for a database not in UTF8: a feed's text in any script must fit, and
    the lookups send their values as JSON, which a server before 13 reads only in UTF8."""
    if encoding is not None and encoding.upper() not in ("UTF8", "UTF-8"):
        raise StoreError(f"database {shown}: its encoding is {encoding}; news-monitor needs "
                         "a UTF8 database (CREATE DATABASE ... ENCODING 'UTF8')")


def _dedup_key(*parts: str) -> str:
    """SQL for retention.dedup_key of these SQL text expressions (the kind first): the
    first 8 bytes of the sha256 of the parts joined by NUL, as a signed 64-bit integer
    (tests/test_postgres.py checks that both give the same keys)."""
    joined = " || decode('00', 'hex') || ".join(f"convert_to({part}, 'UTF8')" for part in parts)
    return f"('x' || left(encode(sha256({joined}), 'hex'), 16))::bit(64)::bigint"


def _stored(guid: str) -> str:
    """SQL: true where the source (the parameter) stored the item ``guid``, else NULL."""
    return f"(SELECT true FROM items WHERE source = %s AND guid = {guid})"


def _kept(*parts: str) -> str:
    """SQL: true where retention kept the dedup key of ``parts`` (`_dedup_key`), else NULL."""
    return f"(SELECT true FROM seen_keys WHERE key = {_dedup_key(*parts)})"


def _first_item(url: str) -> str:
    """SQL: the first stored item holding the canonical ``url``, else NULL (one descent of
    items_canonical_url_id; "<> ''": the index is partial)."""
    return f"(SELECT MIN(id) FROM items WHERE canonical_url = {url} AND canonical_url <> '')"


# A poll's lookups probe the indexes value by value, each by one of the scalar subqueries
# above, which the planner never turns into a hash of the whole table (EXISTS under an OR,
# planned generic while seen_keys was empty, was: a read of every kept key and every item
# of the source, each poll; `= ANY(45 URLs) GROUP BY` was planned, before the table's
# first ANALYZE, as a read of every item). Not prepared: a plan kept from tables analysed
# while empty reads them whole for each value, until they are analysed again; planned
# each time, on their size then, they probe the indexes.
#
# Which of a source's guids it delivered: stored, or deleted with its key kept.
_KNOWN_GUIDS = ("SELECT g.guid FROM json_array_elements_text(%s::json) AS g(guid) "
                f"WHERE {_stored('g.guid')} OR " + _kept("'guid'", "%s", "g.guid"))
# Which canonical URLs an item deleted by retention had delivered.
_FORGOTTEN_URLS = ("SELECT u.url FROM json_array_elements_text(%s::json) AS u(url) WHERE "
                   + _kept("'url'", "u.url"))
# Each URL's first item. Only the URLs found come back (a first poll's 45 new URLs: no row
# to build); OFFSET 0 keeps the subquery whole, so that each URL's MIN(id) runs once.
_FIRST_ITEMS = ("SELECT canonical_url, id FROM (SELECT u.url AS canonical_url, "
                f"{_first_item('u.url')} AS id FROM json_array_elements_text(%s::json) "
                "AS u(url) OFFSET 0) AS found WHERE id IS NOT NULL")
# A body's lookups in one statement (`known_keys`), the three above for each (guid,
# canonical URL) pair: whether the source delivered the guid; for a guid it did not, the
# URL's first item, else whether retention kept the URL's key. The kept keys are hashed
# only once retention has kept one: ``keeps`` is read once a statement (an InitPlan), and
# the server's AND, evaluated in order, stops at its false (EXPLAIN ANALYZE: the seen_keys
# probes "never executed"; only the cost depends on it, not the answer). OFFSET 0 keeps
# each level whole, so that each subquery runs once a row; only the rows where something
# was found come back.
_KNOWN_KEYS = (
    "SELECT guid, url, known, first_id, forgotten FROM ("
    "SELECT guid, url, known, first_id, COALESCE(NOT known AND first_id IS NULL AND "
    "url <> '' AND keeps AND " + _kept("'url'", "url") + ", false) AS forgotten FROM ("
    "SELECT guid, url, keeps, known, CASE WHEN NOT known AND url <> '' THEN "
    f"{_first_item('pair.url')} END AS first_id FROM (SELECT p->>0 AS guid, p->>1 AS url, "
    f"keeps, COALESCE({_stored('p->>0')}, false) OR "
    "COALESCE(keeps AND " + _kept("'guid'", "%s", "p->>0") + ", false) AS known "
    "FROM (SELECT EXISTS (SELECT 1 FROM seen_keys) AS keeps) AS kept, "
    "json_array_elements(%s::json) AS p OFFSET 0) AS pair OFFSET 0) AS looked "
    "OFFSET 0) AS found WHERE known OR first_id IS NOT NULL OR forgotten")


class PostgresStore:
    """Store on a PostgreSQL database. Thread-safe: a pool of connections."""

    shared = True   # several processes write it: the nodes of a cluster

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.path = shown_database(url)   # what messages, logs and `status` show
        self._secrets = _secrets(url)
        try:
            first = psycopg.connect(url, autocommit=True, row_factory=dict_row,
                                    connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open database {self._scrub(exc)}") from exc
        try:
            refuse_old_server(first.info.server_version, self.path)
            refuse_other_encoding(first.info.parameter_status("server_encoding"), self.path)
            _configure(first)
            self._migrate(first)
        finally:
            first.close()
        self.items_before_lock = max(1, min(ITEMS_BEFORE_LOCK, pool_size // 2))
        self._pool = ReconnectingPool(
            url, connection_class=Connection, min_size=1, max_size=pool_size,
            kwargs={"autocommit": True, "row_factory": dict_row,
                    "connect_timeout": CONNECT_TIMEOUT},
            configure=_configure, timeout=POOL_TIMEOUT, name="monitor", open=True)
        # Connections of their own, opened on first use: session locks live with them.
        self._singletons = SingletonLocks(url, CONNECT_TIMEOUT)
        self._records = RecordLock(url, CONNECT_TIMEOUT)

    # -- plumbing ---------------------------------------------------------

    def _scrub(self, exc: BaseException) -> str:
        """``database <shown url>: <error>``, never with the password in it (libpq quotes
        parts of a malformed URL in its messages)."""
        text = " ".join(str(exc).split())
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return f"{self.path}: {text}"

    @contextmanager
    def _lent(self, first: Callable[[Connection, ExitStack], T]
              ) -> Iterator[tuple[Connection, T]]:
        """A connection of the pool that answers its first statement: ``first`` sends it
        (and enters on the stack what must end before the connection goes back, such as a
        transaction); yields the connection and what ``first`` returned. One found dead
        (the server restarted, or closed it) goes back to the pool, which drops it and opens
        another, and the next is tried at once: the pool's own check would wait 1 s, 2 s,
        4 s ... between the dead ones, and after a restart most of them are. The first
        statement being the check, no round trip is spent on one."""
        for _ in range(self._pool.max_size + 1):
            with self._pool.connection() as conn, ExitStack() as held:
                try:
                    done = first(conn, held)
                except psycopg.OperationalError:
                    if conn.broken:
                        continue
                    raise
                yield conn, done
                return
        raise psycopg.OperationalError("no connection of the pool answers")

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection of the pool that answers (an empty statement tells)."""
        with self._lent(lambda conn, _: conn.execute("")) as (conn, _):
            yield conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One transaction on a connection of the pool; any database error (the server
        gone, a constraint, a closed store) becomes a StoreError, and what the transaction
        wrote is rolled back. Its BEGIN tells whether the connection answers. A broken
        connection goes back to the pool, which drops it."""
        try:
            with self._lent(lambda conn, held: held.enter_context(conn.transaction())) as (
                    conn, _):
                yield conn
        except psycopg.Error as exc:
            raise StoreError(f"database {self._scrub(exc)}") from exc

    def _query(self, sql: str, params: Sequence[Any] | None = None,
               prepare: bool | None = None) -> list[DictRow]:
        """A read (or ANALYZE: every caller's statement changes nothing twice over). On a
        connection lost before it, or while it runs (a restart, an administrator's
        pg_terminate_backend), it is made again on the next connection of the pool.
        ``prepare``: psycopg's (None: prepared once run a few times; False: planned anew
        each time, on the table's size then)."""
        try:
            with self._lent(lambda conn, _: conn.execute(sql, params, prepare=prepare)
                            ) as (_, cursor):
                return cursor.fetchall() if cursor.description else []
        except psycopg.Error as exc:
            raise StoreError(f"database {self._scrub(exc)}") from exc

    def _migrate(self, conn: Connection) -> None:
        """Bring the schema up to this code's version, one migration per transaction, under
        an advisory lock: of several processes starting at once, one migrates, the others
        wait and find the work done."""
        number = 0
        try:
            while True:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                    number = self._version(conn) + 1
                    if number > SCHEMA_VERSION:
                        return
                    conn.execute(MIGRATIONS[number - 1])
                    conn.execute("UPDATE schema_version SET version = %s", (number,))
        except psycopg.Error as exc:
            raise StoreError(f"migration {number} of {self._scrub(exc)}") from exc

    def _version(self, conn: Connection) -> int:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            return 0
        version = int(row["version"])
        if version > SCHEMA_VERSION:
            raise StoreError(f"database {self.path} has schema version {version}, newer "
                             f"than this news-monitor ({SCHEMA_VERSION}); upgrade the code")
        return version

    def check_readable(self) -> None:
        """Raise StoreError unless the server answers (it checks its own pages)."""
        self._query("SELECT 1")

    def ping(self) -> None:
        """A cheap read that proves the database answers (GET /readyz)."""
        self._query("SELECT 1 FROM sources LIMIT 1")

    def close(self) -> None:
        self._singletons.close()
        self._records.close()
        self._pool.close()

    # -- sources ----------------------------------------------------------

    def stored_sources(self) -> dict[str, tuple[str, SourceState]]:
        rows = self._query(f"SELECT config_url, {', '.join(STATE_COLUMNS)} FROM sources")
        return {r["name"]: (r["config_url"], _state(r)) for r in rows}

    def apply_sources(self, changes: Sequence[SourceChange]) -> None:
        with self._transaction() as db:
            for change in changes:
                match change:
                    case AddSource(name, url, next_poll_at):
                        # Nodes starting together add the same sources: one row each.
                        db.execute("INSERT INTO sources (name, config_url, url, next_poll_at) "
                                   "VALUES (%s, %s, %s, %s) ON CONFLICT (name) DO NOTHING",
                                   (name, url, url, next_poll_at))
                    case MoveSource(config_url, state):
                        db.execute("UPDATE sources SET config_url = %s WHERE name = %s",
                                   (config_url, state.name))
                        db.execute(_UPDATE_STATE, _state_row(state))
                    case RetireSource(name, at):
                        db.execute("UPDATE sources SET retired_at = %s, lease_owner = NULL, "
                                   "lease_until = NULL WHERE name = %s", (at, name))
                    case RestoreSource(name):
                        db.execute("UPDATE sources SET retired_at = NULL WHERE name = %s",
                                   (name,))

    def retired_sources(self) -> frozenset[str]:
        return frozenset(r["name"] for r in self._query(
            "SELECT name FROM sources WHERE retired_at IS NOT NULL"))

    def source_state(self, name: str) -> SourceState:
        rows = self._query(f"{_SELECT_STATE} WHERE name = %s", (name,))
        if not rows:
            raise StoreError(f"unknown source {name!r}")
        return _state(rows[0])

    def source_states(self) -> list[SourceState]:
        return [_state(r) for r in self._query(f'{_SELECT_STATE} ORDER BY name COLLATE "C"')]

    def source_health_facts(self) -> list[HealthFacts]:
        return [health_facts(r) for r in self._query(_SELECT_HEALTH_FACTS)]

    def source_urls(self) -> dict[str, str]:
        return {r["name"]: r["url"] for r in self._query("SELECT name, url FROM sources")}

    def due_sources(self, now: datetime) -> dict[str, str]:
        rows = self._query("SELECT name, url FROM sources WHERE next_poll_at IS NULL OR "
                           "next_poll_at <= %s", (now,))
        return {r["name"]: r["url"] for r in rows}

    def record_states(self, states: Sequence[SourceState], owner: str | None = None) -> None:
        """Unchanged polls' states, each releasing its source's lease unless another node
        than ``owner`` holds it; not waiting for the disk, as poll_transaction."""
        with self._transaction() as db, db.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            # In code-point order (Python's), the order in which the heartbeat's lease
            # renewal locks rows too (COLLATE "C", postgres_nodes._LOCKED_IN_ORDER).
            cursor.executemany(_RECORD_STATE, [[*_state_row(s), owner, owner]
                                               for s in sorted(states, key=attrgetter("name"))])

    # -- items and stories ------------------------------------------------

    # A poll's lookups (its guids and URLs) take their values as one JSON array: psycopg
    # builds a text[] parameter value by value, in Python; json.dumps is one call in C. The
    # dedup keys that retention kept (monitor/retention.py) are computed by the server
    # (`_dedup_key`), in the same query: no hashing here, no second round trip.

    def known_keys(self, source: str, items: Sequence[ParsedItem],
                   canonical: Callable[[str], str]) -> KnownKeys:
        """One round trip (_KNOWN_KEYS) for the three lookups, where one after another
        took three: every item's URL is made canonical first, known or not."""
        urls = {item.url: canonical(item.url) for item in items}
        if not urls:
            return KnownKeys(set(), {}, {}, set())
        pairs = json.dumps([[item.guid, urls[item.url]] for item in items])
        rows = self._query(_KNOWN_KEYS, (source, source, pairs), prepare=False)
        return KnownKeys({r["guid"] for r in rows if r["known"]}, urls,
                         {r["url"]: r["first_id"] for r in rows if r["first_id"] is not None},
                         {r["url"] for r in rows if r["forgotten"]})

    def known_guids(self, source: str, guids: Sequence[str]) -> set[str]:
        rows = self._query(_KNOWN_GUIDS, (json.dumps(list(guids)), source, source),
                           prepare=False)
        return {r["guid"] for r in rows}

    def forgotten_urls(self, urls: Sequence[str]) -> set[str]:
        wanted = [u for u in dict.fromkeys(urls) if u]
        if not wanted:
            return set()
        rows = self._query(_FORGOTTEN_URLS, (json.dumps(wanted),), prepare=False)
        return {r["url"] for r in rows}

    def items_by_canonical_url(self, urls: Sequence[str]) -> dict[str, int]:
        wanted = [u for u in dict.fromkeys(urls) if u]
        if not wanted:
            return {}
        rows = self._query(_FIRST_ITEMS, (json.dumps(wanted),), prepare=False)
        return {r["canonical_url"]: r["id"] for r in rows}

    def recent_stories(self, topic: str, since: datetime, after_id: int = 0) -> list[StoryKey]:
        rows = self._query(_STORY_KEYS + "WHERE id > %s AND topic = %s AND first_seen >= %s "
                           "ORDER BY id", (after_id, topic, since))
        return [story_key(r) for r in rows]

    def story_actors(self, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
        rows = self._query("SELECT id, actors FROM stories WHERE id = ANY(%s::bigint[])",
                           (list(ids),))
        return {r["id"]: tuple(as_json(r["actors"])) for r in rows}

    @contextmanager
    def poll_transaction(self, owner: str | None = None) -> Iterator[PostgresPollWriter]:
        """A poll's commit. It does not wait for the server's disk (synchronous_commit
        off, 3.4 ms a commit on the test machine, and polls commit one at a time): a server
        crash may lose the last fraction of a second of polls, whole (items, stories,
        outbox and source state together), which are then polled again. Any later commit
        that waits for the disk (a digest made, a delivery marked) makes them durable
        first, so nothing sent rests on a lost poll. The source's state releases its
        lease; when a node other than ``owner`` holds it, nothing of the poll is kept."""
        with self._transaction() as db:
            db.execute("SET LOCAL synchronous_commit = off")

            def write_state(state: SourceState) -> None:
                if not db.execute(_RECORD_STATE, [*_state_row(state), owner, owner]).rowcount:
                    raise StoreError(f"source {state.name!r} is leased to another node "
                                     f"(this node's lease lapsed): this poll is not recorded")

            yield PostgresPollWriter(db, write_state)

    @contextmanager
    def record_lock(self) -> Iterator[None]:
        """The cluster's lock on story commits (postgres_nodes.RecordLock), held for the
        block: of several nodes, one checks and commits its poll's stories at a time. A
        poll takes it on its own transaction (`PostgresPollWriter.lock_records`); this
        session's lock is for callers outside a poll (held around a poll's transaction of
        the same process, the two would wait for each other)."""
        try:
            self._records.acquire()
        except psycopg.Error as exc:
            raise StoreError(f"database {self._scrub(exc)}") from exc
        try:
            yield
        finally:
            self._records.release()

    def open_incidents(self, source: str) -> list[Incident]:
        rows = self._query("SELECT i.id, i.source, i.kind, i.opened_at, i.detail, "
                           "array_remove(array_agg(a.notifier), NULL) AS alerted "
                           "FROM health_incidents i LEFT JOIN health_alerts a "
                           "ON a.incident_id = i.id WHERE i.source = %s AND i.closed_at IS NULL "
                           "GROUP BY i.id", (source,))
        return [Incident(id=r["id"], source=r["source"], kind=r["kind"],
                         opened_at=r["opened_at"], detail=r["detail"],
                         alerted=frozenset(r["alerted"])) for r in rows]

    def _stories(self, db: Connection, where: str, params: Sequence[Any]) -> list[Story]:
        rows = db.execute(f"SELECT * FROM stories WHERE {where} ORDER BY first_seen, id",
                          params).fetchall()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        sources: dict[int, list[StorySource]] = {i: [] for i in ids}
        for s in db.execute("SELECT si.story_id, i.source, i.url, i.title, i.published "
                            "FROM story_items si JOIN items i ON i.id = si.item_id "
                            "WHERE si.story_id = ANY(%s::bigint[]) ORDER BY i.id", (ids,)):
            sources[s["story_id"]].append(story_source(s))
        return [story_from_row(r, sources[r["id"]]) for r in rows]

    def stored_items(self, since: datetime) -> list[StoredItem]:
        with self._transaction() as db:
            rows = db.execute(_ITEMS + "WHERE first_seen >= %s ORDER BY first_seen, id",
                              (since,)).fetchall()
            return stored_items(rows, db.execute(
                "SELECT si.item_id, s.id, s.topic, s.alert, s.evidence "
                "FROM items i JOIN story_items si ON si.item_id = i.id "
                "JOIN stories s ON s.id = si.story_id WHERE i.first_seen >= %s "
                "ORDER BY s.id", (since,)).fetchall())

    def source_items(self, source: str, limit: int) -> list[StoredItem]:
        """The source's ``limit`` items seen last, newest first, each with its stories."""
        with self._transaction() as db:
            rows = db.execute(_ITEMS + "WHERE source = %s ORDER BY id DESC LIMIT %s",
                              (source, limit)).fetchall()
            return stored_items(rows, db.execute(
                "SELECT si.item_id, s.id, s.topic, s.alert, s.evidence "
                "FROM story_items si JOIN stories s ON s.id = si.story_id "
                "WHERE si.item_id = ANY(%s::bigint[]) ORDER BY s.id",
                ([r["id"] for r in rows],)).fetchall())

    def ledger(self) -> list[LedgerEntry]:
        """The event ledger from its own copies of the reports (their stories may be
        gone)."""
        with self._transaction() as db:
            return ledger_entries(
                db.execute("SELECT id, state, kind, title, first_seen, url, origin, source, "
                           "story_id FROM events ORDER BY first_seen, id").fetchall(),
                db.execute("SELECT event_id, story_id, title, url, first_seen "
                           "FROM event_reports ORDER BY first_seen, id").fetchall())

    def matches(self, since: datetime) -> list[Story]:
        with self._transaction() as db:
            return self._stories(db, "first_seen >= %s", (since,))

    # -- articles (monitor/articles.py) ----------------------------------

    def cached_articles(self, urls: Sequence[str]) -> dict[str, CachedArticle]:
        """The cached reads of these article URLs (canonical), by URL."""
        rows = self._query("SELECT url, fetched_at, text, error FROM articles "
                           "WHERE url = ANY(%s)", (list(dict.fromkeys(urls)),))
        return {r["url"]: cached_article(r) for r in rows}

    def record_articles(self, articles: Sequence[CachedArticle], counts: ArticleCounts,
                        now: datetime) -> None:
        """Cache the articles a poll read (a newer read replaces an older one) and add
        ``counts`` to the hour of ``now``, in one transaction."""
        with self._transaction() as db, db.cursor() as cursor:
            if articles:
                cursor.executemany(
                    "INSERT INTO articles (url, fetched_at, text, error) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (url) DO UPDATE SET "
                    "fetched_at = excluded.fetched_at, text = excluded.text, "
                    "error = excluded.error",
                    [(a.url, a.fetched_at, a.text, a.error) for a in articles])
            if counts.total:
                cursor.execute(
                    "INSERT INTO article_counts AS c (hour, fetched, from_cache, failed, "
                    "skipped) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (hour) DO UPDATE SET "
                    "fetched = c.fetched + excluded.fetched, "
                    "from_cache = c.from_cache + excluded.from_cache, "
                    "failed = c.failed + excluded.failed, skipped = c.skipped + excluded.skipped",
                    (hour_key(now), counts.fetched, counts.from_cache, counts.failed,
                     counts.skipped))

    def article_counts(self, since: datetime) -> ArticleCounts:
        """The article reads counted from the hour of ``since`` on."""
        row = self._query("SELECT COALESCE(SUM(fetched), 0) AS fetched, "
                          "COALESCE(SUM(from_cache), 0) AS from_cache, "
                          "COALESCE(SUM(failed), 0) AS failed, "
                          "COALESCE(SUM(skipped), 0) AS skipped "
                          "FROM article_counts WHERE hour >= %s", (hour_key(since),))[0]
        return ArticleCounts(int(row["fetched"]), int(row["from_cache"]), int(row["failed"]),
                             int(row["skipped"]))

    # -- outbox and deliveries -------------------------------------------

    def queued_stories(self, notifier: str) -> list[int]:
        """The story ids of the notifier's outbox rows not yet in a digest, in queue order."""
        rows = self._query("SELECT story_id FROM outbox WHERE notifier = %s AND "
                           "delivery_id IS NULL ORDER BY id", (notifier,))
        return [r["story_id"] for r in rows]

    def make_digest(self, notifier: str, story_ids: Sequence[int], now: datetime,
                    digest_id: str) -> Digest | None:
        """Freeze those of ``story_ids`` still queued for the notifier (in no digest yet)
        into one pending delivery; None when none of them is. The outbox rows are locked as
        they are read: another process making the same notifier's digest meanwhile skips
        them (SKIP LOCKED), so a story is in one digest only."""
        with self._transaction() as db:
            queued = [r["story_id"] for r in db.execute(
                "SELECT story_id FROM outbox WHERE notifier = %s AND delivery_id IS NULL "
                "AND story_id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE SKIP LOCKED",
                (notifier, list(story_ids)))]
            if not queued:
                return None
            stories = self._stories(db, "id = ANY(%s::bigint[])", (queued,))
            digest = Digest(id=digest_id, notifier=notifier, created_at=now,
                            stories=tuple(stories))
            insert_delivery(db, digest, now)
            db.execute("UPDATE outbox SET delivery_id = %s WHERE notifier = %s AND "
                       "delivery_id IS NULL AND story_id = ANY(%s::bigint[])",
                       (digest_id, notifier, queued))
            return digest

    def add_delivery(self, digest: Digest, now: datetime) -> None:
        with self._transaction() as db:
            insert_delivery(db, digest, now)

    def due_deliveries(self, notifier: str, statuses: Sequence[DeliveryStatus],
                       now: datetime) -> list[Digest]:
        """The notifier's deliveries in ``statuses`` whose next attempt time has come and
        that no node is sending (lease free), oldest first."""
        rows = self._query("SELECT payload FROM deliveries WHERE notifier = %s AND "
                           "status = ANY(%s) AND next_attempt_at <= %s AND "
                           "(lease_until IS NULL OR lease_until < %s) "
                           'ORDER BY created_at, id COLLATE "C"',
                           (notifier, list(statuses), now, now))
        return [digest_from_json(r["payload"]) for r in rows]

    def mark_sending(self, digest_id: str, now: datetime) -> int:
        with self._transaction() as db:
            row = db.execute("UPDATE deliveries SET status = 'sending', attempts = attempts + 1, "
                             "last_attempt_at = %s WHERE id = %s RETURNING attempts",
                             (now, digest_id)).fetchone()
        if row is None:
            raise StoreError(f"database {self.path}: no delivery {digest_id!r}")
        return int(row["attempts"])

    def claim_delivery(self, digest_id: str, statuses: Sequence[DeliveryStatus],
                       lease: Lease) -> int | None:
        with self._transaction() as db:
            return postgres_nodes.claim_delivery(db, digest_id, statuses, lease)

    def mark_delivered(self, digest_id: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET status = 'delivered', delivered_at = %s, "
                       "last_error = NULL, lease_owner = NULL, lease_until = NULL "
                       "WHERE id = %s", (now, digest_id))

    def mark_failed(self, digest_id: str, error: str, now: datetime,
                    next_attempt_at: datetime) -> None:
        with self._transaction() as db:   # not over 'delivered': another node sent it
            db.execute("UPDATE deliveries SET status = 'failed', last_error = %s, "
                       "next_attempt_at = %s, lease_owner = NULL, lease_until = NULL "
                       "WHERE id = %s AND status <> 'delivered'",
                       (error, next_attempt_at, digest_id))

    def mark_dead(self, digest_id: str, error: str, now: datetime) -> None:
        with self._transaction() as db:
            db.execute("UPDATE deliveries SET status = 'dead', last_error = %s, "
                       "lease_owner = NULL, lease_until = NULL "
                       "WHERE id = %s AND status <> 'delivered'", (error, digest_id))

    def delivery_rows(self, statuses: Sequence[DeliveryStatus],
                      limit: int | None = None) -> list[dict[str, Any]]:
        """As SQLite's: times as ISO 8601 text in UTC."""
        rows = self._query("SELECT id, notifier, kind, created_at, status, attempts, "
                           "next_attempt_at, last_attempt_at, last_error, delivered_at, "
                           "jsonb_array_length(payload -> 'stories') AS stories "
                           "FROM deliveries WHERE status = ANY(%s) "
                           'ORDER BY created_at, id COLLATE "C" LIMIT %s',
                           (list(statuses), limit))
        return [{**r, **{c: _iso_utc(r[c]) for c in _DELIVERY_TIMES}} for r in rows]

    def delivery_counts(self, statuses: Sequence[DeliveryStatus]
                        ) -> dict[tuple[str, DeliveryStatus], int]:
        # Served by the index deliveries_due (notifier, status, ...).
        rows = self._query("SELECT notifier, status, count(*) AS n FROM deliveries "
                           "WHERE status = ANY(%s) GROUP BY 1, 2", (list(statuses),))
        return {(r["notifier"], r["status"]): int(r["n"]) for r in rows}

    def reschedule_deliveries(self, plan: Reschedule) -> int:
        """Apply ``plan`` (monitor.outbox.Reschedule) in one transaction; returns how many
        deliveries it made due."""
        if not plan.statuses:
            return 0
        where = "status = ANY(%(statuses)s)"
        if plan.digest_id is not None:
            where += " AND id = %(id)s"
        with self._transaction() as db:
            return db.execute(
                f"UPDATE deliveries SET status = CASE WHEN status = ANY(%(restart)s) "
                f"THEN %(restart_as)s ELSE status END, next_attempt_at = %(due)s, attempts = "
                f"CASE WHEN status = ANY(%(restart)s) THEN 0 ELSE attempts END WHERE {where}",
                {"statuses": list(plan.statuses), "restart": list(plan.restart),
                 "restart_as": plan.restart_as, "due": plan.due_at,
                 "id": plan.digest_id}).rowcount

    # -- retention, size and checks ----------------------------------------

    def forget_batch(self, plan: RetentionPlan) -> Forgotten:
        """One retention batch of ``plan`` (monitor.retention.RetentionPlan), in one
        transaction: deliveries, then the stories they freed, then the items, then the
        cached articles."""
        limit = plan.batch_size
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute(
                "SELECT id FROM deliveries WHERE status = ANY(%s) AND delivered_at < %s "
                "LIMIT %s", (list(plan.delivery_statuses), plan.delivered_before, limit))]
            if ids:
                db.execute("DELETE FROM outbox WHERE delivery_id = ANY(%s)", (ids,))
                db.execute("DELETE FROM deliveries WHERE id = ANY(%s)", (ids,))
            stories = [r["id"] for r in db.execute(
                "SELECT id FROM stories s WHERE first_seen < %s AND NOT EXISTS "
                "(SELECT 1 FROM outbox o WHERE o.story_id = s.id) AND NOT EXISTS "
                "(SELECT 1 FROM story_items si JOIN items i ON i.id = si.item_id "
                "WHERE si.story_id = s.id AND i.first_seen >= %s) LIMIT %s",
                (plan.stories_before, plan.reports_before, limit))]
            if stories:
                db.execute("DELETE FROM story_items WHERE story_id = ANY(%s::bigint[])",
                           (stories,))
                db.execute("DELETE FROM stories WHERE id = ANY(%s::bigint[])", (stories,))
                # The ledger keeps its reports, not their ids.
                for table in ("events", "event_reports"):
                    db.execute(f"UPDATE {table} SET story_id = NULL "
                               f"WHERE story_id = ANY(%s::bigint[])", (stories,))
            items = self._forget_items(db, plan.items_before, limit)
            articles = db.execute(
                "DELETE FROM articles WHERE url IN (SELECT url FROM articles "
                "WHERE fetched_at < %s LIMIT %s)", (plan.articles_before, limit)).rowcount
            db.execute("DELETE FROM article_counts WHERE hour < %s",
                       (hour_key(plan.articles_before),))
        return Forgotten(len(ids), len(stories), items, articles)

    @staticmethod
    def _forget_items(db: Connection, before: datetime, limit: int) -> int:
        """Up to ``limit`` items seen before ``before`` in no story, their keys kept."""
        items = db.execute(
            "SELECT id, source, guid, canonical_url FROM items i WHERE first_seen < %s AND "
            "NOT EXISTS (SELECT 1 FROM story_items si WHERE si.item_id = i.id) LIMIT %s",
            (before, limit)).fetchall()
        if items:
            keys = [k for r in items for k in kept_keys(r["source"], r["guid"],
                                                        r["canonical_url"])]
            db.execute("INSERT INTO seen_keys (key) SELECT unnest(%s::bigint[]) "
                       "ON CONFLICT DO NOTHING", (keys,))
            db.execute("DELETE FROM items WHERE id = ANY(%s::bigint[])",
                       ([r["id"] for r in items],))
        return len(items)

    def optimize(self) -> None:
        """After a retention pass that deleted rows: refresh the planner's statistics of
        the tables it shrank (autovacuum would, later)."""
        self._query("ANALYZE items, stories, story_items, outbox, deliveries, articles")

    def database_info(self) -> DatabaseInfo:
        row = self._query("SELECT pg_database_size(current_database()) AS size, "
                          "(SELECT MIN(first_seen) FROM items) AS oldest, "
                          "(SELECT COUNT(*) FROM items) AS items, "
                          "(SELECT COUNT(*) FROM seen_keys) AS keys")[0]
        return DatabaseInfo(path=self.path, size=row["size"], items=row["items"],
                            oldest_item=row["oldest"], kept_keys=row["keys"])

    def check(self) -> DatabaseCheck:
        """`monitor db check`: the server's version, the schema's, and the rows the
        constraints allow but the program never writes (an identity behind its table's
        ids would make the next insert fail)."""
        checked, problems = ["schema version"], []
        with self._transaction() as db:
            server = db.execute("SHOW server_version").fetchone()
            version = self._version(db)
            for table in IDENTITIES:
                checked.append(f"{table}: id sequence past the highest id")
                row = db.execute(f"SELECT MAX(id) AS top, pg_sequence_last_value("
                                 f"pg_get_serial_sequence('{table}', 'id')) AS last "
                                 f"FROM {table}").fetchone()
                if row and row["top"] is not None and (row["last"] or 0) < row["top"]:
                    problems.append(f"{table}: the next id ({(row['last'] or 0) + 1}) is "
                                    f"taken (highest id {row['top']})")
            problems += _consistency(db, checked)
            rows = _row_counts(db)
        engine = f"PostgreSQL {server['server_version'].split()[0] if server else '?'}"
        if version != SCHEMA_VERSION:
            problems.insert(0, f"schema version {version}, this news-monitor writes "
                               f"{SCHEMA_VERSION}")
        return DatabaseCheck(self.path, engine, version, SCHEMA_VERSION, tuple(problems),
                             tuple(checked), rows)

    # -- nodes and leases (monitor/cluster.py; the SQL in postgres_nodes.py) ---

    def nodes(self, now: datetime) -> list[NodeInfo]:
        try:
            with self._connection() as db:
                return postgres_nodes.node_rows(db, now)
        except psycopg.Error as exc:
            raise StoreError(f"database {self._scrub(exc)}") from exc

    def join(self, identity: NodeIdentity, now: datetime) -> list[NodeInfo]:
        with self._transaction() as db:
            return postgres_nodes.join(db, identity, now)

    def beat(self, heartbeat: Heartbeat) -> None:
        with self._transaction() as db:
            postgres_nodes.beat(db, heartbeat)

    def forget_nodes(self, ids: Sequence[str]) -> None:
        if ids:
            with self._transaction() as db:
                postgres_nodes.forget_nodes(db, ids)

    def count_claimable(self, now: datetime) -> int:
        try:
            with self._connection() as db:
                return postgres_nodes.count_claimable(db, now)
        except psycopg.Error as exc:
            raise StoreError(f"database {self._scrub(exc)}") from exc

    def claim_sources(self, claim: SourceClaim) -> list[SourceState]:
        with self._transaction() as db:
            return [_state(r) for r in postgres_nodes.claim_sources(db, claim, STATE_COLUMNS)]

    def release_sources(self, owner: str, names: Sequence[str]) -> None:
        if names:
            with self._transaction() as db:
                postgres_nodes.release_sources(db, owner, names)

    def hold_singleton(self, name: str) -> bool:
        """Whether this process holds the singleton's advisory lock (taking it when free),
        on a connection of its own (SingletonLocks)."""
        try:
            return self._singletons.hold(name)
        except psycopg.Error as exc:
            raise StoreError(f"database {self._scrub(exc)}") from exc

    def load(self, tables: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]],
             expected: Mapping[str, int], replace: bool = False) -> dict[str, int]:
        """`monitor db copy`: fill the tables from rows (each table after those it refers
        to, its columns named as in this schema) in one transaction, then move the
        identities past the copied ids. A database holding rows is refused unless
        ``replace``, which empties it first, in the same transaction. Rolled back unless
        each table then holds the ``expected`` count; returns the counts."""
        with self._transaction() as db:
            held = _row_counts(db)
            if replace:
                db.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
            elif any(n for _, n in held):
                counts = ", ".join(f"{n} {t}" for t, n in held if n)
                raise StoreError(f"database {self.path} is not empty ({counts}); copy into "
                                 "an empty database, or give --replace to delete what it "
                                 "holds")
            for table, columns, rows in tables:
                with db.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            for table in IDENTITIES:
                db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table}")
            copied = dict(_row_counts(db))
            if copied != dict(expected):
                raise StoreError(f"database {self.path}: the copy holds {copied}, the source "
                                 f"{dict(expected)}; nothing was copied")
            return copied


def _consistency(db: Connection, checked: list[str]) -> list[str]:
    problems = []
    for what, sql in CONSISTENCY:
        checked.append(what)
        row = db.execute(sql).fetchone()
        found = int(next(iter(row.values()))) if row else 0
        if found:
            problems.append(f"{found} {what}")
    return problems


def _row_counts(db: Connection) -> tuple[tuple[str, int], ...]:
    row = db.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {t}) AS {t}"
                                           for t in TABLES)).fetchone()
    return tuple((t, int(row[t]) if row else 0) for t in TABLES)


def _iso_utc(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _secrets(url: str) -> tuple[str, ...]:
    """The password a URL carries, as written and decoded, to keep out of messages."""
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    # As written between "user:" and "@" too (libpq quotes a URL it cannot parse).
    head = url.split("://", 1)[-1].rpartition("@")[0]
    found = {str(password or ""), head.partition(":")[2], unquote(head.partition(":")[2])}
    return tuple(sorted((s for s in found if s), key=len, reverse=True))
