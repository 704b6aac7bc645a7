"""PURE: the decisions of the nodes that share one database.

Every `monitor run` (and `monitor once`) on a database is a node: a row in the ``nodes``
table with a heartbeat. Nodes are alike; none has a role. A node polls a source only while
it holds the source's lease (``sources.lease_owner``, ``lease_until``), and sends a digest
only while it holds the delivery's lease; the commit that records the poll (or the
delivery's outcome) releases it. A node renews the leases of the work it has in hand at
each heartbeat, so a lease outlives its node by at most ``lease_timeout``: a node that dies
(SIGKILL, power loss, a lost network) leaves its sources and deliveries to the others
after that long. The singletons (scheduled digests, retention) run on the node that holds
their lock (``Store.hold_singleton``): with SQLite, the one node, always.

Two nodes must run the same sources, topics and notifiers (else which stories alert would
depend on which node polled a source): ``config_hash`` says what a node runs, and a node
whose config differs from a live node's is refused at start (``conflicts``).

This module decides (what to claim, until when, who is alive, what to forget); the store
(monitor/store/) applies the claims with the parameters given here, and monitor/node.py
runs a node.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.config import Config

DEFAULT_LEASE_TIMEOUT = timedelta(minutes=5)
HEARTBEAT = timedelta(seconds=5)        # how often a node beats, at most
FORGET_AFTER = timedelta(hours=1)       # a node silent this long leaves `monitor status`

# The work one node does for the whole cluster: each runs while its node holds the lock of
# this name. Health alerts need none: a source's incidents are written by the poll that
# holds its lease.
DIGEST_SCHEDULES = "digest-schedules"   # the notifiers' "every 30m" and cron digests
RETENTION = "retention"                 # the hourly retention pass
SINGLETONS = (DIGEST_SCHEDULES, RETENTION)


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node is: written to the ``nodes`` table when it joins."""

    id: str
    host: str
    pid: int
    started_at: datetime
    config_hash: str


@dataclass(frozen=True)
class NodeInfo:
    """A node as the ``nodes`` table shows it, with what it holds now."""

    identity: NodeIdentity
    heartbeat_at: datetime
    singletons: tuple[str, ...] = ()    # held at its last heartbeat
    sources: int = 0                    # source leases it holds, unexpired
    deliveries: int = 0                 # delivery leases it holds, unexpired

    @property
    def id(self) -> str:
        return self.identity.id


@dataclass(frozen=True)
class SourceClaim:
    """Lease to ``owner`` until ``until`` at most ``limit`` sources (None: all) that are
    still configured, whose next poll time is at or before ``due_by`` (None: whatever it
    is), and whose lease is free or ended before ``now``; the most overdue first. With
    ``names``, only sources of those names."""

    owner: str
    now: datetime
    until: datetime
    due_by: datetime | None
    limit: int | None = None
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Lease:
    """A lease taken at ``now`` by ``owner`` until ``until``: on a delivery being sent, or
    renewed on the work a node has in hand."""

    owner: str
    now: datetime
    until: datetime


@dataclass(frozen=True)
class Heartbeat:
    """A node's heartbeat: it is alive at ``at``, holds these singletons, and still works
    on these sources and deliveries (their leases renewed until ``until``)."""

    identity: NodeIdentity
    at: datetime
    until: datetime
    singletons: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    deliveries: tuple[str, ...] = ()


def config_hash(config: Config) -> str:
    """What a node runs, as 12 hex digits: a hash of its sources, topics and notifiers (the
    settings of ``[monitor]`` may differ between nodes: one machine's concurrency, say).
    Secrets are not in it: they are read from the environment, never from the file."""
    wanted = config.model_dump(mode="json", include={"sources", "topics", "notifiers"})
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def heartbeat_every(lease_timeout: timedelta) -> timedelta:
    """How often a node beats: every 5 s, or thrice per lease_timeout when that is shorter,
    so that a live node's leases never lapse between two beats."""
    return min(HEARTBEAT, lease_timeout / 3)


def lease_until(now: datetime, lease_timeout: timedelta) -> datetime:
    return now + lease_timeout


def lease_holds(until: datetime, now: datetime, lease_timeout: timedelta) -> bool:
    """Whether a lease taken until ``until``, whose claim was answered at ``now``, is still
    the node's: it lasts past the next heartbeat, which renews it. A claim answered late
    (it waited for the database through an outage) may have written a lease that has
    lapsed already, which another node may take at once: the node must not act on it."""
    return now + heartbeat_every(lease_timeout) < until


def alive(node: NodeInfo, now: datetime, lease_timeout: timedelta) -> bool:
    """A node is alive while its last heartbeat is younger than lease_timeout: after that,
    its leases have lapsed too."""
    return now - node.heartbeat_at < lease_timeout


def live_nodes(nodes: Iterable[NodeInfo], now: datetime,
               lease_timeout: timedelta) -> list[NodeInfo]:
    return [n for n in nodes if alive(n, now, lease_timeout)]


