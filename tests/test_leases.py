"""The store's side of nodes: claiming, renewing, releasing and lapsing leases on sources
and deliveries, the nodes table, singletons and the record lock (monitor/cluster.py
decides, the store applies). On each backend: a SQLite file and a PostgreSQL database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from monitor import cluster
from monitor.cluster import Heartbeat, Lease, NodeIdentity, SourceClaim
from monitor.commit import commit_poll, sync_sources
from monitor.errors import StoreError
from monitor.outbox import DUE_STATUSES
from monitor.store import open_store
from monitor.store.base import Store
from monitor.types import Digest, PollRecord
from tests.fakes import postgres_database, temp_store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=5)
SOURCES = [(f"s{i}", f"https://{i}.example/rss") for i in range(6)]


@pytest.fixture
def store(tmp_path: Path, database: str) -> Iterator[Store]:
    opened = temp_store(tmp_path, SOURCES, NOW, database=database)
    try:
        yield opened
    finally:
        opened.close()


def claim(owner: str, now: datetime = NOW, limit: int | None = None,
          due_or_not: bool = False) -> SourceClaim:
    return SourceClaim(owner, now, now + TIMEOUT, None if due_or_not else now, limit)


def names(states: list) -> list[str]:
    return sorted(s.name for s in states)


def identity(node_id: str, config_hash: str = "abc") -> NodeIdentity:
    return NodeIdentity(node_id, "host", 42, NOW, config_hash)


def test_a_claimed_source_is_not_claimed_again_until_its_lease_lapses(store: Store) -> None:
    assert names(store.claim_sources(claim("a", limit=2))) == ["s0", "s1"]
    assert names(store.claim_sources(claim("b"))) == ["s2", "s3", "s4", "s5"]
    assert store.claim_sources(claim("c")) == []
    assert store.count_claimable(NOW) == 0
    # a's lease lapses (a died): another node takes its sources over; b's are still held
    later = NOW + TIMEOUT - timedelta(seconds=1)
    assert store.claim_sources(claim("c", later)) == []
    after = NOW + TIMEOUT + timedelta(seconds=1)
    assert store.count_claimable(after) == 6
    assert names(store.claim_sources(claim("c", after, limit=2))) == ["s0", "s1"]


def test_the_claim_returns_the_stored_states_and_takes_the_most_overdue_first(
        store: Store) -> None:
    state = replace(store.source_state("s3"), next_poll_at=NOW - timedelta(hours=1),
                    etag='"v9"')
    store.record_states([state])
    store.record_states([replace(store.source_state("s0"), next_poll_at=NOW + TIMEOUT)])
    claimed = store.claim_sources(claim("a", limit=1))
    assert claimed == [state]
    assert "s0" not in names(store.claim_sources(claim("a")))   # not due yet
    # monitor once: due or not
    assert names(store.claim_sources(claim("b", due_or_not=True))) == ["s0"]


def test_a_poll_commit_releases_the_lease_of_its_node(store: Store) -> None:
    (state,) = store.claim_sources(claim("a", limit=1))
    polled = replace(state, next_poll_at=NOW + timedelta(minutes=15), last_status="ok")
    commit_poll(store, PollRecord(polled), {}, NOW, owner="a")
    assert store.count_claimable(NOW + timedelta(minutes=16)) == 6
    claimed = store.claim_sources(claim("b", NOW + timedelta(minutes=16)))
    assert [s for s in claimed if s.name == state.name] == [polled]


def test_a_node_whose_lease_was_taken_over_records_nothing(store: Store) -> None:
    (state,) = store.claim_sources(claim("a", limit=1))
    after = NOW + TIMEOUT + timedelta(seconds=1)
    assert names(store.claim_sources(claim("b", after, limit=1))) == [state.name]
    late = replace(state, last_status="ok", items_seen=45)
    with pytest.raises(StoreError, match="leased to another node"):
        commit_poll(store, PollRecord(late), {}, after, owner="a")
    assert store.source_state(state.name) == state
    # the batch of unchanged polls skips it too, and writes the others
    other = replace(store.source_state("s5"), last_status="not_modified")
    store.record_states([late, other], owner="a")
    assert store.source_state(state.name) == state
    assert store.source_state("s5") == other
    # b, which holds it, records its poll
    commit_poll(store, PollRecord(replace(state, last_status="ok")), {}, after, owner="b")
    assert store.source_state(state.name).last_status == "ok"


def test_released_and_retired_sources(store: Store) -> None:
    store.claim_sources(claim("a", limit=3))
    store.release_sources("b", ["s0"])          # not b's: nothing happens
    assert store.count_claimable(NOW) == 3
    store.release_sources("a", ["s0", "s1"])
    assert names(store.claim_sources(claim("b"))) == ["s0", "s1", "s3", "s4", "s5"]
    # a source gone from the config is never claimed; back in it, it is
    sync_sources(store, SOURCES[:5], NOW)
    assert store.retired_sources() == {"s5"}
    assert "s5" not in names(store.claim_sources(claim("c", NOW + 2 * TIMEOUT)))
    sync_sources(store, SOURCES, NOW)
    assert store.retired_sources() == frozenset()
    assert names(store.claim_sources(claim("d", NOW + 4 * TIMEOUT, limit=None))) == [
        "s0", "s1", "s2", "s3", "s4", "s5"]


def test_a_heartbeat_renews_the_leases_of_the_work_in_hand_only(store: Store) -> None:
    store.join(identity("a"), NOW)
    store.claim_sources(claim("a", limit=3))                    # s0 s1 s2
    later = NOW + timedelta(minutes=4)
    store.beat(Heartbeat(identity("a"), later, later + TIMEOUT, singletons=("retention",),
                         sources=("s0", "s1", "s3")))           # s3 is not a's
    lapsed = NOW + TIMEOUT + timedelta(seconds=1)
    assert names(store.claim_sources(claim("b", lapsed))) == ["s2", "s3", "s4", "s5"]
    (a,) = [n for n in store.nodes(lapsed) if n.id == "a"]
    assert (a.heartbeat_at, a.singletons, a.sources) == (later, ("retention",), 2)


def test_joining_shows_the_nodes_there_and_forgetting_a_node_releases_its_leases(
        store: Store) -> None:
    assert store.join(identity("a"), NOW) == []
    (seen,) = store.join(identity("b", "def"), NOW + timedelta(seconds=1))
    assert (seen.id, seen.identity.config_hash, seen.heartbeat_at) == ("a", "abc", NOW)
    store.claim_sources(claim("a", limit=2))
    assert [(n.id, n.sources) for n in store.nodes(NOW)] == [("a", 2), ("b", 0)]
    store.forget_nodes(["a"])
    assert [n.id for n in store.nodes(NOW)] == ["b"]
    assert store.count_claimable(NOW) == 6


def delivery(store: Store, digest_id: str = "d1") -> Digest:
    digest = Digest(id=digest_id, notifier="hook", created_at=NOW, stories=(), kind="health",
                    text="Desk is failing.")
    store.add_delivery(digest, NOW)
    return digest


def test_a_delivery_is_sent_by_one_node_and_left_to_another_after_its_lease_lapses(
        store: Store) -> None:
    delivery(store)
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("a", NOW, NOW + TIMEOUT)) == 1
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("b", NOW, NOW + TIMEOUT)) is None
    assert store.due_deliveries("hook", DUE_STATUSES, NOW + timedelta(seconds=30)) == []
    # a died while sending: after the lease, b resends it (the same digest, the same id)
    after = NOW + TIMEOUT + timedelta(seconds=1)
    assert [d.id for d in store.due_deliveries("hook", DUE_STATUSES, after)] == ["d1"]
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("b", after, after + TIMEOUT)) == 2
    store.mark_delivered("d1", after)
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("c", after, after + TIMEOUT)) is None
    # a's late failure does not undo b's delivery
    store.mark_failed("d1", "timed out", after, after + timedelta(seconds=30))
    assert store.delivery_rows(("delivered",))[0]["id"] == "d1"


def test_a_failed_delivery_releases_its_lease_and_waits_for_its_retry_time(
        store: Store) -> None:
    delivery(store)
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("a", NOW, NOW + TIMEOUT)) == 1
    retry = NOW + timedelta(seconds=30)
    store.mark_failed("d1", "HTTP 503", NOW, retry)
    # backoff: not before its retry time
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("b", NOW, NOW + TIMEOUT)) is None
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("b", retry, retry + TIMEOUT)) == 2


def test_forgetting_a_node_releases_the_delivery_it_was_sending(store: Store) -> None:
    delivery(store)
    store.join(identity("a"), NOW)
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("a", NOW, NOW + TIMEOUT)) == 1
    assert [n.deliveries for n in store.nodes(NOW)] == [1]
    store.forget_nodes(["a"])
    assert [d.id for d in store.due_deliveries("hook", DUE_STATUSES, NOW)] == ["d1"]


def test_a_database_one_process_writes_holds_every_singleton(tmp_path: Path) -> None:
    store = temp_store(tmp_path)
    try:
        assert not store.shared
        assert all(store.hold_singleton(name) for name in cluster.SINGLETONS)
    finally:
        store.close()


def test_on_postgresql_one_process_holds_a_singleton_until_it_closes(postgres: str) -> None:
    first, second = open_store(postgres), open_store(postgres)
    try:
        assert first.shared
        assert first.hold_singleton(cluster.RETENTION)
        assert not second.hold_singleton(cluster.RETENTION)
        assert second.hold_singleton(cluster.DIGEST_SCHEDULES)      # each its own lock
        assert first.hold_singleton(cluster.RETENTION)              # still its own
        first.close()                                               # the process ends
        assert second.hold_singleton(cluster.RETENTION)
    finally:
        second.close()


def test_on_postgresql_a_singleton_lost_with_its_connection_goes_to_another(
        postgres: str) -> None:
    first, second = open_store(postgres), open_store(postgres)
    try:
        assert first.hold_singleton(cluster.RETENTION)
        with psycopg.connect(postgres, autocommit=True) as admin:   # every other session,
            admin.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                          "WHERE datname = current_database() "        # waiting till gone
                          "AND pid <> pg_backend_pid()")
        assert second.hold_singleton(cluster.RETENTION)
        assert not first.hold_singleton(cluster.RETENTION)          # connected anew: lost
    finally:
        first.close()
        second.close()


def test_on_postgresql_the_record_lock_lets_one_process_in_at_a_time(postgres: str) -> None:
    first, second = open_store(postgres), open_store(postgres)
    entered = threading.Event()

    def wait_for_it() -> None:
        with second.record_lock():
            entered.set()

    try:
        with first.record_lock():
            waiting = threading.Thread(target=wait_for_it)
            waiting.start()
            assert not entered.wait(0.5)      # the other process waits while it is held
        assert entered.wait(5)
        waiting.join(5)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("collation", ["server's default", "icu en-US"])
@pytest.mark.parametrize("work", ["heartbeat", "batch of states"])
def test_on_postgresql_many_source_rows_are_locked_in_name_order(work: str,
                                                                 collation: str) -> None:
    """A node's heartbeat renews the leases of every source it holds (thousands, while they
    wait for their hosts) as its batch of unchanged polls writes their states in the order
    the polls ended. Taking the rows' locks in other orders, the two deadlocked: the server
    killed one, and a lost batch left its sources leased and unpolled until the leases
    lapsed (a 10,000-source cycle took 5 minutes longer). Both lock in name order: here,
    with the rows stored in the reverse order and the list given reversed, each holds the
    rows before the tenth while it waits for it. In code-point order, whatever the
    database's collation (en-US puts "b01" before "C02"; Python after)."""
    with postgres_database(None if collation == "server's default" else "en-US") as url:
        locked_in_name_order(url, work)


