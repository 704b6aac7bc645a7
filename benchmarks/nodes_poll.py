"""Nodes sharing the work: the time for 1 or 2 `monitor run` nodes on one PostgreSQL database
to poll every feed of a local farm.

    python benchmarks/nodes_poll.py --feeds 10000 --nodes 1,2 [--postgres URL]
    python benchmarks/nodes_poll.py --feeds 10000 --nodes 1 --sqlite

The farm is benchmarks/poll.py's (its own process, feeds spread over loopback hosts
127.0.0.2 ..., 0 ms latency). For each node count, a new database (dropped after), the nodes
started together (`monitor run`, one process each, the same config), and two cycles:

- first: from the nodes' start until every source has been polled once (every feed new);
- unchanged: every source made due at once (its next poll time set to now, in SQL), until
  every source has been polled again (the farm answers 304 to the nodes' ETags).

With --sqlite, one node on a SQLite file of the run's temporary folder, the same way.

Printed per run: the wall time of each cycle, the polls each node made (its log's poll
lines), each node's CPU time (its process and its workers) and the peak memory of each of
its processes (the node's first, then its workers'; from /proc), the most connections the
nodes held to their database at once (pg_stat_activity, sampled every 0.25 s), and the load
average at the end. On a machine of 2 cores the
PostgreSQL server and the farm share the cores with the nodes: say so with the figures.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.nodes_chaos import POSTGRES_ENV, Database, scratch_database  # noqa: E402
from benchmarks.poll import (  # noqa: E402
    cpu_seconds,
    descendants,
    feed_url,
    memory_mb,
    run_farm,
)

REPO = Path(__file__).resolve().parents[1]


def write_config(path: Path, database: str, feeds: int, hosts: int) -> None:
    sources = "".join(f'[[sources]]\nname = "feed {i}"\nurl = "{feed_url(i, hosts)}"\n'
                      for i in range(feeds))
    path.write_text(f"""[monitor]
database = "{database}"
poll_interval = "6h"
max_concurrency = 32
max_per_host = 4
min_host_interval = "0s"
fetch_deadline = "10s"
fetch_articles = "never"

[[topics]]
name = "taliban-recognition"
event = "recognition"

