"""A process as a node of its database (monitor/node.py, the daemon's claims): joining,
refusing another config, what `monitor status` shows, releasing leases at stop, a delivery
another node is sending. Real SQLite files and a loopback server; the PostgreSQL cluster
of several `monitor run` processes is tests/test_nodes_postgres.py."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor import cluster
from monitor.app import App, build_app
from monitor.cli import main
from monitor.cluster import Lease, NodeIdentity
from monitor.config import load_config, load_config_data
from monitor.deliver import Deliverer
from monitor.errors import ConfigError
from monitor.node import Node
from monitor.outbox import DUE_STATUSES
from monitor.scheduler import Daemon
from monitor.store import open_store
from monitor.types import Digest
from tests.fakes import FixedClock, RecordingNotifier, temp_store
from tests.loopback import LoopbackHTTPServer, RecordedRequest, Response

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=5)
FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>'
        b"<item><title>Weather turns cold in the north</title>"
        b"<link>https://desk.example/1</link><guid>1</guid></item></channel></rss>")


def identity(node_id: str, config_hash: str) -> NodeIdentity:
    return NodeIdentity(node_id, "host", 7, NOW, config_hash)


def test_a_node_running_another_config_than_a_live_node_is_refused(postgres: str) -> None:
    clock = FixedClock(NOW)
    first_store, second_store = open_store(postgres), open_store(postgres)
    try:
        Node(first_store, identity("a", "abc"), TIMEOUT, clock).join("db")
        other = Node(second_store, identity("b", "def"), TIMEOUT, clock)
        with pytest.raises(ConfigError, match=r"nodes running another config: host pid 7 "
                                              r"\(config abc\); this one is def"):
            other.join("db")
        assert [n.id for n in second_store.nodes(NOW)] == ["a"]      # b left again
        Node(second_store, identity("c", "abc"), TIMEOUT, clock).join("db")   # same: in
        # once the other config's nodes stopped beating, a new config may start
        clock.advance(TIMEOUT)
        Node(second_store, identity("d", "def"), TIMEOUT, clock).join("db")
    finally:
        first_store.close()
        second_store.close()


def test_on_sqlite_a_joining_node_forgets_a_crashed_one_and_its_leases(tmp_path: Path) -> None:
    store = temp_store(tmp_path, [("a", "https://a.example/rss")], NOW)
    crashed = Node(store, identity("crashed", "abc"), TIMEOUT, FixedClock(NOW))
    crashed.join("db")
    assert [s.name for s in crashed.claim_due(NOW)] == ["a"]
    store.add_delivery(Digest("d1", "hook", NOW, (), kind="health", text="x"), NOW)
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("crashed", NOW, NOW + TIMEOUT)) == 1
    # the daemon restarted after a SIGKILL, with another config: nothing waits for a lease
    restarted = Node(store, identity("new", "def"), TIMEOUT, FixedClock(NOW))
    restarted.join("db")
    assert [n.id for n in store.nodes(NOW)] == ["new"]
    assert [s.name for s in restarted.claim_due(NOW)] == ["a"]
    assert [d.id for d in store.due_deliveries("hook", DUE_STATUSES, NOW)] == ["d1"]


def write_config(tmp_path: Path, server: LoopbackHTTPServer, sources: int = 2,
                 **monitor: object) -> Path:
    path = tmp_path / "monitor.toml"
    settings = {"database": str(tmp_path / "m.db"), "min_host_interval": "0s", **monitor}
    lines = ["[monitor]", *(f"{k} = {json.dumps(v)}" for k, v in settings.items()),
             "[[topics]]", 'name = "t"', 'event = "recognition"',
             "[[notifiers]]", 'name = "log"', 'type = "file"',
             f"path = {json.dumps(str(tmp_path / 'digests.log'))}"]
    for i in range(sources):
        lines += ["[[sources]]", f'name = "s{i}"', f'url = "{server.url(f"/{i}.xml")}"']
    path.write_text("\n".join(lines) + "\n")
    return path


def test_monitor_status_lists_the_nodes_their_heartbeat_and_what_they_hold(
        tmp_path: Path, fresh_server: LoopbackHTTPServer, database: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path, fresh_server, database=database)
    app = build_app(load_config(path))
    try:
        claimed = app.node.claim_due(app.clock())
        app.node.start(lambda: {s.name for s in claimed})
        app.node.beat()
        assert main(["status", "-c", str(path)]) == 0
        text = capsys.readouterr().out
        header, row = text.splitlines()[-3:-1]     # the database's line comes last
        assert header.split() == ["NODE", "HOST", "PID", "STARTED", "HEARTBEAT", "CONFIG",
                                  "HOLDS"]
        assert row.startswith(app.node.id)
        assert ("2 sources, 0 deliveries, digest-schedules, retention" in row
                and "s ago" in row and app.node.identity.config_hash in row)
        assert main(["status", "--json", "-c", str(path)]) == 0
        (node,) = json.loads(capsys.readouterr().out)["nodes"]
        assert node["id"] == app.node.id and node["alive"] is True
        assert (node["sources"], node["deliveries"]) == (2, 0)
        assert node["singletons"] == list(cluster.SINGLETONS)
        assert set(node) == {"id", "host", "pid", "started_at", "heartbeat_at", "alive",
                             "config_hash", "sources", "deliveries", "singletons"}
    finally:
        app.close()
    assert main(["status", "-c", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-2] == "nodes: none running"


def leases(app: App) -> dict[str, str | None]:
    db = sqlite3.connect(app.config.monitor.database)
    try:
        return dict(db.execute("SELECT name, lease_owner FROM sources ORDER BY name"))
    finally:
        db.close()


def test_stopping_gives_back_at_once_the_sources_claimed_and_not_started(
        tmp_path: Path, fresh_server: LoopbackHTTPServer) -> None:
    answer = threading.Event()
    asked = threading.Event()

    def slow(request: RecordedRequest) -> Response:
        asked.set()
        answer.wait(10)
        return Response(body=FEED)

    fresh_server.route("/0.xml", slow)
    fresh_server.route("/1.xml", slow)
    app = build_app(load_config(write_config(tmp_path, fresh_server,
                                                       max_concurrency=1)))
    daemon = Daemon(app)
    try:
        daemon.start()                       # its first tick: s0 polled, s1 waits for the worker
        assert asked.wait(5)
        assert set(leases(app).values()) == {app.node.id}
        stopped = threading.Thread(target=daemon.stop, kwargs={"grace": 10.0})
        stopped.start()
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while leases(app)["s1"] is not None and datetime.now(UTC) < deadline:
            answer.wait(0.02)
        held = leases(app)
        assert held["s1"] is None            # given back while s0's poll still runs
        assert held["s0"] == app.node.id
        answer.set()
        stopped.join(10)
        assert leases(app) == {"s0": None, "s1": None}   # s0's commit released it
    finally:
        answer.set()
        app.close()


def test_a_delivery_another_node_is_sending_is_left_to_it(tmp_path: Path) -> None:
    store = temp_store(tmp_path)
    store.add_delivery(Digest("d1", "hook", NOW, (), kind="health", text="x"), NOW)
    store.add_delivery(Digest("d2", "hook", NOW, (), kind="health", text="y"), NOW)
    assert store.claim_delivery("d1", DUE_STATUSES, Lease("other", NOW, NOW + TIMEOUT)) == 1
    notifier = RecordingNotifier("hook")
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}],
                               "notifiers": [{"name": "hook", "type": "file",
                                              "path": str(tmp_path / "d.log")}]})
    deliverer = Deliverer(store, {"hook": notifier}, {"hook": config.notifiers[0]},
                          FixedClock(NOW), owner="me", lease_timeout=TIMEOUT)
    outcome = deliverer.flush("hook", make_digest=False)
    assert [d.id for d in notifier.sent] == ["d2"] and outcome.sent == 1
    assert deliverer.sending() == frozenset()


def test_the_status_page_names_each_node_and_what_it_holds() -> None:
    from monitor.cluster import NodeInfo as ClusterNode
    from monitor.web.views import node_list

    live = ClusterNode(identity("a1b2", "abc"), NOW - timedelta(seconds=3), ("retention",),
                       sources=12)
    lost = ClusterNode(identity("c3d4", "abc"), NOW - timedelta(minutes=6), sources=1)
    rows = node_list([live, lost], NOW, TIMEOUT)
    assert [(r.name, r.last_seen, r.detail) for r in rows] == [
        ("a1b2 (host pid 7)", NOW - timedelta(seconds=3), "12 sources leased, retention"),
        ("c3d4 (host pid 7)", NOW - timedelta(minutes=6), "lost, 1 source leased")]


def test_monitor_once_leaves_a_source_another_node_is_polling(
        tmp_path: Path, fresh_server: LoopbackHTTPServer, postgres: str) -> None:
    fresh_server.route("/0.xml", Response(body=FEED))
    fresh_server.route("/1.xml", Response(body=FEED.replace(b"<guid>1", b"<guid>2")))
    path = write_config(tmp_path, fresh_server, database=postgres)
    running = build_app(load_config(path))          # a node of the cluster, polling s0
    try:
        assert [s.name for s in running.node.claim_named(running.clock(), ["s0"])] == ["s0"]
        assert main(["once", "-c", str(path)]) == 0
        assert fresh_server.requests_to("/0.xml") == []
        assert len(fresh_server.requests_to("/1.xml")) == 1
    finally:
        running.close()


class LateAnswers:
    """A store whose source and delivery claims are answered ``late`` after they were
    asked (the database was unreachable while the claim waited for a connection): the
    clock moves on meanwhile."""

    def __init__(self, store: object, clock: FixedClock, late: timedelta) -> None:
        self.store, self.clock, self.late = store, clock, late

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def claim_sources(self, claim: object) -> object:
        self.clock.advance(self.late)
        return self.store.claim_sources(claim)  # type: ignore[attr-defined]

    def claim_delivery(self, *args: object) -> object:
        self.clock.advance(self.late)
        return self.store.claim_delivery(*args)  # type: ignore[attr-defined]


def test_a_claim_answered_after_its_lease_lapsed_is_given_back_unpolled(
        tmp_path: Path) -> None:
    """After an outage longer than lease_timeout the claim a node sent before it is
    answered with leases that lapsed already: another node may claim the same sources at
    once (two polls of one source, seen by benchmarks/nodes_chaos.py --only restart with a
    40 s outage). The late node polls none of them and gives back those still its own."""
    store = temp_store(tmp_path, [("a", "https://a.example/rss")], NOW)
    clock = FixedClock(NOW)
    late = Node(LateAnswers(store, clock, TIMEOUT), identity("late", "abc"),  # type: ignore[arg-type]
                TIMEOUT, clock)
    assert late.claim_due(NOW) == []
    assert late.claim_named(NOW, ["a"]) == []
    other = Node(store, identity("other", "abc"), TIMEOUT, clock)
    assert [s.name for s in other.claim_due(clock())] == ["a"]


def test_a_claim_answered_a_little_late_still_holds(tmp_path: Path) -> None:
    store = temp_store(tmp_path, [("a", "https://a.example/rss")], NOW)
    clock = FixedClock(NOW)
    node = Node(LateAnswers(store, clock, TIMEOUT / 2), identity("n", "abc"),  # type: ignore[arg-type]
                TIMEOUT, clock)
    assert [s.name for s in node.claim_due(NOW)] == ["a"]


def test_a_delivery_claimed_after_its_lease_lapsed_is_not_sent(tmp_path: Path) -> None:
    store = temp_store(tmp_path)
    store.add_delivery(Digest("d1", "hook", NOW, (), kind="health", text="x"), NOW)
    config = load_config_data({"topics": [{"name": "t", "event": "recognition"}],
                               "notifiers": [{"name": "hook", "type": "file",
                                              "path": str(tmp_path / "d.log")}]})
    clock = FixedClock(NOW)
    late_notifier, notifier = RecordingNotifier("hook"), RecordingNotifier("hook")
    late = Deliverer(LateAnswers(store, clock, TIMEOUT), {"hook": late_notifier},  # type: ignore[arg-type]
                     {"hook": config.notifiers[0]}, clock, owner="late", lease_timeout=TIMEOUT)
    late.flush("hook", make_digest=False)
    assert late_notifier.sent == [] and late.sending() == frozenset()
    clock.advance(timedelta(seconds=1))      # the lapsed lease is free to the other node
    other = Deliverer(store, {"hook": notifier}, {"hook": config.notifiers[0]}, clock,
                      owner="other", lease_timeout=TIMEOUT)
    other.flush("hook", make_digest=False)
    assert [d.id for d in notifier.sent] == ["d1"]


class Terminated(Exception):
    """SIGTERM reached a handler of the test's: the command had none of its own yet."""