def locked_in_name_order(postgres: str, work: str) -> None:
    many = [(f"{'aB'[i % 2]}{i:02d}", f"https://{i}.example/rss") for i in range(20)]
    ordered = sorted(name for name, _ in many)
    store = temp_store(Path("."), many, NOW, database=postgres)
    try:
        store.join(identity("a"), NOW)
        states = sorted(store.claim_sources(claim("a")), key=lambda s: s.name, reverse=True)
        with psycopg.connect(postgres, autocommit=True) as admin:   # rows stored in reverse order
            for state in states:
                admin.execute("UPDATE sources SET items_seen = 1 WHERE name = %s",
                              (state.name,))
        later = NOW + timedelta(minutes=1)
        if work == "heartbeat":
            def job() -> None:
                store.beat(Heartbeat(identity("a"), later, later + TIMEOUT,
                                     sources=tuple(s.name for s in states)))
        else:
            def job() -> None:
                store.record_states([replace(s, last_status="not_modified")
                                     for s in states], owner="a")
        failures: list[BaseException] = []

        def guarded() -> None:
            try:
                job()
            except BaseException as exc:
                failures.append(exc)

        with psycopg.connect(postgres) as blocker:      # holds the tenth until released
            blocker.execute("SELECT 1 FROM sources WHERE name = %s FOR UPDATE",
                            (ordered[10],))
            thread = threading.Thread(target=guarded)
            thread.start()
            try:
                assert held_while_waiting(postgres) == ordered[:11]
            finally:
                blocker.rollback()
                thread.join(30)
        assert failures == []
    finally:
        store.close()


def held_while_waiting(url: str) -> list[str]:
    """Once another session waits for a row lock: the source rows locked (by any session),
    read with SKIP LOCKED."""
    with psycopg.connect(url, autocommit=True) as watcher:
        for _ in range(500):
            (waiting,) = watcher.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'").fetchone()
            if waiting:
                with watcher.transaction():
                    free = {name for (name,) in watcher.execute(
                        "SELECT name FROM sources FOR UPDATE SKIP LOCKED")}
                    every = {name for (name,) in watcher.execute("SELECT name FROM sources")}
                return sorted(every - free)     # in code-point order
            threading.Event().wait(0.01)
    raise AssertionError("no session waited for a row lock")
