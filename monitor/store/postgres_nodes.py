"""The PostgreSQL side of the nodes and their leases (monitor/cluster.py decides,
monitor/node.py runs a node). SQL and row mapping only, on a connection inside a
transaction the caller opened (monitor/store/postgres.py), plus the singletons' locks.

Several nodes claim at once: a claim locks the rows it takes with ``FOR UPDATE SKIP
LOCKED``, so two claims never wait for each other and never take the same source (a row
another claim committed meanwhile is checked again against the lease condition). A node
joins under a transaction-level advisory lock, so that two nodes starting together see
each other. A singleton is a session-level advisory lock held on a connection of the
process's own, outside the pool: PostgreSQL releases it when the connection ends, so a
node that dies (or loses its connection) gives its singletons up at once.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg.rows import DictRow

from monitor.cluster import Heartbeat, Lease, NodeIdentity, NodeInfo, SourceClaim

Connection = psycopg.Connection[DictRow]

# pg_advisory_xact_lock key of joining ("news-monitor nodes" in 8 bytes).
JOIN_LOCK = int.from_bytes(b"nm-nodes", "big", signed=True)

# A lease is free when nobody holds it or its time has passed.
_FREE = "(lease_until IS NULL OR lease_until < %(now)s)"
# The rows of (owner, keys) a statement updates, locked first in key order. Statements that
# wait for several rows' locks must take them in one order, or two of them deadlock (the
# heartbeat renewing thousands of leases and a batch of unchanged polls' states did: the
# server aborted one). The batch writes in name order too (PostgresStore.record_states);
# claims skip locked rows and never wait. COLLATE "C" is code-point order, Python's: in
# the database's own collation (en_US in the official Docker image) "b" comes before "C".
_LOCKED_IN_ORDER = ("(SELECT {key} FROM {table} WHERE lease_owner = %s AND {key} = ANY(%s) "
                    'ORDER BY {key} COLLATE "C" FOR UPDATE)')
_DUE = ("retired_at IS NULL AND (%(due_by)s::timestamptz IS NULL OR next_poll_at IS NULL "
        "OR next_poll_at <= %(due_by)s) AND (%(names)s::text[] IS NULL "
        "OR name = ANY(%(names)s::text[]))")


def singleton_key(name: str) -> int:
    """PURE: the advisory lock key of a singleton: 8 bytes of sha256, signed (bigint)."""
    digest = hashlib.sha256(f"news-monitor singleton {name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def node_rows(db: Connection, now: datetime) -> list[NodeInfo]:
    """Every node, oldest first, with the unexpired leases it holds at ``now``."""
    rows = db.execute(
        "SELECT n.*, (SELECT COUNT(*) FROM sources s WHERE s.lease_owner = n.id "
        "AND s.lease_until >= %(now)s) AS held_sources, (SELECT COUNT(*) FROM deliveries d "
        "WHERE d.lease_owner = n.id AND d.lease_until >= %(now)s) AS held_deliveries "
        "FROM nodes n ORDER BY n.started_at, n.id", {"now": now}).fetchall()
    return [NodeInfo(NodeIdentity(r["id"], r["host"], r["pid"], r["started_at"],
                                  r["config_hash"]), r["heartbeat_at"],
                     tuple(r["singletons"]), r["held_sources"], r["held_deliveries"])
            for r in rows]


def upsert_node(db: Connection, identity: NodeIdentity, at: datetime,
                singletons: Sequence[str] = ()) -> None:
    db.execute("INSERT INTO nodes (id, host, pid, started_at, heartbeat_at, config_hash, "
               "singletons) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE "
               "SET heartbeat_at = excluded.heartbeat_at, singletons = excluded.singletons",
               (identity.id, identity.host, identity.pid, identity.started_at, at,
                identity.config_hash, list(singletons)))


def join(db: Connection, identity: NodeIdentity, now: datetime) -> list[NodeInfo]:
    """Add the node; the others as they were (joins are serialised by JOIN_LOCK)."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (JOIN_LOCK,))
    others = [n for n in node_rows(db, now) if n.id != identity.id]
    upsert_node(db, identity, now)
    return others


def beat(db: Connection, heartbeat: Heartbeat) -> None:
    """The node's row says it is alive; the leases it still works on last until
    ``heartbeat.until`` (those another node took over stay theirs)."""
    upsert_node(db, heartbeat.identity, heartbeat.at, heartbeat.singletons)
    owner, until = heartbeat.identity.id, heartbeat.until
    if heartbeat.sources:
        db.execute(f"UPDATE sources SET lease_until = %s WHERE name IN "
                   f"{_LOCKED_IN_ORDER.format(table='sources', key='name')}",
                   (until, owner, list(heartbeat.sources)))
    if heartbeat.deliveries:
        db.execute(f"UPDATE deliveries SET lease_until = %s WHERE id IN "
                   f"{_LOCKED_IN_ORDER.format(table='deliveries', key='id')}",
                   (until, owner, list(heartbeat.deliveries)))


def forget_nodes(db: Connection, ids: Sequence[str]) -> None:
    """Remove the nodes and release every lease they hold."""
    for table in ("sources", "deliveries"):
        db.execute(f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL "
                   f"WHERE lease_owner = ANY(%s)", (list(ids),))
    db.execute("DELETE FROM nodes WHERE id = ANY(%s)", (list(ids),))