@dataclass(frozen=True)
class Workload:
    """What a node reads of the cluster at a tick, to take its share of the work: the due
    sources no node holds, and the unexpired source leases of each node at work."""

    due: int
    held: Mapping[str, int]          # node at work (`workload`) -> source leases it holds


def workload(nodes: Iterable[NodeInfo], due: int, now: datetime,
             lease_timeout: timedelta) -> Workload:
    """The work of the nodes that beat within three heartbeats: those claim their share. A
    node that stopped beating (killed) is still live until its leases lapse, but claims
    nothing meanwhile: counted, it made the others claim only a part of the due sources and
    give back what they claimed above their share, tick after tick."""
    recent = 3 * heartbeat_every(lease_timeout)
    return Workload(due, {n.id: n.sources for n in live_nodes(nodes, now, lease_timeout)
                          if now - n.heartbeat_at < recent})


def share(owner: str, work: Workload) -> int:
    """A node's share of the work of the live nodes (itself included): the sources they
    hold and the due ones no node holds, split evenly (rounded up), less what it holds."""
    nodes = len(work.held.keys() | {owner})
    return math.ceil((work.due + sum(work.held.values())) / nodes) - work.held.get(owner, 0)


def claim_due(owner: str, now: datetime, lease_timeout: timedelta, *,
              work: Workload | None) -> SourceClaim | None:
    """A node's claim of the due sources at ``now``. Alone (``work`` None: not counted), it
    claims them all. Among live nodes, a part of the due sources no node holds, so that one
    node does not take every due source while the others idle: those divided by the live
    nodes, or its `share` when that is more (it holds little). A node holding more than its
    share (it started first and claimed a whole first cycle, which waits on it for its
    hosts: see `surplus`) claims none. None when nothing is to be claimed."""
    if work is None:
        return SourceClaim(owner, now, lease_until(now, lease_timeout), now)
    nodes = len(work.held.keys() | {owner})
    limit = min(work.due, max(math.ceil(work.due / nodes), share(owner, work)))
    if limit <= 0 or surplus(owner, work):
        return None
    return SourceClaim(owner, now, lease_until(now, lease_timeout), now, limit=limit)


def surplus(owner: str, work: Workload | None) -> int:
    """How many of the sources waiting on a node it gives back for the others to claim:
    what it holds above its share, by more than a tenth of it (a node polling a little
    slower than the others would otherwise give back a few sources at every tick)."""
    if work is None:
        return 0
    above = -share(owner, work)
    held = work.held.get(owner, 0)
    return above if above > (held - above) // 10 else 0


def claim_all(owner: str, now: datetime, lease_timeout: timedelta) -> SourceClaim:
    """`monitor once`: every configured source no other node holds, due or not."""
    return SourceClaim(owner, now, lease_until(now, lease_timeout), None)


def claim_named(owner: str, now: datetime, lease_timeout: timedelta,
                names: Iterable[str]) -> SourceClaim:
    """A "poll now" of these sources: each, due or not, unless another node holds it."""
    return SourceClaim(owner, now, lease_until(now, lease_timeout), None,
                       names=tuple(sorted(names)))


def nodes_to_forget(nodes: Iterable[NodeInfo], me: str, now: datetime,
                    lease_timeout: timedelta, *, shared: bool) -> tuple[str, ...]:
    """The nodes a joining node removes from the table, their leases released: on a
    database only one process can write (``shared`` False: SQLite, whose file lock keeps a
    second daemon out), every other node, since it cannot be running; on a shared one, the
    nodes silent for FORGET_AFTER (and at least lease_timeout)."""
    if not shared:
        return tuple(n.id for n in nodes if n.id != me)
    silence = max(FORGET_AFTER, lease_timeout)
    return tuple(n.id for n in nodes if n.id != me and now - n.heartbeat_at >= silence)


def conflicts(me: NodeIdentity, others: Iterable[NodeInfo], now: datetime,
              lease_timeout: timedelta) -> list[NodeInfo]:
    """The live nodes that run another config than ``me``."""
    return [n for n in others if n.id != me.id and alive(n, now, lease_timeout)
            and n.identity.config_hash != me.config_hash]


def refusal(me: NodeIdentity, conflicting: Sequence[NodeInfo], database: str) -> str:
    """Why a node may not join: the nodes that run another config, named."""
    named = ", ".join(f"{n.identity.host} pid {n.identity.pid} (config {n.identity.config_hash})"
                      for n in conflicting[:3])
    more = f" and {len(conflicting) - 3} more" if len(conflicting) > 3 else ""
    return (f"database {database} is used by nodes running another config: {named}{more}; "
            f"this one is {me.config_hash}. Every node of a database must run the same "
            f"sources, topics and notifiers: stop the other nodes, then start every node "
            f"with the new config")
