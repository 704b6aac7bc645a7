"""Faults among nodes: two `monitor run` on one PostgreSQL database, one killed at random.

    python benchmarks/nodes_chaos.py [--kills 30] [--terminations 30] [--seed 7]
                                     [--postgres URL] [--only kills,terminate] [--keep DIR]
    python benchmarks/nodes_chaos.py --only restart [--restarts 5]
                                     [--restart-command "pg_ctlcluster 15 main restart"]

Run it from the repository root with a PostgreSQL server (``--postgres``, else
``$MONITOR_TEST_POSTGRES_URL``, e.g. postgresql://postgres@127.0.0.1:5432/postgres): each
scenario creates a database of its own and drops it at the end. Two nodes (two `monitor run`
child processes, the same config) poll a farm of loopback RSS feeds that keeps gaining
recognition stories, and send each story to a loopback JSON webhook at once. Then:

- kills: one of the two nodes, drawn at random, is SIGKILLed at a random moment (0.3-3 s
  after both run) and started again at once, ``--kills`` times;
- terminate: every connection of the nodes to the database is killed with
  ``pg_terminate_backend`` at a random moment, ``--terminations`` times, the nodes running on;
- restart (not in the default ``--only``): the PostgreSQL server itself restarted
  (``--restart-command``, run as is: it needs the rights to restart the server, and every
  other client of that server loses its connections too) at a random moment, ``--restarts``
  times, the nodes running on. After each restart the harness waits until a poll whose
  fetch began after the server is back is committed, and prints those times (restart
  command, then polls resumed); the longest a source may wait grows by the longest
  restart. A longer outage: ``--restart-command "sh -c 'pg_ctlcluster 15 main stop &&
  sleep 40 && pg_ctlcluster 15 main start'"``.

Once the stories are all published and the faults over, the nodes run until every story
reached the webhook and nothing is left to send, and are stopped with SIGTERM. Printed per
scenario: stories delivered, lost, repeated (inside the documented window: the same delivery
id as the first copy; outside it: another id), polls of one source by two nodes at once,
the longest a source waited between two polls against the bound lease_timeout + its
interval (+10% jitter) + a tick, the time a killed node's sources waited to be taken over,
and how the nodes ended.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shlex
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.farm import (  # noqa: E402
    STATES,
    WORDINGS,
    DaemonProcess,
    FeedFarm,
    Tally,
    WebhookSink,
    story_titles,
    tally,
    wait_until,
)
from tests.loopback import RecordedRequest, Response  # noqa: E402

TICK = 2.0                 # the daemon's tick (monitor.scheduler.TICK_SECONDS)
POSTGRES_ENV = "MONITOR_TEST_POSTGRES_URL"


# -- the database ---------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new database on ``server`` (a postgresql:// URL of any database there), dropped
    afterwards even while connections remain; its URL."""
    import psycopg

    name = f"monitor_chaos_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(server)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Database:
    """Reads of the nodes' database from outside, on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = urlsplit(url).path.lstrip("/")

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
                return list(db.execute(sql, params).fetchall())
        except psycopg.Error:
            return []

    def node_ids(self, pid: int) -> list[str]:
        return [str(r[0]) for r in self._rows("SELECT id FROM nodes WHERE pid = %s", (pid,))]

    def leased_by(self, pid: int) -> dict[str, float]:
        """The sources the node of this process holds now, each with the seconds its lease
        has left."""
        return {str(r[0]): float(r[1]) for r in self._rows(  # type: ignore[arg-type]
            "SELECT s.name, EXTRACT(EPOCH FROM s.lease_until - clock_timestamp()) "
            "FROM sources s JOIN nodes n ON n.id = s.lease_owner "
            "WHERE n.pid = %s AND s.lease_until > clock_timestamp()", (pid,))}

    def leases(self) -> int:
        """How many source leases any node holds now."""
        rows = self._rows("SELECT COUNT(*) FROM sources WHERE lease_owner IS NOT NULL")
        return int(rows[0][0]) if rows else -1  # type: ignore[call-overload]

    def settled(self) -> bool:
        """Nothing left to send: every outbox row in a digest, every digest final."""
        rows = self._rows(
            "SELECT (SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'sending', "
            "'failed')) + (SELECT COUNT(*) FROM outbox WHERE delivery_id IS NULL)")
        return bool(rows) and rows[0][0] == 0

    def server_now(self) -> datetime | None:
        rows = self._rows("SELECT clock_timestamp()")
        return rows[0][0] if rows else None  # type: ignore[return-value]

    def polled_since(self, at: datetime) -> int:
        """How many sources have a poll recorded whose fetch began after ``at``."""
        rows = self._rows("SELECT COUNT(*) FROM sources WHERE last_fetch_at > %s", (at,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def terminate(self) -> int:
        """Kill every connection to the database but this one; how many."""
        rows = self._rows("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                          "WHERE datname = %s AND pid <> pg_backend_pid()", (self.name,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


# -- the farm, which remembers each poll ------------------------------------------


@dataclass(frozen=True)
class Poll:
    feed: int
    started: float
    ended: float


class RecordingFarm(FeedFarm):
    """Feeds whose every request is kept (feed, start, end) to tell overlaps and gaps; each
    answer waits a random 0 to ``slowest`` seconds, so that polls are in flight when a
    node dies."""

    def __init__(self, feeds: int, slowest: float, seed: int) -> None:
        super().__init__(feeds)
        self.polls: list[Poll] = []
        self.slowest = slowest
        self._rng = random.Random(seed)
        for index in range(feeds):
            self.server.route(f"/feed-{index}.rss",
                              lambda request, index=index: self._recorded(index, request))

    def _recorded(self, index: int, request: RecordedRequest) -> Response:
        started = time.monotonic()
        with self._lock:
            delay = self._rng.uniform(0.0, self.slowest)
        time.sleep(delay)
        try:
            return self._serve(index, request)
        finally:
            with self._lock:
                self.polls.append(Poll(index, started, time.monotonic()))

    def polls_of(self, feed: int, after: float) -> list[Poll]:
        with self._lock:
            return sorted((p for p in self.polls if p.feed == feed and p.started > after),
                          key=lambda p: p.started)

    def feed_of(self, source: str) -> int:
        return int(source.rsplit(" ", 1)[1])


def overlapping(polls: list[Poll]) -> list[tuple[Poll, Poll]]:
    """PURE: the polls of a feed that began before the previous poll of that feed ended,
    each with the poll it overlapped."""
    found = []
    by_feed: dict[int, list[Poll]] = {}
    for poll in polls:
        by_feed.setdefault(poll.feed, []).append(poll)
    for feed_polls in by_feed.values():
        feed_polls.sort(key=lambda p: p.started)
        latest = None
        for poll in feed_polls:
            if latest is not None and poll.started < latest.ended:
                found.append((latest, poll))
            if latest is None or poll.ended > latest.ended:
                latest = poll
    return found


def overlaps(polls: list[Poll]) -> int:
    """PURE: how many polls of a feed began before the previous poll of that feed ended."""
    return len(overlapping(polls))


def longest_waits(polls: list[Poll], since: float, until: float) -> dict[int, float]:
    """PURE: per feed, the longest time between two poll starts within [since, until]
    (the end counted as a poll, so a feed left unpolled at the end counts too)."""
    starts: dict[int, list[float]] = {}
    for poll in polls:
        starts.setdefault(poll.feed, []).append(poll.started)
    waits = {}
    for feed, times in starts.items():
        inside = sorted(t for t in times if since <= t <= until) + [until]
        waits[feed] = max(b - a for a, b in zip(inside, inside[1:], strict=False)) \
            if len(inside) > 1 else until - since
    return waits


# -- one scenario -------------------------------------------------------------------


@dataclass
class Outcome:
    fault: str
    webhook: Tally
    faults: int = 0
    overlapping_polls: int = 0
    polls: int = 0
    longest_wait: float = 0.0
    wait_bound: float = 0.0
    takeovers: list[float] = field(default_factory=list)   # seconds, per source held
    resumed: list[float] = field(default_factory=list)     # seconds, per server restart
    early_takeovers: int = 0  # polls of a killed node's source before its lease lapsed
    settled: bool = False
    exits: list[tuple[int, float]] = field(default_factory=list)
    crashed: int = 0          # node processes that ended on their own
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.webhook.lost == 0 and self.webhook.outside_window == 0
                and self.webhook.unexpected == 0 and self.overlapping_polls == 0
                and self.longest_wait <= self.wait_bound and self.settled
                and self.early_takeovers == 0 and all(t >= 0 for t in self.resumed)
                and self.crashed == 0 and all(status == 0 for status, _ in self.exits))


class Cluster:
    """Feed farm, webhook, two nodes on one database, and the stories published."""

    def __init__(self, workdir: Path, database: str, seed: int, *, feeds: int = 16,
                 lease_timeout: float = 5.0, interval: float = 3.0,
                 slowest_fetch: float = 1.0) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.db = Database(database)
        self.farm = RecordingFarm(feeds, slowest_fetch, seed + 1)
        self.hook = WebhookSink(seed + 2)
        self.hook.slow.low, self.hook.slow.high = 0.0, 0.3   # a send takes a moment
        self.lease_timeout, self.interval = lease_timeout, interval
        self.config = workdir / "monitor.toml"
        self.nodes = [DaemonProcess(self.config, workdir / f"node-{i}.log") for i in (0, 1)]
        self.titles = story_titles(len(STATES) * len(WORDINGS))
        self.rng.shuffle(self.titles)
        self.expected: list[str] = []
        self.crashed = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Cluster:
        self._stack.enter_context(self.farm)
        self._stack.enter_context(self.hook)
        sources = "".join(f'\n[[sources]]\nname = "Farm wire {i}"\nurl = "{url}"\n'
                          f'interval = "{self.interval:g}s"\n'
                          for i, url in enumerate(self.farm.urls()))
        self.config.write_text(f"""
