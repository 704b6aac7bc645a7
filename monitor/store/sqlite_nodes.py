"""The SQLite side of the nodes and their leases (monitor/cluster.py decides, monitor/node.py
runs a node). SQL and row mapping only, on a connection inside a transaction the caller
opened (monitor/store/sqlite.py).

SQLite has one writer at a time (``BEGIN IMMEDIATE``), so a claim is a plain UPDATE: no
two transactions can claim the same row. One node writes a SQLite database (its daemon
lock keeps others out), so its singletons are always its own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from monitor.cluster import Heartbeat, Lease, NodeIdentity, NodeInfo, SourceClaim
from monitor.store.codec import iso

# A lease is free when nobody holds it or its time has passed.
_FREE = "(lease_until IS NULL OR lease_until < :now)"
_DUE = ("retired_at IS NULL AND (:due_by IS NULL OR next_poll_at IS NULL "
        "OR next_poll_at <= :due_by) AND (:names IS NULL OR name IN "
        "(SELECT value FROM json_each(:names)))")


def node_rows(db: sqlite3.Connection, now: datetime) -> list[NodeInfo]:
    """Every node, oldest first, with the unexpired leases it holds at ``now``."""
    rows = db.execute(
        "SELECT n.*, (SELECT COUNT(*) FROM sources s WHERE s.lease_owner = n.id "
        "AND s.lease_until >= :now) AS held_sources, (SELECT COUNT(*) FROM deliveries d "
        "WHERE d.lease_owner = n.id AND d.lease_until >= :now) AS held_deliveries "
        "FROM nodes n ORDER BY n.started_at, n.id", {"now": iso(now)}).fetchall()
    return [NodeInfo(NodeIdentity(r["id"], r["host"], r["pid"],
                                  datetime.fromisoformat(r["started_at"]), r["config_hash"]),
                     datetime.fromisoformat(r["heartbeat_at"]),
                     tuple(json.loads(r["singletons"])), r["held_sources"],
                     r["held_deliveries"]) for r in rows]


def upsert_node(db: sqlite3.Connection, identity: NodeIdentity, at: datetime,
                singletons: Sequence[str] = ()) -> None:
    db.execute("INSERT INTO nodes (id, host, pid, started_at, heartbeat_at, config_hash, "
               "singletons) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
               "heartbeat_at = excluded.heartbeat_at, singletons = excluded.singletons",
               (identity.id, identity.host, identity.pid, iso(identity.started_at), iso(at),
                identity.config_hash, json.dumps(list(singletons))))


def beat(db: sqlite3.Connection, heartbeat: Heartbeat) -> None:
    """The node's row says it is alive; the leases it still works on last until
    ``heartbeat.until`` (those another node took over stay theirs)."""
    upsert_node(db, heartbeat.identity, heartbeat.at, heartbeat.singletons)
    owner, until = heartbeat.identity.id, iso(heartbeat.until)
    for table, keys in (("sources", "name"), ("deliveries", "id")):
        held = heartbeat.sources if table == "sources" else heartbeat.deliveries
        for start in range(0, len(held), 500):
            chunk = list(held[start:start + 500])
            marks = ",".join("?" * len(chunk))
            db.execute(f"UPDATE {table} SET lease_until = ? WHERE lease_owner = ? AND "
                       f"{keys} IN ({marks})", [until, owner, *chunk])


def forget_nodes(db: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Remove the nodes and release every lease they hold."""
    for node in ids:
        for table in ("sources", "deliveries"):
            db.execute(f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL "
                       f"WHERE lease_owner = ?", (node,))
        db.execute("DELETE FROM nodes WHERE id = ?", (node,))


def count_claimable(db: sqlite3.Connection, now: datetime) -> int:
    row = db.execute(f"SELECT COUNT(*) FROM sources WHERE {_DUE} AND {_FREE}",
                     {"now": iso(now), "due_by": iso(now), "names": None}).fetchone()
    return int(row[0])


def claim_sources(db: sqlite3.Connection, claim: SourceClaim,
                  columns: Sequence[str]) -> list[sqlite3.Row]:
    """Lease the sources the claim names to its owner; their rows (``columns``)."""
    return db.execute(
        f"UPDATE sources SET lease_owner = :owner, lease_until = :until WHERE name IN "
        f"(SELECT name FROM sources WHERE {_DUE} AND {_FREE} "
        f"ORDER BY next_poll_at NULLS FIRST, name LIMIT :limit) "
        f"RETURNING {', '.join(columns)}",
        {"owner": claim.owner, "until": iso(claim.until), "now": iso(claim.now),
         "due_by": iso(claim.due_by), "limit": -1 if claim.limit is None else claim.limit,
         "names": None if claim.names is None else json.dumps(claim.names)},
    ).fetchall()


def release_sources(db: sqlite3.Connection, owner: str, names: Sequence[str]) -> None:
    db.executemany("UPDATE sources SET lease_owner = NULL, lease_until = NULL "
                   "WHERE name = ? AND lease_owner = ?", [(n, owner) for n in names])


def claim_delivery(db: sqlite3.Connection, digest_id: str, statuses: Sequence[str],
                   lease: Lease) -> int | None:
    """Record an attempt at a delivery in ``statuses``, due, that no other node is
    sending, leased to ``lease.owner``; its attempt number, or None when it is not to be
    sent now."""
    row = db.execute(
        f"UPDATE deliveries SET status = 'sending', attempts = attempts + 1, "
        f"last_attempt_at = :now, lease_owner = :owner, lease_until = :until "
        f"WHERE id = :id AND status IN (SELECT value FROM json_each(:statuses)) "
        f"AND next_attempt_at <= :now AND {_FREE} RETURNING attempts",
        {"id": digest_id, "now": iso(lease.now), "owner": lease.owner,
         "until": iso(lease.until), "statuses": json.dumps(list(statuses))}).fetchone()
    return None if row is None else int(row[0])
