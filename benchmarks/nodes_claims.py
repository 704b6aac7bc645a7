"""What a node's bookkeeping costs the database: claims, heartbeats, releases, the record lock.

    python benchmarks/nodes_claims.py [--sources 10000] [--postgres URL]

On a SQLite file and (with ``--postgres``, else ``$MONITOR_TEST_POSTGRES_URL``) on a new
PostgreSQL database, dropped after: ``--sources`` sources synced, then

- first cycle: every source due, two nodes each claiming its share (half) at once;
- a heartbeat renewing the leases of half the sources (a node's queue on a first cycle);
- giving half the sources back (SIGTERM with a full queue);
- steady state: next poll times spread over 15 minutes, a tick every 2 s claiming what is
  due (the nodes table read, count + claim, as Node.claim_due does with two nodes at
  work), median of 50 ticks;
- the record lock taken and given back around nothing (PostgreSQL: two round trips).

Prints one line per step and backend, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.nodes_chaos import POSTGRES_ENV, scratch_database  # noqa: E402
from monitor import cluster  # noqa: E402
from monitor.cluster import Heartbeat, NodeIdentity  # noqa: E402
from monitor.commit import sync_sources  # noqa: E402
from monitor.store import open_store  # noqa: E402
from monitor.store.base import Store  # noqa: E402

TIMEOUT = timedelta(minutes=5)


def ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def measure(store: Store, sources: int, label: str) -> None:
    now = datetime.now(UTC)
    sync_sources(store, [(f"s{i:05d}", f"https://{i}.example/rss") for i in range(sources)],
                 now)
    half = sources // 2
    a = NodeIdentity("a", "host", 1, now, "abc")
    for node in (a, replace(a, id="b", pid=2)):
        store.join(node, now)

    def claim(owner: str) -> None:
        plan = cluster.claim_due(owner, now, TIMEOUT, work=workload(store, now))
        assert plan is not None
        store.claim_sources(plan)

    print(f"{label}: first cycle, node a claims its half of {sources} due: "
          f"{ms(lambda: claim('a')):.1f} ms; node b the other half: "
          f"{ms(lambda: claim('b')):.1f} ms")
    names = tuple(f"s{i:05d}" for i in range(0, sources, 2))[:half]
    beat = Heartbeat(a, now, now + TIMEOUT, cluster.SINGLETONS, names, ())
    print(f"{label}: a heartbeat renewing {len(names)} leases: {ms(lambda: store.beat(beat)):.1f}"
          f" ms; an idle heartbeat: "
          f"{ms(lambda: store.beat(replace(beat, sources=()))):.1f} ms")
    print(f"{label}: giving back {len(names)} sources: "
          f"{ms(lambda: store.release_sources('a', list(names))):.1f} ms")
    store.forget_nodes(["a", "b"])
    steady(store, sources, now, label)
    lock_times = []
    for _ in range(200):    # as a poll takes it: on its transaction, which commits
        started = time.perf_counter()
        with store.poll_transaction() as writer:
            writer.lock_records()
        lock_times.append((time.perf_counter() - started) * 1000)
    print(f"{label}: an empty poll transaction that takes the record lock: median "
          f"{statistics.median(lock_times):.2f} ms")


def workload(store: Store, now: datetime) -> cluster.Workload:
    """What Node.claim_due reads at a tick when other nodes are at work: the nodes table
    with each node's leases, and the due sources no node holds."""
    return cluster.workload(store.nodes(now), store.count_claimable(now), now, TIMEOUT)


def steady(store: Store, sources: int, now: datetime, label: str) -> None:
    """Next polls spread over 15 minutes; ticks of 2 s each claim what came due."""
    spread = timedelta(minutes=15)
    states = [replace(s, next_poll_at=now + spread * (i / sources))
              for i, s in enumerate(sorted(store.source_states(), key=lambda s: s.name))]
    store.record_states(states)
    a = NodeIdentity("a", "host", 1, now, "abc")
    nodes = (a, replace(a, id="b", pid=2))
    times, claimed = [], 0
    tick = now
    for _ in range(50):
        tick += timedelta(seconds=2)
        for node in nodes:     # both at work (beating), holding nothing between ticks
            store.beat(Heartbeat(node, tick, tick + TIMEOUT))
        started = time.perf_counter()
        plan = cluster.claim_due("a", tick, TIMEOUT, work=workload(store, tick))
        got = store.claim_sources(plan) if plan is not None else []
        times.append((time.perf_counter() - started) * 1000)
        claimed += len(got)
        # each polled: its next poll 15 minutes on, its lease released with the state
        store.record_states([replace(s, next_poll_at=tick + spread) for s in got], "a")
    print(f"{label}: steady state, a tick's read of the nodes, count + claim "
          f"({claimed / 50:.1f} sources a tick): "
          f"median {statistics.median(times):.2f} ms, max {max(times):.2f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_ENV))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(str(Path(folder) / "m.db"))
        try:
            measure(store, args.sources, "SQLite")
        finally:
            store.close()
    if args.postgres:
        with scratch_database(args.postgres) as url:
            store = open_store(url)
            try:
                measure(store, args.sources, "PostgreSQL")
            finally:
                store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