[monitor]
database = "{self.db.url}"
min_host_interval = "0s"
max_per_host = 16
lease_timeout = "{self.lease_timeout:g}s"

[[topics]]
name = "taliban-recognition"
event = "recognition"
{sources}
[[notifiers]]
name = "ops-webhook"
type = "webhook"
url = "{self.hook.url}"
schedule = "immediate"
timeout = "10s"
""", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes:
            if node.running:
                node.kill()
        self._stack.close()

    def publish(self) -> None:
        """The next story, on one feed or (30%) on two."""
        title = self.titles[len(self.expected)]
        count = 2 if self.rng.random() < 0.3 else 1
        self.farm.publish(title, self.rng.sample(range(self.farm.count), count))
        self.expected.append(title)

    def start(self, index: int) -> None:
        node = self.nodes[index]
        node.start()
        assert node.process is not None
        pid = node.process.pid
        if not wait_until(lambda: bool(self.db.node_ids(pid)) or not node.running, 30.0,
                          interval=0.05) or not node.running:
            raise RuntimeError(f"node {index} did not join:\n{node.log_text()[-3000:]}")

    def check_alive(self) -> None:
        """A node that ended on its own (not by our signal) is a crash: count, restart."""
        for index, node in enumerate(self.nodes):
            if node.process is not None and not node.running:
                self.crashed += 1
                node._reap(1.0)
                self.start(index)

    def finish(self, outcome: Outcome, since: float, until: float, timeout: float) -> Outcome:
        """Let the nodes deliver everything, stop them, and count."""
        outcome.settled = wait_until(
            lambda: set(self.expected) <= {t for m in self.hook.snapshot() for t in m.titles}
            and self.db.settled(), timeout, interval=0.2)
        self.check_alive()
        outcome.crashed = self.crashed
        for node in self.nodes:
            try:
                outcome.exits.append(node.terminate(20.0))
            except TimeoutError as exc:
                outcome.notes.append(str(exc))
                outcome.exits.append((-9, 20.0))
        outcome.webhook = tally(self.expected, self.hook.snapshot())
        polls = list(self.farm.polls)
        outcome.polls = len(polls)
        pairs = overlapping(polls)
        outcome.overlapping_polls = len(pairs)
        outcome.notes.extend(
            f"feed {a.feed} polled at once: {a.started - since:.1f}-{a.ended - since:.1f} s "
            f"and {b.started - since:.1f}-{b.ended - since:.1f} s after the start"
            for a, b in pairs[:5])
        waits = longest_waits(polls, since, until)
        outcome.longest_wait = max(waits.values(), default=0.0)
        outcome.wait_bound = (self.lease_timeout + self.interval * 1.1 + TICK
                              + self.farm.slowest + 0.5)
        return outcome

    def takeovers(self, kills: list[tuple[float, dict[str, float]]]
                  ) -> tuple[list[float], int]:
        """For each source a killed node held, the time from the kill to its next poll; and
        how many of those polls began before the lease they were waiting for had lapsed
        (by more than 0.3 s: none should)."""
        waits, early = [], 0
        for killed_at, sources in kills:
            for source, left in sources.items():
                later = self.farm.polls_of(self.farm.feed_of(source), killed_at)
                if later:
                    waits.append(later[0].started - killed_at)
                    early += later[0].started < killed_at + left - 0.3
        return waits, early


def _publisher(cluster: Cluster, stories: int, every: float, stop: threading.Event) -> None:
    while len(cluster.expected) < stories and not stop.wait(every):
        cluster.publish()


def _under_faults(cluster: Cluster, outcome: Outcome, stories: int, every: float,
                  faults: Callable[[float], None], finish_timeout: float) -> Outcome:
    """Both nodes started, stories published every ``every`` seconds while ``faults(since)``
    runs, the rest published after; then the nodes run until every story is delivered."""
    for index in (0, 1):
        cluster.start(index)
    stop = threading.Event()
    publisher = threading.Thread(target=_publisher, args=(cluster, stories, every, stop))
    since = time.monotonic()
    publisher.start()
    try:
        faults(since)
        publisher.join()
    finally:
        stop.set()
        publisher.join()
    until = time.monotonic()
    while len(cluster.expected) < stories:
        cluster.publish()
    return cluster.finish(outcome, since, until, finish_timeout)


def run_kills(workdir: Path, database: str, kills: int, seed: int = 7, *,
              lease_timeout: float = 5.0, stories: int = 120,
              finish_timeout: float = 120.0) -> Outcome:
    """SIGKILL one of the two nodes at random moments, ``kills`` times, restarting it."""
    with Cluster(workdir, database, seed, lease_timeout=lease_timeout) as cluster:
        rng = cluster.rng
        killed: list[tuple[float, dict[str, float]]] = []

        def kill(_since: float) -> None:
            for _ in range(kills):
                time.sleep(rng.uniform(0.3, 3.0))
                cluster.check_alive()
                index = rng.randrange(2)
                node = cluster.nodes[index]
                assert node.process is not None
                pid = node.process.pid
                node.kill()
                killed_at = time.monotonic()
                # Read once the node is dead: its leases can no longer be renewed, nor
                # released by a poll it commits (read before the kill, a lease released
                # meanwhile, and its source polled by the other node, counted as early).
                # The time each has left runs from the query, a moment after killed_at: a
                # lapse reckoned from killed_at comes that moment early, and the check is
                # as much more lenient (milliseconds; more on a loaded server).
                killed.append((killed_at, cluster.db.leased_by(pid)))
                cluster.start(index)       # back at once; the other node never stopped

        every = max(0.05, kills * 2.2 / stories)     # published while the faults go on
        outcome = _under_faults(cluster, Outcome(f"SIGKILL x{kills}", tally([], [])),
                                stories, every, kill, finish_timeout)
        outcome.faults = len(killed)
        outcome.takeovers, outcome.early_takeovers = cluster.takeovers(killed)
        outcome.notes.append(f"{sum(len(h) for _, h in killed)} source leases held by the "
                             f"killed nodes at their kills; lease_timeout {lease_timeout:g}s")
        return outcome


def run_terminations(workdir: Path, database: str, terminations: int, seed: int = 11, *,
                     lease_timeout: float = 5.0, stories: int = 60,
                     finish_timeout: float = 120.0) -> Outcome:
    """Kill every connection of the nodes (pg_terminate_backend) at random moments."""
    with Cluster(workdir, database, seed, lease_timeout=lease_timeout) as cluster:
        killed: list[int] = []

        def terminate(_since: float) -> None:
            for _ in range(terminations):
                time.sleep(cluster.rng.uniform(0.2, 2.4))
                killed.append(cluster.db.terminate())

        every = max(0.05, terminations * 1.3 / stories)
        outcome = _under_faults(
            cluster, Outcome(f"pg_terminate_backend x{terminations}", tally([], [])),
            stories, every, terminate, finish_timeout)
        outcome.faults = terminations
        outcome.notes.append(f"{sum(killed)} connections killed in all")
        return outcome


def restart_server(command: str, db: Database, timeout: float = 60.0) -> tuple[float, float]:
    """Restart the server with ``command``; (the command's seconds, seconds from its end
    until a poll whose fetch began after the server was back was committed, -1 past
    ``timeout``)."""
    started = time.monotonic()
    subprocess.run(shlex.split(command), check=True, capture_output=True, timeout=120)
    ended = time.monotonic()
    back: list[datetime] = []

    def resumed() -> bool:
        if not back:
            now = db.server_now()
            back.extend([now] if now is not None else [])
            return False
        return db.polled_since(back[0]) > 0

    done = wait_until(resumed, timeout, interval=0.1)
    return ended - started, (time.monotonic() - ended) if done else -1.0


def run_restarts(workdir: Path, database: str, restarts: int, command: str, seed: int = 13,
                 *, lease_timeout: float = 5.0, stories: int = 40,
                 finish_timeout: float = 180.0) -> Outcome:
    """Restart the PostgreSQL server at random moments, the nodes running on."""
    with Cluster(workdir, database, seed, lease_timeout=lease_timeout) as cluster:
        commands: list[float] = []
        outcome = Outcome(f"server restart x{restarts}", tally([], []))

        def restart(since: float) -> None:
            for _ in range(restarts):
                time.sleep(cluster.rng.uniform(0.5, 4.0))
                outcome.notes.append(f"restart at {time.monotonic() - since:.1f} s")
                took, resumed = restart_server(command, cluster.db)
                commands.append(took)
                outcome.resumed.append(resumed)
                cluster.check_alive()

        every = max(0.05, restarts * 6.0 / stories)
        outcome = _under_faults(cluster, outcome, stories, every, restart, finish_timeout)
        outcome.faults = restarts
        outcome.wait_bound += max(commands, default=0.0)   # nothing is polled meanwhile
        outcome.notes.append(
            f"`{command}` took " + ", ".join(f"{t:.1f}" for t in commands) + " s; polls "
            "resumed (a poll fetched after the server was back, committed) "
            + ", ".join(f"{t:.1f}" if t >= 0 else "never" for t in outcome.resumed)
            + " s after it")
        return outcome


# -- the report ---------------------------------------------------------------------


def row(outcome: Outcome) -> str:
    hook = outcome.webhook
    takeover = (f"{statistics.median(outcome.takeovers):.1f} / {max(outcome.takeovers):.1f} s"
                f" ({len(outcome.takeovers)}, {outcome.early_takeovers} early)"
                if outcome.takeovers else "-")
    exits = ", ".join(f"{status} in {seconds:.1f}s" for status, seconds in outcome.exits)
    return (f"| {outcome.fault} | {hook.expected} | {hook.delivered} | {hook.lost} | "
            f"{hook.repeated} ({hook.outside_window}) | {outcome.overlapping_polls} of "
            f"{outcome.polls} | {outcome.longest_wait:.1f} s (bound {outcome.wait_bound:.1f} s) "
            f"| {takeover} | {outcome.crashed} | {exits} | {'ok' if outcome.ok else 'FAIL'} |")


HEADER = ("| fault | stories | delivered | lost | repeated (outside window) | "
          "polls at once | longest wait of a source | takeover median / max (sources, early) | "
          "nodes crashed | SIGTERM exits | verdict |\n" + "| --- " * 11 + "|")


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--terminations", type=int, default=30)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--restart-command", default="pg_ctlcluster 15 main restart",
                        help="restarts the server (scenario restart)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--lease-timeout", type=float, default=5.0)
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_ENV))
    parser.add_argument("--only", default="kills,terminate")
    parser.add_argument("--keep", type=Path, help="keep the nodes' logs here")
    args = parser.parse_args(argv)
    if not args.postgres:
        parser.error(f"give --postgres URL or set {POSTGRES_ENV}")
    only = set(args.only.split(","))
    outcomes = []
    with contextlib.ExitStack() as stack:
        import tempfile

        base = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if "kills" in only:
            with scratch_database(args.postgres) as url:
                outcomes.append(run_kills(base / "kills", url, args.kills, args.seed,
                                          lease_timeout=args.lease_timeout))
                print(row(outcomes[-1]), flush=True)
        if "terminate" in only:
            with scratch_database(args.postgres) as url:
                outcomes.append(run_terminations(base / "terminate", url, args.terminations,
                                                 args.seed + 4,
                                                 lease_timeout=args.lease_timeout))
                print(row(outcomes[-1]), flush=True)
        if "restart" in only:
            with scratch_database(args.postgres) as url:
                outcomes.append(run_restarts(base / "restart", url, args.restarts,
                                             args.restart_command, args.seed + 6,
                                             lease_timeout=args.lease_timeout))
                print(row(outcomes[-1]), flush=True)
    print()
    print(HEADER)
    for outcome in outcomes:
        print(row(outcome))
        for note in outcome.notes:
            print(f"  {outcome.fault}: {note}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