{sources}""", encoding="utf-8")


class Postgres:
    """The nodes' PostgreSQL database, read (and made due) from outside."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)

    def now(self) -> str:
        return str(self.db._rows("SELECT clock_timestamp()::text")[0][0])

    def polled_since(self, since: str) -> int:
        rows = self.db._rows("SELECT COUNT(*) FROM sources WHERE last_fetch_at >= "
                             "%s::timestamptz", (since,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def make_all_due(self) -> None:
        self.db._rows("UPDATE sources SET next_poll_at = clock_timestamp() RETURNING 1")

    def connections(self) -> int:
        """The nodes' connections to their database now (this reading's own left out)."""
        rows = self.db._rows("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s "
                             "AND pid <> pg_backend_pid()", (self.db.name,))
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]


class Sqlite:
    """The one node's SQLite file, read (and made due) from outside: times are stored as
    ISO text in UTC, which compares as text."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _one(self, sql: str, params: tuple[object, ...] = ()) -> int:
        with sqlite3.connect(self.path, timeout=30) as db:
            row = db.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def now(self) -> str:
        return datetime.now(UTC).isoformat()

    def polled_since(self, since: str) -> int:
        if not Path(self.path).exists():
            return 0
        try:
            return self._one("SELECT COUNT(*) FROM sources WHERE last_fetch_at >= ?", (since,))
        except sqlite3.OperationalError:    # the schema is not there yet
            return 0

    def make_all_due(self) -> None:
        self._one("UPDATE sources SET next_poll_at = ? RETURNING 1", (self.now(),))

    def connections(self) -> int:
        return 0


def proc_figures(pid: int) -> tuple[float, list[float]]:
    """(CPU seconds of a node's process and its workers, the peak RSS in MB of each of
    those processes, the node's first)."""
    pids = [pid, *descendants(pid, set())]
    return sum(cpu_seconds(p) for p in pids), [memory_mb(p) for p in pids]


def wait_all(db: Postgres | Sqlite, since: str, feeds: int, timeout: float,
             peak: list[int]) -> float:
    """Seconds until every source was polled after ``since``; ``peak[0]`` becomes the
    most connections seen meanwhile."""
    started = time.monotonic()
    while db.polled_since(since) < feeds:
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"only {db.polled_since(since)} of {feeds} polled")
        peak[0] = max(peak[0], db.connections())
        time.sleep(0.25)
    return time.monotonic() - started


@contextmanager
def database(server: str | None, folder: Path) -> Iterator[tuple[str, Postgres | Sqlite]]:
    """A new PostgreSQL database on ``server`` (dropped after), or a SQLite file in
    ``folder`` when ``server`` is None: its URL or path, and its reader."""
    if server is None:
        path = str(folder / f"nodes-{uuid.uuid4().hex[:8]}.db")
        yield path, Sqlite(path)
        return
    with scratch_database(server) as url:
        yield url, Postgres(url)


def run(nodes: int, feeds: int, hosts: int, server: str | None, folder: Path) -> None:
    with database(server, folder) as (url, db):
        config = folder / f"nodes-{nodes}.toml"
        write_config(config, url, feeds, hosts)
        logs = [folder / f"nodes-{nodes}-{i}.log" for i in range(nodes)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The schema first, so that the nodes' start is not a race of migrations.
        subprocess.run([sys.executable, "-m", "monitor", "db", "check", "-c", str(config)],
                       cwd=REPO, capture_output=True, check=False)
        since = db.now()
        processes = [subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c",
                                       str(config)], cwd=REPO, env=env,
                                      stdout=log.open("wb"), stderr=subprocess.STDOUT)
                     for log in logs]
        peak = [0]
        try:
            first = wait_all(db, since, feeds, 1800, peak)
            polls_first = [log.read_text().count("poll source=") for log in logs]
            since = db.now()
            db.make_all_due()
            again = wait_all(db, since, feeds, 1800, peak)
            polls = [log.read_text().count("poll source=") for log in logs]
            figures = [proc_figures(p.pid) for p in processes]
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(60)
        share = " + ".join(str(n) for n in polls_first)
        share_again = " + ".join(str(b - a) for a, b in zip(polls_first, polls, strict=True))
        cpu = ", ".join(f"{c:.1f} s" for c, _ in figures)
        rss = "; ".join("/".join(f"{m:.0f}" for m in peaks) + " MB" for _, peaks in figures)
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"| {nodes} | {feeds} | {first:.1f} s ({share}) | {again:.1f} s ({share_again}) "
              f"| {cpu} | {rss} | {peak[0]} | {load} |", flush=True)
        for log in logs:   # a farm's poll never fails: any warning is the nodes' own trouble
            troubles = [line for line in log.read_text().splitlines()
                        if " WARNING " in line or " ERROR " in line]
            if troubles:
                print(f"  {log.name}: {len(troubles)} warnings or errors, the first: "
                      f"{troubles[0][:300]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=250)
    parser.add_argument("--nodes", default="1,2")
    parser.add_argument("--postgres", default=os.environ.get(POSTGRES_ENV))
    parser.add_argument("--sqlite", action="store_true",
                        help="one node on a SQLite file instead (--nodes 1)")
    args = parser.parse_args(argv)
    if args.sqlite:
        args.postgres = None
        if args.nodes != "1":
            parser.error("--sqlite: one node only (--nodes 1): a SQLite file has one writer")
    elif not args.postgres:
        parser.error(f"give --postgres URL or set {POSTGRES_ENV}, or --sqlite")
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    farm = multiprocessing.Process(target=run_farm, args=(args.feeds, args.hosts, 0.0, 0.0,
                                                          ready, stop), daemon=True)
    farm.start()
    ready.wait(120)
    print("| nodes | feeds | first cycle (polls per node) | unchanged cycle (polls per node) "
          "| CPU per node (both cycles) | peak RSS per node | most connections | load after "
          "|\n| --- | --- | --- | --- | --- | --- | --- | --- |", flush=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            for nodes in (int(n) for n in args.nodes.split(",")):
                run(nodes, args.feeds, args.hosts, args.postgres, Path(folder))
    finally:
        stop.set()
        farm.join(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
