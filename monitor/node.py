"""This process as a node of its database: it joins, beats, claims sources, holds
singletons and leaves. The decisions are monitor/cluster.py's; the store applies them.

A node beats every few seconds (``heartbeat_every``): its row in ``nodes`` says it is
alive, which singletons it holds, and the leases of the work it has in hand (sources
being polled or waiting in its pool, deliveries being sent) are renewed. So a lease lapses
only ``lease_timeout`` after its node stopped beating: then another node takes it over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor import cluster
from monitor.cluster import Heartbeat, NodeIdentity, SourceClaim
from monitor.config import Config
from monitor.errors import ConfigError, StoreError
from monitor.store.base import Store
from monitor.types import SourceState

log = logging.getLogger("monitor.node")

Held = Callable[[], Collection[str]]


def new_identity(config: Config, now: datetime) -> NodeIdentity:
    """This process's identity as a node (a fresh id at each start)."""
    return NodeIdentity(uuid.uuid4().hex[:12], socket.gethostname(), os.getpid(), now,
                        cluster.config_hash(config))


class Node:
    """This process in its database's cluster. Thread-safe."""

    def __init__(self, store: Store, identity: NodeIdentity, lease_timeout: timedelta,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.identity = identity
        self.lease_timeout = lease_timeout
        self.clock = clock
        self._live = 1                # live nodes at the last heartbeat, this one included
        self.surplus = 0              # sources held above its share at the last claim
        self._sources: Held = frozenset
        self._deliveries: Held = frozenset
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def id(self) -> str:
        return self.identity.id

    def join(self, database: str) -> None:
        """Enter the nodes table. Nodes known gone are forgotten first, their leases
        released; a node running another config than a live one is refused (ConfigError,
        and this node leaves again)."""
        now = self.clock()
        self.store.forget_nodes(cluster.nodes_to_forget(
            self.store.nodes(now), self.id, now, self.lease_timeout, shared=self.store.shared))
        others = self.store.join(self.identity, now)
        conflicting = cluster.conflicts(self.identity, others, now, self.lease_timeout)
        if conflicting:
            self.store.forget_nodes([self.id])
            raise ConfigError(cluster.refusal(self.identity, conflicting, database))
        self._live = 1 + len(cluster.live_nodes(others, now, self.lease_timeout))
        if self.store.shared:
            log.info("node %s (%s pid %d, config %s) joined %d other live node(s)", self.id,
                     self.identity.host, self.identity.pid, self.identity.config_hash,
                     self._live - 1)

    def start(self, sources: Held, deliveries: Held = frozenset) -> None:
        """Beat in a thread of its own until `leave`; ``sources`` and ``deliveries`` say
        what the node has in hand at each beat (their leases are renewed). Started again
        (another `monitor once`-style round in the same process), the one thread beats
        for the new ``sources``: one more thread each time would each renew and write."""
        self._sources, self._deliveries = sources, deliveries
        if self._thread is not None and self._thread.is_alive():
            return
        every = cluster.heartbeat_every(self.lease_timeout).total_seconds()

        def run() -> None:
            while not self._stopping.wait(every):
                self.beat()

        self._thread = threading.Thread(target=run, name="heartbeat", daemon=True)
        self._thread.start()

    def beat(self) -> None:
        """One heartbeat; a database that does not answer is logged, and tried again at the
        next beat (past lease_timeout, this node's leases lapse and others take over)."""
        now = self.clock()
        try:
            held = tuple(name for name in cluster.SINGLETONS if self.store.hold_singleton(name))
            self.store.beat(Heartbeat(self.identity, now,
                                      cluster.lease_until(now, self.lease_timeout), held,
                                      tuple(self._sources()), tuple(self._deliveries())))
            live = len(cluster.live_nodes(self.store.nodes(now), now, self.lease_timeout))
        except StoreError as exc:
            log.warning("node %s: heartbeat not recorded: %s", self.id, exc)
            return
        if max(live, 1) != self._live:
            log.info("node %s: %d live node(s) share the work", self.id, max(live, 1))
        self._live = max(live, 1)

    def holds(self, singleton: str) -> bool:
        """Whether this node runs the singleton now (taking it when free)."""
        try:
            return self.store.hold_singleton(singleton)
        except StoreError as exc:
            log.warning("node %s: cannot tell whether it holds %s: %s", self.id, singleton,
                        exc)
            return False

    def claim_due(self, now: datetime) -> list[SourceState]:
        """Lease this node's share of the sources due at ``now`` that no node holds (and
        say in `surplus` how many of those it holds it should give back); none while the
        database does not answer (logged; the next tick tries again)."""
        self.surplus = 0
        try:
            work = self._workload(now)
            claim = cluster.claim_due(self.id, now, self.lease_timeout, work=work)
            self.surplus = cluster.surplus(self.id, work)
            return self._claimed(claim) if claim is not None else []
        except StoreError as exc:
            log.warning("node %s: no source claimed: %s", self.id, exc)
            return []

    def _workload(self, now: datetime) -> cluster.Workload | None:
        """The cluster's work as the nodes table says it now (read at every tick: nodes
        that started together must see each other at once); None while this node is the
        only live one."""
        if not self.store.shared:
            return None
        work = cluster.workload(self.store.nodes(now), 0, now, self.lease_timeout)
        if not work.held.keys() - {self.id}:
            return None
        return replace(work, due=self.store.count_claimable(now))

    def claim_all(self) -> list[SourceState]:
        """Lease every configured source no other node holds, due or not (`monitor once`)."""
        return self._claimed(cluster.claim_all(self.id, self.clock(), self.lease_timeout))

    def claim_named(self, now: datetime, names: Collection[str]) -> list[SourceState]:
        """Lease these sources, due or not, unless another node holds them (a "poll now");
        none while the database does not answer."""
        if not names:
            return []
        try:
            return self._claimed(cluster.claim_named(self.id, now, self.lease_timeout, names))
        except StoreError as exc:
            log.warning("node %s: no source claimed: %s", self.id, exc)
            return []

    def _claimed(self, claim: SourceClaim) -> list[SourceState]:
        """The sources the store leased to this node for ``claim``; none when the answer
        came too late for the leases to hold (cluster.lease_holds): those still this node's
        are given back at once, and the others are another node's already."""
        states = self.store.claim_sources(claim)
        answered = self.clock()
        if not states or cluster.lease_holds(claim.until, answered, self.lease_timeout):
            return states
        log.warning("node %s: %d source(s) claimed %.1fs after the claim was made, too late "
                    "for their leases (lease_timeout %s): given back, not polled", self.id,
                    len(states), (answered - claim.now).total_seconds(), self.lease_timeout)
        self.release([s.name for s in states])
        return []

    def release(self, names: Sequence[str]) -> None:
        """Give back sources this node claimed and will not poll now; a database that does
        not answer leaves their leases to lapse."""
        try:
            self.store.release_sources(self.id, names)
        except StoreError as exc:
            log.warning("node %s: %d source lease(s) not released (they lapse after "
                        "lease_timeout): %s", self.id, len(names), exc)

    def leave(self) -> None:
        """Stop beating, release every lease this node holds and leave the nodes table."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.store.forget_nodes([self.id])
        except StoreError as exc:
            log.warning("node %s: leases not released (they lapse after lease_timeout): %s",
                        self.id, exc)