def test_sigterm_while_the_node_starts_stops_it_cleanly_once_started(
        tmp_path: Path, fresh_server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM right after the node joined (a service manager stopping it as it starts;
    nodes_chaos.py saw a node end by the signal, status -15, its row left behind) is kept
    until the daemon is built, which then stops at once and leaves the nodes table."""
    import os
    import signal

    import monitor.cli

    def raise_terminated(_signum: int, _frame: object) -> None:
        raise Terminated

    built: list[App] = []

    def build_then_terminated(*args: object, **kwargs: object) -> App:
        app = build_app(*args, **kwargs)  # type: ignore[arg-type]
        built.append(app)
        os.kill(os.getpid(), signal.SIGTERM)
        return app

    path = write_config(tmp_path, fresh_server, sources=1)
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    monkeypatch.setattr(monitor.cli, "build_app", build_then_terminated)
    try:
        assert main(["run", "-c", str(path)]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    db = sqlite3.connect(tmp_path / "m.db")
    try:
        assert db.execute("SELECT COUNT(*) FROM nodes").fetchone()[0] == 0
    finally:
        db.close()


def one_full_host(tmp_path: Path, server: LoopbackHTTPServer, monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[App, list[str], threading.Event]:
    """An app of three sources on one loopback host with max_per_host = 1, whose answers
    wait for the event; the paths asked, in order. Its daemon ticks once (at its start)."""
    monkeypatch.setattr("monitor.scheduler.TICK_SECONDS", 3600.0)
    answer = threading.Event()
    asked: list[str] = []

    def slow(request: RecordedRequest) -> Response:
        asked.append(request.path)
        answer.wait(10)
        return Response(body=FEED)

    for i in range(3):
        server.route(f"/{i}.xml", slow)
    app = build_app(load_config(write_config(tmp_path, server, sources=3, max_per_host=1)))
    return app, asked, answer


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=seconds)
    while not condition() and datetime.now(UTC) < deadline:
        threading.Event().wait(0.02)


def test_sources_waiting_for_their_host_stay_claimed_and_follow_one_another(
        tmp_path: Path, fresh_server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Three sources on one host, max_per_host = 1, one tick only: the two that wait for
    the host are kept (their leases this node's, not given back to be claimed again at every
    tick: with 10,000 sources that churn made each tick rewrite every lease) and each is
    polled as soon as the one before it ends, without waiting for a tick."""
    app, asked, answer = one_full_host(tmp_path, fresh_server, monkeypatch)
    released: list[str] = []
    release = app.node.release

    def recording_release(names: Sequence[str]) -> None:
        released.extend(names)
        release(names)

    monkeypatch.setattr(app.node, "release", recording_release)
    daemon = Daemon(app)
    try:
        daemon.start()
        wait_until(lambda: bool(asked))
        assert len(asked) == 1
        assert set(leases(app).values()) == {app.node.id}     # all three claimed
        assert released == []                                 # none given back
        answer.set()
        wait_until(lambda: all(s.last_fetch_at for s in app.store.source_states()))
        assert sorted(asked) == ["/0.xml", "/1.xml", "/2.xml"]
        assert fresh_server.max_in_flight == 1
    finally:
        answer.set()
        daemon.stop()
        app.close()
    assert released == []


def test_on_postgresql_a_node_that_claimed_every_source_first_shares_them(
        postgres: str) -> None:
    """Two nodes started together: the first one's first tick claims all ten sources (it
    is alone), which then wait on it for their hosts. The second claims none of them; the
    first, seeing it, gives back what it holds above its share, which the second claims."""
    store = temp_store(Path("."), [(f"s{i}", f"https://{i}.example/rss") for i in range(10)],
                       NOW, database=postgres)
    other_store = open_store(postgres)
    clock = FixedClock(NOW)
    try:
        first = Node(store, identity("first", "abc"), TIMEOUT, clock)
        first.join("db")
        assert len(first.claim_due(NOW)) == 10 and first.surplus == 0
        second = Node(other_store, identity("second", "abc"), TIMEOUT, clock)
        second.join("db")
        assert second.claim_due(NOW) == [] and second.surplus == 0
        assert first.claim_due(NOW) == [] and first.surplus == 5
        store.release_sources("first", ["s9", "s8", "s7", "s6", "s5"])
        assert sorted(s.name for s in second.claim_due(NOW)) == ["s5", "s6", "s7", "s8", "s9"]
        assert first.claim_due(NOW) == [] and first.surplus == 0
    finally:
        store.close()
        other_store.close()


def test_a_poll_now_waiting_for_its_host_goes_first(
        tmp_path: Path, fresh_server: LoopbackHTTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Three sources on one full host (max_per_host = 1), s2 asked for ("poll now"): it
    waits at the head of the host's queue, polled next (and given back last, should the
    node hold more than its share)."""
    app, asked, answer = one_full_host(tmp_path, fresh_server, monkeypatch)
    daemon = Daemon(app)
    try:
        assert daemon.poll_now("s2")
        daemon.start()
        wait_until(lambda: bool(asked))
        answer.set()
        wait_until(lambda: len(asked) == 3)
        assert asked == ["/0.xml", "/2.xml", "/1.xml"]
    finally:
        answer.set()
        daemon.stop()
        app.close()


def test_a_node_started_again_beats_in_one_thread_for_what_it_holds_now(
        tmp_path: Path) -> None:
    store = temp_store(tmp_path, [("a", "https://a.example/rss")], NOW)
    node = Node(store, identity("n", "abc"), TIMEOUT, FixedClock(NOW))
    node.join("db")
    others = {t for t in threading.enumerate() if t.name == "heartbeat"}   # other tests'
    try:
        node.start(lambda: {"a"})
        node.start(lambda: set())
        beating = [t for t in threading.enumerate() if t.name == "heartbeat"
                   and t.is_alive() and t not in others]
        assert len(beating) == 1
        assert node._sources() == set()
    finally:
        node.leave()
        store.close()