def count_claimable(db: Connection, now: datetime) -> int:
    row = db.execute(f"SELECT COUNT(*) AS n FROM sources WHERE {_DUE} AND {_FREE}",
                     {"now": now, "due_by": now, "names": None}).fetchone()
    return int(row["n"]) if row is not None else 0


def claim_sources(db: Connection, claim: SourceClaim, columns: Sequence[str]) -> list[DictRow]:
    """Lease the sources the claim names to its owner; their rows (``columns``)."""
    return db.execute(
        f"UPDATE sources SET lease_owner = %(owner)s, lease_until = %(until)s WHERE name IN "
        f"(SELECT name FROM sources WHERE {_DUE} AND {_FREE} "
        f"ORDER BY next_poll_at NULLS FIRST, name LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
        f"RETURNING {', '.join(columns)}",
        {"owner": claim.owner, "until": claim.until, "now": claim.now,
         "due_by": claim.due_by, "limit": claim.limit,
         "names": None if claim.names is None else list(claim.names)}).fetchall()


def release_sources(db: Connection, owner: str, names: Sequence[str]) -> None:
    db.execute(f"UPDATE sources SET lease_owner = NULL, lease_until = NULL WHERE name IN "
               f"{_LOCKED_IN_ORDER.format(table='sources', key='name')}", (owner, list(names)))


def claim_delivery(db: Connection, digest_id: str, statuses: Sequence[str],
                   lease: Lease) -> int | None:
    """Record an attempt at a delivery in ``statuses``, due, that no other node is
    sending, leased to ``lease.owner``; its attempt number, or None when it is not to be
    sent now."""
    row = db.execute(
        f"UPDATE deliveries SET status = 'sending', attempts = attempts + 1, "
        f"last_attempt_at = %(now)s, lease_owner = %(owner)s, lease_until = %(until)s "
        f"WHERE id = %(id)s AND status = ANY(%(statuses)s) "
        f"AND next_attempt_at <= %(now)s AND {_FREE} RETURNING attempts",
        {"id": digest_id, "now": lease.now, "owner": lease.owner,
         "until": lease.until, "statuses": list(statuses)}).fetchone()
    return None if row is None else int(row["attempts"])


class SingletonLocks:
    """The singletons this process holds: session advisory locks on a connection of its
    own. A connection lost (the server restarted, the connection killed) loses them; the
    next call connects again and tries to take them back. Thread-safe."""

    def __init__(self, url: str, connect_timeout: int) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def hold(self, name: str) -> bool:
        """Whether this process holds ``name`` (taking it when free). Raises psycopg.Error
        when the server cannot be reached."""
        with self._lock:
            try:
                return self._hold(name)
            except psycopg.OperationalError:   # the connection was lost: once more, anew
                self._drop()
                return self._hold(name)

    def _hold(self, name: str) -> bool:
        if self._conn is None:
            self._conn = psycopg.connect(self._url, autocommit=True,
                                         connect_timeout=self._connect_timeout)
        if name in self._held:
            self._conn.execute("SELECT 1")    # still ours while the session lives
            return True
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                 (singleton_key(name),)).fetchone()
        if row is not None and row[0]:
            self._held.add(name)
            return True
        return False

    def _drop(self) -> None:
        self._held.clear()
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Give every singleton up: unlocked first, so that another process can take them
        as soon as this returns (the server ends a closed session's locks a little later)."""
        with self._lock:
            if self._held and self._conn is not None:
                try:
                    self._conn.execute("SELECT pg_advisory_unlock_all()")
                except psycopg.Error:   # gone with its session: nothing is held
                    pass
            self._drop()


# pg_advisory_lock key of the polls' commits ("news-monitor records" in 8 bytes).
RECORD_LOCK = int.from_bytes(b"nm-rcrds", "big", signed=True)


class RecordLock:
    """The cluster's lock on the polls' story commits, held outside a poll: a session
    advisory lock taken on a connection of the process's own (opened when first taken).
    A poll takes the same lock on its own transaction instead
    (PostgresPollWriter.lock_records), which excludes this one and is excluded by it. A
    connection lost while held lets another node in early."""

    def __init__(self, url: str, connect_timeout: int) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._held = threading.Lock()    # the session's lock, for one thread at a time

    def acquire(self) -> None:
        """Wait for the lock. Raises psycopg.Error when the server cannot be reached."""
        self._held.acquire()
        try:
            try:
                self._connection().execute("SELECT pg_advisory_lock(%s)", (RECORD_LOCK,))
            except psycopg.OperationalError:   # the connection was lost: once more, anew
                self._drop()
                self._connection().execute("SELECT pg_advisory_lock(%s)", (RECORD_LOCK,))
        except BaseException:
            self._held.release()
            raise

    def release(self) -> None:
        try:
            if self._conn is not None:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (RECORD_LOCK,))
        except psycopg.Error:   # gone with its session: nothing is held
            self._drop()
        finally:
            self._held.release()

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True,
                                         connect_timeout=self._connect_timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._drop()
